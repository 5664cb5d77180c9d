"""``latent-explorer export``: any model the app opens written as ONNX graphs and a manifest.

``--out DIR`` gets ``decoder.onnx``, ``encoder.onnx`` when the model has an encoder, and
``manifest.json`` (the format is in models.foreign.manifest); the folder opens again as
the same model, in this app or in any ONNX runtime. The engine checks the export before it
writes anything: the graphs, opened from memory, must reproduce the model's images (and
codes) within its tolerance, and the measured differences are printed.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import CLIError
from .flags import add_model_argument, add_open_flags
from .inputs import load_run

FORMATS = ("onnx",)


def add_parser(sub: Any) -> None:
    x = sub.add_parser("export", help="write a model as ONNX graphs and a manifest (a folder that opens again)")
    add_model_argument(x)
    x.add_argument("--format", choices=FORMATS, default="onnx", help="what to write (default: onnx)")
    x.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for decoder.onnx, encoder.onnx (when there is an encoder) and manifest.json")
    add_open_flags(x)


def run(args: argparse.Namespace) -> int:
    from models.foreign.errors import ONNX_INSTALL_HINT, onnx_available
    from models.foreign.export import TOLERANCE, export_onnx

    if not onnx_available():  # before the model is opened: nothing to do without them
        raise CLIError(f"exporting to ONNX needs the onnx and onnxruntime packages: {ONNX_INSTALL_HINT}")
    if args.out.exists() and not args.out.is_dir():
        raise CLIError(f"--out {args.out} is a file; give a folder (it is made if missing)")
    model = load_run(args, "cpu").model  # the exporter traces on the CPU
    result = export_onnx(model, args.out)
    for key in ("decoder", "encoder", "manifest"):
        if result.get(key) is not None:
            print(f"wrote {result[key]}")
    diffs = result["max_abs_diff"]
    measured = ", ".join(f"{k} {v:.2g}" for k, v in diffs.items() if v is not None)
    print(f"round trip: max abs difference {measured} (tolerance {TOLERANCE:g})")
    return 0

