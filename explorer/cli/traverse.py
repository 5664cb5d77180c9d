"""``latent-explorer traverse``: a traversal grid, one row per latent dimension."""
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
    v.add_argument("--steps", type=positive_int, default=9, help="images per row")
    v.add_argument("--range", type=positive_float, help="sweep -R..R (default: the slider range)")
    v.add_argument("--seed", type=seed_int, help="traverse around a random point (default: the origin)")
    add_image_out_flags(v, "FILE.png")


def run(args: argparse.Namespace) -> int:
    from models.explore import traversal

    ckpt = load_run(args)
    model = ckpt.model
    dims = None
    if args.dims:
        try:
            dims = [int(d) for d in args.dims.split(",") if d.strip()]
        except ValueError:
            raise CLIError(f"--dims must be comma-separated integers, got {args.dims!r}") from None
    else:
        dims = _dims_by_kl(model, ckpt.train_state, args.data_dir)
    if args.out.suffix.lower() != ".png":
        raise CLIError("--out must be a .png file")
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
