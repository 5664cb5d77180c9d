"""``latent-explorer sample``: decode random latents to a .npy array or a .png grid."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import CLIError
from .flags import (add_class_flag, add_model_argument, add_open_flags, finite_floats, non_negative_int, positive_float,
                    positive_int, seed_int)
from .inputs import class_index, load_run


def add_parser(sub: Any) -> None:
    s = sub.add_parser("sample", help="decode random latents to a .npy array or a .png grid")
    add_model_argument(s)
    s.add_argument("--n", type=positive_int, default=64)
    s.add_argument("--out", required=True, type=Path, help="FILE.npy (float32 N x C x H x W in [0,1]) or FILE.png")
    s.add_argument("--seed", type=seed_int, default=0)
    s.add_argument("--truncation", type=positive_float, help="clamp |z| to this (GANs)")
    s.add_argument("--categorical", type=non_negative_int, help="InfoGAN: fix the categorical code to this value")
    s.add_argument("--continuous", type=finite_floats, help="InfoGAN: fix the continuous codes, e.g. 0.5,-1")
    add_class_flag(s, "class-conditional models (cvae, cgan): every sample of this class, by number (0 is the first) "
                      "or name (e.g. 7, or Trouser for Fashion-MNIST); default: classes drawn uniformly")
    add_open_flags(s)


def run(args: argparse.Namespace) -> int:
    import torch

    from models.explore.render import check_output_size
    from models.io.images import grid, save_png

    suffix = args.out.suffix.lower()
    if suffix not in (".npy", ".png"):
        raise CLIError(f"--out must end in .npy or .png, not {suffix or 'nothing'}")
    model = load_run(args).model
    check_output_size(args.n, model.config.image_shape, "samples")
    flat = _latents(model, args)
    with torch.no_grad():
        images = torch.cat([model.decode(flat[a : a + 500]) for a in range(0, args.n, 500)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        from models.foreign.arrays import write_npy

        write_npy(args.out, images.float().clamp(0, 1))
    else:
        save_png(grid(images), args.out)
    print(f"wrote {args.n} samples to {args.out}", file=sys.stderr)
    return 0


def _latents(model: Any, args: argparse.Namespace) -> Any:
    """``args.n`` latents from the prior, with InfoGAN's codes or a conditional model's class
    (its categorical code 0) fixed where the flags say."""
    import torch

    spec = model.latent_spec
    category = args.categorical
    if args.class_label is not None:
        if category is not None:
            raise CLIError("give --class or --categorical, not both (a class-conditional model's class is its code 0)")
        category = class_index(model, args.class_label)
    gen = torch.Generator().manual_seed(args.seed)
    flat = model.sample_latents(args.n, generator=gen, truncation=args.truncation)
    if category is None and args.continuous is None:
        return flat
    if not spec.categorical and category is not None:
        raise CLIError(f"{model.family} has no categorical code")
    if category is not None:
        if not 0 <= category < spec.categorical[0]:
            raise CLIError(f"--categorical must be in 0..{spec.categorical[0] - 1}")
        flat = spec.with_category(flat, 0, category)
    if args.continuous is not None:
        values = args.continuous
        if len(values) != spec.continuous:
            raise CLIError(f"{model.family} has {spec.continuous} continuous codes; --continuous gave {len(values)}")
        flat = flat.clone()
        flat[:, spec.input_dim - spec.continuous:] = torch.tensor(values)
    return flat
