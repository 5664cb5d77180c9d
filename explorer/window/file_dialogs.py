"""The questions the window asks about files: which one to open, where to save, and
whether to trust a pickle. Each returns the answer (None: cancelled)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

OPEN_FILTER = ("Checkpoints (*.safetensors);;Pickle checkpoints — can run code (*.pt *.pth *.ckpt *.pkl *.bin);;"
               "All files (*)")


def confirm_untrusted(parent: QWidget, path: Path) -> bool:
    """Ask before unpickling."""
    answer = QMessageBox.warning(
        parent, "Open a pickle file?",
        f"{path.name} is a pickle-based file. Opening it can run code: only open files you trust.\n\n"
        "It will be read with torch.load(weights_only=True).",
        QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Open


def ask_model_to_open(parent: QWidget, start_dir: Path) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open a model", str(start_dir), OPEN_FILTER)
    return path or None


def ask_run_folder(parent: QWidget, start_dir: Path) -> str | None:
    path = QFileDialog.getExistingDirectory(parent, "Open a run folder", str(start_dir))
    return path or None


def ask_checkpoint_path(parent: QWidget, suggested: Path) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Save model as", str(suggested), "Checkpoints (*.safetensors)")
    return path or None


def ask_png_path(parent: QWidget, suggested: Path) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Export image", str(suggested), "PNG images (*.png)")
    return path or None
