"""``latent-explorer traverse``: a traversal grid, one row per latent dimension, or with
``--directions pca`` one row per principal direction (GANSpace-style, see
:mod:`models.explore.directions`), columns stepping along it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import CLIError
from .flags import add_image_out_flags, add_run_command, positive_float, positive_int, seed_int
from .inputs import load_model_data, load_run


def add_parser(sub: Any) -> None:
    v = add_run_command(sub, "traverse", help="a traversal grid: one row per latent dimension")
    v.add_argument("--dims", type=str, help="comma-separated dimensions (default: all; for a VAE whose dataset is at hand, "
                                             "ordered most active (highest KL) first)")
    v.add_argument("--data-dir", type=Path, help="where the training dataset is, to rank VAE dimensions by KL")
    v.add_argument("--directions", choices=("pca",), help="rows are the model's principal directions instead of "
                                                          "its dimensions: PCA of an early layer over sampled latents, "
                                                          "regressed back to latent directions (GANSpace)")
    v.add_argument("--components", type=positive_int, help="with --directions: how many rows, the top K components "
                                                            "(default 10; at most the z dimensions)")
    v.add_argument("--steps", type=positive_int, default=9, help="images per row")
    v.add_argument("--range", type=positive_float, help="sweep -R..R (default: the slider range; with --directions, "
                                                         "R standard deviations along each direction, default 3)")
    v.add_argument("--seed", type=seed_int, help="traverse around a random point (default: the origin; with "
                                                  "--directions, the sampled latents' mean)")
    add_image_out_flags(v, "FILE.png")


def run(args: argparse.Namespace) -> int:
    from models.explore import traversal

    if args.out.suffix.lower() != ".png":
        raise CLIError("--out must be a .png file")
    if args.directions is None and args.components is not None:
        raise CLIError("--components goes with --directions pca")
    if args.directions is not None and args.dims:
        raise CLIError("--dims and --directions choose the rows two ways; give one")
    ckpt = load_run(args)
    model = ckpt.model
    if args.directions is not None:
        return _directions_grid(model, args)
    dims = None
    if args.dims:
        try:
            dims = [int(d) for d in args.dims.split(",") if d.strip()]
        except ValueError:
            raise CLIError(f"--dims must be comma-separated integers, got {args.dims!r}") from None
    else:
        dims = _dims_by_kl(model, ckpt.train_state, args.data_dir)
    from models.explore.render import check_output_size

    spec = model.latent_spec
    rows = len(dims) if dims else (spec.categorical[0] if spec.categorical else spec.z_dim)
    check_output_size(rows * args.steps, model.config.image_shape, "traversal images")
    image = traversal.traversal_grid(model, dims=dims, steps=args.steps, value_range=args.range, seed=args.seed)
    from models.io.images import save_png

    save_png(image, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _dims_by_kl(model: Any, train_state: dict, data_dir: Path | None) -> list[int] | None:
    """Dims ordered by mean KL (most informative first) for a model that has a per-dimension
    KL, when its data is at hand offline; None (all dims in order) otherwise."""
    from models.metrics.kl import has_kl, kl_per_dimension
    from models.runs.opening import dataset_request

    if not has_kl(model) or not train_state.get("dataset"):
        return None
    try:
        data = load_model_data(model, dataset_request(model, train_state, data_dir=data_dir), no_download=True, quiet=True)
    except Exception:  # no data offline: fall back to the plain order rather than fail
        return None
    return [int(i) for i in kl_per_dimension(model, data.test).argsort(descending=True)]


def _directions_grid(model: Any, args: argparse.Namespace) -> int:
    """Rows: the top ``--components`` principal directions; columns: ``--steps`` offsets from
    -R to +R standard deviations around the ``--seed`` point or the latents' mean."""
    import torch

    from models.explore.directions import direction_latents, principal_directions
    from models.explore.render import check_output_size, decode_batched
    from models.io.images import grid, save_png

    spec = model.latent_spec
    rows = min(args.components or 10, spec.z_dim)
    check_output_size(rows * args.steps, model.config.image_shape, "traversal images")
    print(f"finding {rows} principal directions of {spec.z_dim} z dimensions…", file=sys.stderr)
    # the directions are the model's, whatever point --seed picks to sweep around
    directions = principal_directions(model, k=rows, seed=0)
    around = None
    if args.seed is not None:
        around = model.sample_latents(1, generator=torch.Generator().manual_seed(args.seed))[0]
    flat = direction_latents(directions, around, steps=args.steps, value_range=args.range or 3.0)
    save_png(grid(decode_batched(model, flat), ncol=args.steps), args.out)
    shares = ", ".join(f"{100 * r:.1f}%" for r in directions.explained_variance)
    print(f"{directions.source}; rows explain {shares} of its variance", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
