"""``latent-explorer decode``: exact latents from a ``.npy`` file decoded to images in another.

How scripts and other tools talk to any model the app opens: ``--z`` holds float32
``N x d`` latents in the model's flat layout (``[z | one-hot codes | continuous codes]``),
``--out`` gets float32 ``N x C x H x W`` images in [0, 1]. Everything is checked before
the model runs (the shape, the latent size, NaN), and the output is written atomically at
the end, so a refused input leaves no file behind. ``--class K`` sets a class-conditional
model's class (categorical code 0) in every latent, whatever the file holds there.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .flags import add_class_flag, add_device_flag, add_model_argument, add_open_flags
from .inputs import class_index, load_run
from .npy import check_npy_out, write_npy_out


def add_parser(sub: Any) -> None:
    d = sub.add_parser("decode", help="decode latents from a .npy file (N x d) to images (N x C x H x W in [0, 1])")
    add_model_argument(d)
    d.add_argument("--z", required=True, type=Path, metavar="Z.npy",
                   help="float32 N x d latents in the model's flat layout (d: the model's latent size)")
    d.add_argument("--out", required=True, type=Path, metavar="X.npy",
                   help="where to write the images: float32 N x C x H x W in [0, 1]")
    add_class_flag(d, "class-conditional models (cvae, cgan): decode every latent as this class (its one-hot "
                      "block overwritten), by number (0 is the first) or name")
    add_device_flag(d)
    add_open_flags(d)


def run(args: argparse.Namespace) -> int:
    from models.explore.render import check_output_size
    from models.foreign.arrays import check_latents, decode_array, read_npy

    check_npy_out(args.out, args.z)
    z = read_npy(args.z, "latents")
    model = load_run(args, args.device).model
    latents = check_latents(model, z, f"the latents in {args.z.name}")
    if args.class_label is not None:
        latents = model.latent_spec.with_category(latents, 0, class_index(model, args.class_label))
    check_output_size(len(latents), model.config.image_shape, "images")  # before any is decoded
    images = decode_array(model, latents)
    write_npy_out(args.out, images, "images")
    return 0
