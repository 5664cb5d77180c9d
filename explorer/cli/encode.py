"""``latent-explorer encode``: images from a ``.npy`` file mapped to the encoder's mean codes.

``--images`` holds float32 ``N x C x H x W`` images in [0, 1] (the model's image shape),
``--out`` gets float32 ``N x d`` codes in the model's flat latent layout, the ones
``decode`` takes. A model without an encoder (a GAN, a bare decoder) is refused before
anything is read, and nothing is written when the input is refused.

A class-conditional VAE (cvae) encodes each image with its class: ``--labels Y.npy`` (N
integer labels, one per image) or ``--class K`` (all of them); without either, each image
gets the class of highest ELBO. The codes' one-hot block holds the class used.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import CLIError
from .flags import add_class_flag, add_device_flag, add_model_argument, add_open_flags
from .inputs import class_index, class_names, load_run
from .npy import check_npy_out, write_npy_out


def add_parser(sub: Any) -> None:
    e = sub.add_parser("encode", help="encode images from a .npy file (N x C x H x W in [0, 1]) to mean codes (N x d)")
    add_model_argument(e)
    e.add_argument("--images", required=True, type=Path, metavar="X.npy",
                   help="float32 N x C x H x W images in [0, 1], of the model's image shape")
    e.add_argument("--out", required=True, type=Path, metavar="Z.npy",
                   help="where to write the encoder's mean codes: float32 N x d")
    labels = e.add_mutually_exclusive_group()
    labels.add_argument("--labels", type=Path, metavar="Y.npy",
                        help="a class-conditional VAE (cvae): each image's class, N integers (0 is the first class); "
                             "default: the class of highest ELBO")
    add_class_flag(labels, "a class-conditional VAE (cvae): encode every image as this class, by number or name")
    add_device_flag(e)
    add_open_flags(e)


def run(args: argparse.Namespace) -> int:
    from models.foreign.arrays import check_images, encode_array, read_npy
    from models.foreign.protocol import unavailable

    check_npy_out(args.out, args.images)
    if args.labels is not None:
        check_npy_out(args.out, args.labels)
    model = load_run(args, args.device).model
    why = unavailable(model, "encode")
    if why:
        raise CLIError(why)
    images = check_images(model, read_npy(args.images, "images"), f"the images in {args.images.name}")
    if args.labels is None and args.class_label is None:
        codes = encode_array(model, images)
    else:
        codes = encode_array(model, images, labels=_labels(model, args, len(images)))
    write_npy_out(args.out, codes, "codes")
    return 0


def _labels(model: Any, args: argparse.Namespace, n: int) -> Any:
    """The N class labels ``--labels`` or ``--class`` give (int64), checked against the model's classes."""
    import numpy as np
    import torch

    from models.foreign.arrays import read_npy

    if args.class_label is not None:
        return torch.full((n,), class_index(model, args.class_label), dtype=torch.long)
    k = len(class_names(model, "--labels"))
    y = read_npy(args.labels, "labels")
    what = f"the labels in {args.labels.name}"
    if y.ndim != 1 or len(y) != n:
        raise CLIError(f"{what} must be {n} integers, one per image; got an array of shape {tuple(y.shape)}")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise CLIError(f"{what} must be whole numbers (class 0 to {k - 1})")
    if n and (y.min() < 0 or y.max() >= k):
        raise CLIError(f"{what} run from {y.min():g} to {y.max():g}; this {model.family} has classes 0 to {k - 1}")
    return torch.from_numpy(y.astype(np.int64))
