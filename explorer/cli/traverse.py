"""``latent-explorer traverse``: a traversal grid, one row per latent dimension, or with
``--directions pca`` one row per principal direction (GANSpace-style, see
:mod:`models.explore.directions`), columns stepping along it. A class-conditional model
also draws ``--rows classes``: one row per class, the columns sweeping one z dimension
(:func:`models.explore.traversal.class_traversal_grid`, the figure the window's
"Classes × z dimension" shows)."""
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
                                             "ordered most active (highest KL) first); with --rows classes, "
                                             "the one dimension the columns sweep (default: the most influential)")
    v.add_argument("--rows", choices=("dims", "classes"), default="dims",
                   help="what each row shows: a latent dimension (default), or for a class-conditional model "
                        "(cvae, cgan) one class each, named as its dataset names them")
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
    if args.rows == "classes" and args.directions is not None:
        raise CLIError("--rows classes sweeps a z dimension (--dims D); it does not take --directions")
    ckpt = load_run(args)
    model = ckpt.model
    if args.rows == "classes":
        return _classes_grid(model, args)
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


def _classes_grid(model: Any, args: argparse.Namespace) -> int:
    """Rows: the classes of a class-conditional model; columns: ``--steps`` values of one z
    dimension (``--dims D``, else the most influential) around the ``--seed`` point or the origin."""
    import torch

    from models.explore import traversal
    from models.explore.render import check_output_size
    from models.io.images import save_png

    spec = model.latent_spec
    if not spec.conditional:
        also = " (its categorical code is one it found, not a class: its default traversal shows it)" * bool(spec.categorical)
        raise CLIError(f"--rows classes needs a class-conditional model (cvae, cgan); {model.family} has no "
                       f"class label{also}")
    dim = None
    if args.dims:
        try:
            dims = [int(d) for d in args.dims.split(",") if d.strip()]
        except ValueError:
            raise CLIError(f"--dims must be one integer with --rows classes, got {args.dims!r}") from None
        if len(dims) != 1:
            raise CLIError(f"--rows classes sweeps one dimension; --dims gives {len(dims)}")
        dim = dims[0]
        if not 0 <= dim < spec.z_dim:
            raise CLIError(f"dimension {dim} is out of range: this {model.family} model has z dims 0..{spec.z_dim - 1}")
    rows = traversal.class_rows(spec)  # the first MAX_CLASS_ROWS classes of a model of very many
    check_output_size(len(rows) * args.steps, model.config.image_shape, "traversal images")
    around = None
    if args.seed is not None:
        around = model.sample_latents(1, generator=torch.Generator().manual_seed(args.seed))[0]
    chosen = "" if dim is not None else " (the most influential)"
    if dim is None:
        dim = traversal.most_influential_dim(model, args.range, around)
    image = traversal.class_traversal_grid(model, dim=dim, steps=args.steps, value_range=args.range, around=around)
    save_png(image, args.out)
    of = f" (the first {len(rows)} of {spec.categorical[0]})" if len(rows) < spec.categorical[0] else ""
    print(f"rows: {', '.join(spec.class_names[c] for c in rows)}{of}; columns: z{dim}{chosen}", file=sys.stderr)
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
