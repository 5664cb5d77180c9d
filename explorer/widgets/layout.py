"""The small building blocks of a panel's layout: captions, busy bars, the body and its hint stack."""
from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLayout, QProgressBar, QSizePolicy, QStackedLayout, QVBoxLayout, QWidget

#: the grey of a panel's captions and messages
CAPTION_STYLE = "color: #9aa0a6;"

L = TypeVar("L", bound=QLayout)


def caption_label(text: str = "") -> QLabel:
    """A grey, word-wrapped label: a caption or the panel's message line."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(CAPTION_STYLE)
    return label


def thin_busy_bar(height: int = 10) -> QProgressBar:
    """A thin indeterminate progress bar without text, hidden until a job runs."""
    bar = QProgressBar()
    bar.setRange(0, 0)
    bar.setMaximumHeight(height)
    bar.setTextVisible(False)
    bar.hide()
    return bar


def panel_body(layout_type: type[L] = QVBoxLayout) -> tuple[QWidget, L]:  # type: ignore[assignment]
    """A panel's body widget and its layout (6 px margins), for ``install_hint_stack``."""
    body = QWidget()
    layout = layout_type(body)
    layout.setContentsMargins(6, 6, 6, 6)
    return body, layout


class HintStack(QWidget):
    """A panel's body, or a hint saying why the panel can't work with the current model."""

    def __init__(self, body: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.body = body
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.hint.setStyleSheet("color: #9aa0a6; font-size: 13px; padding: 16px;")
        self._stack = QStackedLayout()
        self._stack.addWidget(body)
        self._stack.addWidget(self.hint)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._stack)

    def show_hint(self, text: str | None) -> None:
        """None shows the body; text shows the hint instead."""
        if text:
            self.hint.setText(text)
            self._stack.setCurrentWidget(self.hint)
        else:
            self._stack.setCurrentWidget(self.body)

    @property
    def hinting(self) -> bool:
        return self._stack.currentWidget() is self.hint


def install_hint_stack(panel: QWidget, body: QWidget) -> HintStack:
    """Fill ``panel`` edge to edge with a HintStack around ``body`` (returned: its
    ``show_hint`` replaces the body by a hint while the panel can't work)."""
    stack = HintStack(body)
    outer = QVBoxLayout(panel)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(stack)
    return stack
