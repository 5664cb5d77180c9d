"""The questions the window asks about files: which one to open, where to save or export,
and whether to trust a file that runs code (a pickle, a Python adapter). Each returns the
answer (None: cancelled)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from models.foreign.manifest import MANIFEST_NAME
from models.foreign.open import OPENABLE_SUFFIXES
from models.runs.checkpoint import PICKLE_SUFFIXES

#: every suffix File > Open offers: what models.foreign.open opens, and the app's older pickle names
OPEN_SUFFIXES = tuple(dict.fromkeys((*OPENABLE_SUFFIXES, *PICKLE_SUFFIXES)))


def _globs(suffixes: tuple[str, ...]) -> str:
    """"*.safetensors *.onnx manifest.json ...": a JSON file opens only as an ONNX manifest."""
    return " ".join(MANIFEST_NAME if s == ".json" else f"*{s}" for s in suffixes)


#: the first filter takes every model; the others narrow it to one kind (folders: File > Open Folder)
OPEN_FILTER = ";;".join((
    f"Models ({_globs(OPEN_SUFFIXES)})",
    "Latent Explorer checkpoints and PyTorch state dicts (*.safetensors)",
    f"Pickle files: checkpoints, PyTorch state dicts; can run code ({_globs(PICKLE_SUFFIXES)})",
    f"ONNX models (*.onnx {MANIFEST_NAME})",
    "Python adapter files: run their code (*.py)",
    "All files (*)",
))


def confirm_untrusted(parent: QWidget, path: Path) -> bool:
    """Ask before unpickling."""
    answer = QMessageBox.warning(
        parent, "Open a pickle file?",
        f"{path.name} is a pickle-based file. Opening it can run code: only open files you trust.\n\n"
        "It will be read with torch.load(weights_only=True).",
        QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Open


def confirm_code(parent: QWidget, path: Path) -> bool:
    """Ask before running a Python adapter file (its load() builds the model)."""
    answer = QMessageBox.warning(
        parent, "Run this Python file?",
        f"{path.name} is a Python adapter file: opening it runs its Python code, with your permissions, "
        "to build the model. Only open files you wrote or trust.\n\n"
        "Nothing of it runs if you cancel.",
        QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Open


def ask_model_to_open(parent: QWidget, start_dir: Path) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open a model", str(start_dir), OPEN_FILTER)
    return path or None


def ask_run_folder(parent: QWidget, start_dir: Path) -> str | None:
    path = QFileDialog.getExistingDirectory(parent, "Open a run folder or a folder with an ONNX manifest.json",
                                            str(start_dir))
    return path or None


def ask_checkpoint_path(parent: QWidget, suggested: Path) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Save model as", str(suggested), "Checkpoints (*.safetensors)")
    return path or None


def ask_png_path(parent: QWidget, suggested: Path) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Export image", str(suggested), "PNG images (*.png)")
    return path or None


def ask_export_folder(parent: QWidget, start_dir: Path) -> str | None:
    """The folder an ONNX export is written into (decoder.onnx, encoder.onnx, manifest.json)."""
    path = QFileDialog.getExistingDirectory(
        parent, "Export the model as ONNX into a folder (decoder.onnx, encoder.onnx, manifest.json)", str(start_dir))
    return path or None
