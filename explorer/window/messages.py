"""How the window words its messages: one status-bar line cut to fit, and the non-modal
box an error gets (the window stays usable behind it)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

STATUS_CHARS = 110  # what the status bar shows of a message at the default window width


def fit_status_line(text: str, chars: int = STATUS_CHARS) -> str:
    """The first line of ``text``, cut at a sentence or clause end with "…" when too long."""
    line = text.splitlines()[0] if text else ""
    if len(line) > chars:
        cut = max(line.rfind(sep, 0, chars) for sep in (". ", "; ", ": ", ", "))
        line = (line[:cut] if cut > chars // 3 else line[:chars]).rstrip(" .;:,") + "…"
    return line


def error_box(parent: QWidget, title: str, text: str) -> QMessageBox:
    """A non-modal warning box that deletes itself when closed (shown)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box
