"""The one error every importer raises, and the check that the ONNX packages are there.

:class:`ForeignModelError` is a :class:`~models.runs.checkpoint_header.CheckpointError`, so
the code that already turns a bad checkpoint into one line (the CLI's error handler, the
window's error contract) shows a refused foreign model the same way. Its message starts
with the file's name, like :class:`~models.io.files.FileRefused`'s, so it fits a status bar.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

from models.runs.checkpoint_header import CheckpointError

#: what to run when the ONNX packages are missing (the window and the CLI show it)
ONNX_INSTALL_HINT = 'pip install "latent-explorer[onnx]"'


class ForeignModelError(CheckpointError):
    """A model file from elsewhere that cannot be opened; the message is ``"<name>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        path = Path(path)
        super().__init__(f"{path.name or path}: {reason}")
        self.path = path
        self.reason = reason


def onnx_available() -> bool:
    """Whether ``onnx`` and ``onnxruntime`` can be imported (without importing them twice)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def require_onnx(path: str | Path, doing: str = "opening ONNX models") -> tuple[ModuleType, ModuleType]:
    """``(onnx, onnxruntime)``, or ForeignModelError naming ``path`` and the install command."""
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise ForeignModelError(path, f"{doing} needs the onnx and onnxruntime packages ({e.name or e} is missing): "
                                      f"{ONNX_INSTALL_HINT}") from None
    return onnx, onnxruntime
