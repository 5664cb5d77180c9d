"""Help menu dialogs: the keyboard shortcuts and "About" (versions, device, folders).

Both are built from live state rather than written out by hand: the shortcut table reads
the window's actions, so it cannot drift from what the keys really do, and "About" shows
what a bug report needs (versions, the device training would use, where runs, settings
and caches live) and which kinds of model file open (``models.foreign.open.FORMATS``),
with the command that installs ONNX support when it is missing.
"""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from models.foreign.errors import ONNX_INSTALL_HINT, onnx_available
from models.foreign.open import FORMATS

from .. import settings

APP_NAME = "Latent Explorer"


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str, str]]:
    """(key, command, what it does) for every action with a shortcut, menu order kept."""
    rows = []
    for a in actions:
        key = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if key:
            rows.append((key, a.text().replace("&", ""), a.statusTip()))
    return rows


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _device_text() -> str:
    """The device training would pick; for the CPU its cores (the GUI process's torch
    thread count says nothing useful)."""
    from models.training.device import device_description, resolve_device

    device = resolve_device("auto")
    return f"CPU, no GPU found ({os.cpu_count() or '?'} cores)" if device.type == "cpu" else device_description(device)


def onnx_text() -> str:
    """The ONNX packages' versions, or how to install them."""
    if not onnx_available():
        return f"not installed: ONNX models neither open nor export; {ONNX_INSTALL_HINT} adds them"
    return f"onnx {_version('onnx')}, onnxruntime {_version('onnxruntime')}"


def formats_html() -> str:
    """Which model files open, as a list (About)."""
    items = "".join(f"<li>{f}</li>" for f in FORMATS)
    hint = "" if onnx_available() else f"<p>ONNX needs two more packages: <code>{ONNX_INSTALL_HINT}</code></p>"
    return f"<p><b>Opens</b> (File ▸ Open, drag and drop, Open Recent):</p><ul>{items}</ul>{hint}"


def about_facts() -> list[tuple[str, str]]:
    """What a bug report needs, as (label, value) rows."""
    import torch

    from models.io.cache import default_cache_dir

    home = settings.home_dir()
    pyside = _version("PySide6-Essentials")  # the wheel the project pins; else the full one
    return [
        ("Version", _version("latent-explorer")),
        ("Python", f"{platform.python_version()} ({sys.platform})"),
        ("PyTorch", torch.__version__),
        ("PySide6", pyside if pyside != "not installed" else _version("PySide6")),
        ("pyqtgraph", _version("pyqtgraph")),
        ("ONNX", onnx_text()),
        ("Training device", _device_text()),
        ("Runs folder", str(settings.runs_dir())),
        ("Data and classifier cache", str(default_cache_dir())),
        ("Settings", str(home / "settings.ini") if home is not None else settings.settings().fileName()),
    ]


class ShortcutsDialog(QDialog):
    """A table of the window's keyboard shortcuts (non-modal: it can stay open while you work)."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        rows = shortcut_rows(actions)
        self.table = QTableWidget(len(rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Key", "Command", "What it does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        note = QLabel("Single-key shortcuts (R, 0, Space, Esc) act anywhere in the window except while you type in a box.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(640, 440)


class AboutDialog(QDialog):
    """Versions, device and folders, with a button that copies them for a bug report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.facts = about_facts()
        title = QLabel(f"<h2>{APP_NAME}</h2><p>Train or load generative image models and explore what they learned.</p>")
        rows = "".join(f"<tr><td style='padding-right:12px'><b>{k}</b></td><td>{v}</td></tr>" for k, v in self.facts)
        body = QLabel(f"<table>{rows}</table>")
        body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.formats = QLabel(formats_html())
        self.formats.setWordWrap(True)
        self.formats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Copy for a bug report")
        self.copy_button.clicked.connect(self.copy)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(body)
        layout.addWidget(self.formats)
        layout.addWidget(buttons)

    def text(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.facts)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text())
