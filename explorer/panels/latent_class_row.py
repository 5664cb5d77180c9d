"""The class control of a class-conditional model: one button per class, named as the
dataset names its classes ("7", "Ankle boot", "heart").

Its categorical code 0 is a supervised label, not a code the model found (InfoGAN's codes
keep their numbered buttons in ``latent_rows``), so the buttons carry the class names and sit
in a "Class" group of their own. Names of different lengths share one button width and wrap
in a :class:`FlowLayout`, so ten garment names fit a 320-pixel dock and the grid stays
even; a name wider than :data:`MAX_BUTTON_WIDTH` is elided and its tooltip says it whole.
Very many classes (an image folder of hundreds) get a searchable combo box instead.

Like every row of the latent panel it only displays and forwards: ``choose(class)`` on a
user's pick, :meth:`ClassRow.show_class` (no signal) when the state changed elsewhere.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QLayout, QLayoutItem, QSizePolicy, QToolButton, QVBoxLayout, QWidget,
)

from ..widgets.qt_utils import signals_blocked

#: more classes than this get a combo box (a wall of buttons stops being quicker to use)
MAX_CLASS_BUTTONS = 32
#: a class name wider than this (pixels) is elided on its button
MAX_BUTTON_WIDTH = 120
#: the narrowest button, so one-character names ("7") are still easy to hit
MIN_BUTTON_WIDTH = 26


class FlowLayout(QLayout):
    """Items left to right, wrapping onto new lines when the width runs out (Qt's flow
    layout example): its height follows its width, and its minimum width is one item's."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 2) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setContentsMargins(0, 0, 0, 0)
        self.setSpacing(spacing)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _arrange(self, rect: QRect, move: bool) -> int:
        """Lay the items out in ``rect`` (only measure unless ``move``); the height used."""
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line = area.x(), area.y(), 0
        gap = self.spacing()
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > area.right() + 1 and line > 0:  # wrap (never before a line's first item)
                x, y, line = area.x(), y + line + gap, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + gap
            line = max(line, hint.height())
        return y + line - rect.y() + m.bottom()


class ClassRow(QWidget):
    """The class buttons (or combo box) of a conditional model's classes ``names``;
    ``choose(index)`` is called on a user's pick."""

    def __init__(self, names: tuple[str, ...], choose: Callable[[int], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names = tuple(names)
        self.group: QButtonGroup | None = None
        self.combo: QComboBox | None = None
        if len(self.names) > MAX_CLASS_BUTTONS:
            self._build_combo(choose)
        else:
            self._build_buttons(choose)

    def _build_buttons(self, choose: Callable[[int], None]) -> None:
        layout = FlowLayout(self)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        buttons = []
        for i, name in enumerate(self.names):
            button = QToolButton()
            button.setCheckable(True)
            button.setText(name.replace("&", "&&"))  # a lone "&" would make a shortcut and vanish
            button.setToolTip(f"Class {i}: {name}")
            button.setAccessibleName(f"class {name}")
            buttons.append(button)
            self.group.addButton(button, i)
        # one width for all (an even grid): the widest name's, capped at MAX_BUTTON_WIDTH
        hints = [b.sizeHint().width() for b in buttons]
        width = max([MIN_BUTTON_WIDTH] + [min(MAX_BUTTON_WIDTH, h) for h in hints])
        for button, name, hint in zip(buttons, self.names, hints):
            if hint > width:  # elide by the text's own share of the button
                room = button.fontMetrics().horizontalAdvance(name) - (hint - width)
                button.setText(button.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, room).replace("&", "&&"))
            button.setFixedWidth(width)
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            layout.addWidget(button)
        self.group.idClicked.connect(choose)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def _build_combo(self, choose: Callable[[int], None]) -> None:
        self.combo = QComboBox()
        self.combo.setEditable(True)  # typing a name finds it among hundreds
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for i, name in enumerate(self.names):
            self.combo.addItem(f"{i}: {name}", i)
            self.combo.setItemData(i, f"Class {i}: {name}", Qt.ItemDataRole.ToolTipRole)
        self.combo.setToolTip(f"The class to draw ({len(self.names):,} classes)")
        self.combo.activated.connect(lambda index: choose(int(self.combo.itemData(index))))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)

    def buttons(self) -> list[QToolButton]:
        return list(self.group.buttons()) if self.group is not None else []

    def button(self, index: int) -> QToolButton | None:
        return self.group.button(index) if self.group is not None else None

    def current(self) -> int:
        if self.group is not None:
            return self.group.checkedId()
        return int(self.combo.currentData()) if self.combo is not None else -1

    def show_class(self, index: int) -> None:
        """Show class ``index`` as chosen, without calling ``choose`` (the state says so already)."""
        if self.group is not None:
            button = self.group.button(index)
            if button is not None and not button.isChecked():
                with signals_blocked(button):
                    button.setChecked(True)
        elif self.combo is not None and self.combo.currentIndex() != index:
            with signals_blocked(self.combo):
                self.combo.setCurrentIndex(index)


def class_title(names: tuple[str, ...], index: int) -> str:
    """The class group's title: which class is drawn ("Class: Ankle boot")."""
    return f"Class: {names[index]}" if 0 <= index < len(names) else "Class"
