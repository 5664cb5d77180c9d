"""Image display: a bare pyqtgraph ImageItem in a locked-aspect ViewBox.

Not ``pg.ImageView``: its histogram and level widgets repaint on every ``setImage`` and
cost the training thread time. Images are uint8 with fixed levels (no auto-levelling per
frame: that costs a pass over the data and makes brightness flicker), always fresh arrays
(ImageItem keeps a view of what it is given). The painter does not smooth pixmaps, so a
28x28 image scales up with crisp nearest-neighbour pixels.
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QVBoxLayout, QWidget

# numpy images are (row, column[, channel]) everywhere in this app
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

BACKGROUND = "#1e1f22"


def _make_viewbox() -> pg.ViewBox:
    vb = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False, enableMenu=False, defaultPadding=0.01)
    vb.setBackgroundColor(None)
    return vb


class ImageView(QWidget):
    """The large decoded image, or a hint when there is nothing to show."""

    def __init__(self, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.graphics.ci.setContentsMargins(4, 4, 4, 4)
        self.viewbox = _make_viewbox()
        self.graphics.addItem(self.viewbox)
        self.item = pg.ImageItem()
        self.viewbox.addItem(self.item)
        self.hint = QLabel(hint)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"background: {BACKGROUND}; color: #9aa0a6; font-size: 15px; padding: 24px;")
        self._stack = QStackedLayout()
        self._stack.addWidget(self.hint)
        self._stack.addWidget(self.graphics)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._stack)
        self.image: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        #: for tests and the latency benchmark: how many images were set, and when the last was
        self.images_set = 0
        self.last_set_time = 0.0

    def set_image(self, image: np.ndarray | None) -> None:
        if image is None:
            self.clear()
            return
        self.image = image
        self.item.setImage(image, levels=(0, 255), autoLevels=False)
        if image.shape != self._shape:  # a new size: frame it once, not on every frame
            self._shape = image.shape
            self.viewbox.autoRange(padding=0.01)
        if self._stack.currentWidget() is not self.graphics:
            self._stack.setCurrentWidget(self.graphics)
        self.images_set += 1
        self.last_set_time = time.perf_counter()

    def clear(self, hint: str | None = None) -> None:
        self.image, self._shape = None, None
        self.item.clear()
        if hint is not None:
            self.hint.setText(hint)
        self._stack.setCurrentWidget(self.hint)


class ImageGrid:
    """A titled image slot inside a GraphicsLayoutWidget (training previews)."""

    def __init__(self, layout: pg.GraphicsLayout, title: str, row: int, col: int) -> None:
        self.label = layout.addLabel(title, row=row, col=col, color="#c8c8c8", size="9pt")
        self.viewbox = _make_viewbox()
        layout.addItem(self.viewbox, row=row + 1, col=col)
        self.item = pg.ImageItem()
        self.viewbox.addItem(self.item)
        self._shape: tuple[int, ...] | None = None
        self.updates = 0

    def set_image(self, image: np.ndarray) -> None:
        self.item.setImage(image, levels=(0, 255), autoLevels=False)
        if image.shape != self._shape:
            self._shape = image.shape
            self.viewbox.autoRange(padding=0.01)
        self.updates += 1

    def clear(self) -> None:
        self.item.clear()
        self._shape = None
