"""Small images as Qt pixmaps: numpy -> QImage, and a fixed-size tile with crisp pixels."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QWidget


def array_to_qimage(image: np.ndarray) -> QImage:
    """uint8 (H, W) grey or (H, W, 3) RGB -> a QImage that owns its pixels."""
    a = np.ascontiguousarray(image, np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = np.ascontiguousarray(a[..., 0])
    h, w = a.shape[:2]
    if a.ndim == 2:
        return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888).copy()


class Tile(QLabel):
    """A small image shown with crisp (nearest-neighbour) pixels at a fixed size."""

    def __init__(self, size: int = 84, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._size = size
        self.setFixedSize(size, size)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: #1e1f22; color: #9aa0a6; border: 1px solid #3a3b3e;")
        self.image: np.ndarray | None = None

    def set_array(self, image: np.ndarray | None, text: str = "") -> None:
        self.image = image
        if image is None:
            self.setPixmap(QPixmap())
            self.setText(text)
            return
        pm = QPixmap.fromImage(array_to_qimage(image)).scaled(
            self._size - 2, self._size - 2, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        self.setPixmap(pm)
