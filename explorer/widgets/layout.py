"""The small building blocks of a panel's layout: captions, busy bars, the body and its hint
stack, and the controls every panel makes the same way (spin boxes with their range, value and
tooltip; buttons and check boxes with theirs; a row of widgets; a titled group of rows)."""
from __future__ import annotations

from typing import Callable, TypeVar, Union

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLayout, QProgressBar, QPushButton,
    QScrollArea, QSizePolicy, QSpinBox, QStackedLayout, QVBoxLayout, QWidget,
)

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


# ---------------------------------------------------------------------------------------
# controls made in one call
# ---------------------------------------------------------------------------------------
def spin_box(low: int, high: int, value: int | None = None, *, prefix: str = "", suffix: str = "",
             step: int | None = None, tooltip: str = "") -> QSpinBox:
    """An integer spin box over [low, high] at ``value`` (the range's low end when None)."""
    box = QSpinBox()
    box.setRange(low, high)
    if value is not None:
        box.setValue(value)
    if step is not None:
        box.setSingleStep(step)
    _decorate(box, prefix, suffix, tooltip)
    return box


def double_spin_box(low: float, high: float, value: float | None = None, *, decimals: int | None = None,
                    step: float | None = None, prefix: str = "", suffix: str = "", tooltip: str = "",
                    special_text: str = "") -> QDoubleSpinBox:
    """A float spin box over [low, high] at ``value``; ``decimals`` is set first, so the range
    and the value are not rounded to the default two places."""
    box = QDoubleSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)
    box.setRange(low, high)
    if step is not None:
        box.setSingleStep(step)
    if value is not None:
        box.setValue(value)
    if special_text:
        box.setSpecialValueText(special_text)
    _decorate(box, prefix, suffix, tooltip)
    return box


def _decorate(box: QSpinBox | QDoubleSpinBox, prefix: str, suffix: str, tooltip: str) -> None:
    if prefix:
        box.setPrefix(prefix)
    if suffix:
        box.setSuffix(suffix)
    if tooltip:
        box.setToolTip(tooltip)


def push_button(text: str, tooltip: str = "", *, enabled: bool = True, checkable: bool = False,
                clicked: Callable[[], object] | None = None) -> QPushButton:
    """A button; ``clicked`` is called with no arguments on each click."""
    button = QPushButton(text)
    if tooltip:
        button.setToolTip(tooltip)
    button.setCheckable(checkable)
    button.setEnabled(enabled)
    if clicked is not None:
        button.clicked.connect(lambda _checked=False: clicked())
    return button


def check_box(text: str, checked: bool = False, tooltip: str = "") -> QCheckBox:
    box = QCheckBox(text)
    box.setChecked(checked)
    if tooltip:
        box.setToolTip(tooltip)
    return box


#: what a row holds: a widget, a nested layout, or (widget, stretch factor)
RowItem = Union[QWidget, QLayout, "tuple[QWidget, int]"]


def hrow(*items: RowItem, stretch: bool = False, parent: QWidget | None = None) -> QHBoxLayout:
    """A horizontal row of ``items`` in order; ``stretch``: empty space after them, so they
    keep their size at the left. With ``parent`` the row is that widget's layout, edge to edge."""
    row = QHBoxLayout(parent) if parent is not None else QHBoxLayout()
    if parent is not None:
        row.setContentsMargins(0, 0, 0, 0)
    for item in items:
        if isinstance(item, tuple):
            row.addWidget(item[0], item[1])
        elif isinstance(item, QLayout):
            row.addLayout(item)
        else:
            row.addWidget(item)
    if stretch:
        row.addStretch(1)
    return row


def scroll_area(widget: QWidget, frame: bool = True) -> QScrollArea:
    """``widget`` in a scroll area that resizes it to its width."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    if not frame:
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setWidget(widget)
    return scroll


def grid_group(title: str, rows: list[list[QWidget | None]]) -> QGroupBox:
    """A titled group box laying ``rows`` out on a grid; a None cell widens the widget before it."""
    group = QGroupBox(title)
    grid = QGridLayout(group)
    for r, cells in enumerate(rows):
        c = 0
        while c < len(cells):
            span = 1
            while c + span < len(cells) and cells[c + span] is None:
                span += 1
            if cells[c] is not None:
                grid.addWidget(cells[c], r, c, 1, span)
            c += span
    return group
