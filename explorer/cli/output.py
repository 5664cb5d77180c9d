"""Results on stdout: figures for a person, or values made fit for ``json.dumps``."""
from __future__ import annotations

from typing import Any


def print_readable(result: dict, prefix: str = "") -> None:
    """eval's figures for a person: floats to 4 significant digits, nested ones indented."""
    def show(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, list):
            return "[" + ", ".join(show(x) for x in v) + "]"
        return str(v)

    for k, v in result.items():
        if isinstance(v, dict):
            print(f"{prefix}{k}:")
            print_readable(v, prefix + "    ")
        else:
            print(f"{prefix}{k:>20}: {show(v)}")


def jsonable(obj: Any) -> Any:
    """``obj`` with tensors, arrays and numpy scalars turned into plain lists and numbers."""
    import numpy as np
    import torch

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.tolist())
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
