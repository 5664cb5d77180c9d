"""What ``decode`` and ``encode`` share about their ``.npy`` files: the output's checks
(before the model is opened, so a mistyped name costs nothing) and the write that ends
each command, with its one line saying what went where."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import CLIError


def check_npy_out(out: Path, source: Path) -> None:
    """Refuse an ``--out`` that is not a ``.npy`` file's name, is a folder, or is the input itself."""
    if out.suffix.lower() != ".npy":
        raise CLIError(f"--out must end in .npy, not {out.suffix or 'nothing'}")
    if out.is_dir():
        raise CLIError(f"--out {out} is a folder; give a file name ending in .npy")
    try:
        same = out.exists() and out.resolve() == Path(source).resolve()
    except OSError:
        same = False
    if same:
        raise CLIError(f"--out {out} is the input file; write the result elsewhere")


def dims(shape: Iterable[int]) -> str:
    """``(4, 1, 28, 28)`` -> ``"4 x 1 x 28 x 28"``."""
    return " x ".join(str(int(s)) for s in shape)


def write_npy_out(out: Path, array: Any, noun: str) -> None:
    """Write ``array`` (N x ...) to ``out`` atomically as float32 and say so on stderr."""
    from models.foreign.arrays import write_npy

    write_npy(out, array)  # makes out's folder
    print(f"wrote {len(array)} {noun} ({dims(array.shape)}) to {out}", file=sys.stderr)
