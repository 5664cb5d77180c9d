"""Small widget pieces the Explore panels share: captions, busy bars, the hint stack."""
from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QLabel, QLayout, QProgressBar, QVBoxLayout, QWidget

from ..explore_workers import HintStack

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


def install_hint_stack(panel: QWidget, body: QWidget) -> HintStack:
    """Fill ``panel`` edge to edge with a HintStack around ``body`` (returned: its
    ``show_hint`` replaces the body by a hint while the panel can't work)."""
    stack = HintStack(body)
    outer = QVBoxLayout(panel)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(stack)
    return stack
