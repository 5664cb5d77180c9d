"""``latent-explorer encode``: images from a ``.npy`` file mapped to the encoder's mean codes.

``--images`` holds float32 ``N x C x H x W`` images in [0, 1] (the model's image shape),
``--out`` gets float32 ``N x d`` codes in the model's flat latent layout, the ones
``decode`` takes. A model without an encoder (a GAN, a bare decoder) is refused before
anything is read, and nothing is written when the input is refused.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import CLIError
from .flags import add_device_flag, add_model_argument, add_open_flags
from .inputs import load_run
from .npy import check_npy_out, write_npy_out


def add_parser(sub: Any) -> None:
    e = sub.add_parser("encode", help="encode images from a .npy file (N x C x H x W in [0, 1]) to mean codes (N x d)")
    add_model_argument(e)
    e.add_argument("--images", required=True, type=Path, metavar="X.npy",
                   help="float32 N x C x H x W images in [0, 1], of the model's image shape")
    e.add_argument("--out", required=True, type=Path, metavar="Z.npy",
                   help="where to write the encoder's mean codes: float32 N x d")
    add_device_flag(e)
    add_open_flags(e)


def run(args: argparse.Namespace) -> int:
    from models.foreign.arrays import check_images, encode_array, read_npy
    from models.foreign.protocol import unavailable

    check_npy_out(args.out, args.images)
    model = load_run(args, args.device).model
    why = unavailable(model, "encode")
    if why:
        raise CLIError(why)
    images = check_images(model, read_npy(args.images, "images"), f"the images in {args.images.name}")
    codes = encode_array(model, images)
    write_npy_out(args.out, codes, "codes")
    return 0
