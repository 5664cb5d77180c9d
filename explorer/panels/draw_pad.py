"""Drawing pad: draw a digit, the encoder maps it to the sliders live.

White strokes on black, like the built-in datasets. While drawing, the canvas is
downsampled to the model's image size and encoded at most every ``THROTTLE_MS`` (and once
more on release); ``LatentState.set_flat(encode(drawing))`` then makes the main view show
the model's reconstruction. Encoding one small image takes well under a millisecond, so
it runs on the GUI thread like the main view's decodes.

"Fit like MNIST" crops the ink, scales it into a 20/28 box and centres it by its centre of
mass, as MNIST's digits were prepared; otherwise the whole canvas is shrunk.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from models.io.images import to_display
from ..latent_history import Merge
from ..model_access import decode_one, has_encoder
from ..widgets.layout import check_box, push_button, spin_box
from ..widgets.tiles import Tile
from .base import ExplorePanel

CANVAS = 224
THROTTLE_MS = 60
#: MNIST digits fit a 20x20 box inside 28x28
FIT_FRACTION = 20 / 28


def prepare_drawing(gray: np.ndarray, image_shape: tuple[int, int, int], fit: bool = True) -> torch.Tensor:
    """(S, S) uint8 canvas -> (1, C, H, W) float in [0, 1] at the model's size."""
    c, h, w = image_shape
    a = np.asarray(gray, np.uint8)
    ys, xs = np.nonzero(a > 16)
    if fit and len(xs):
        crop = a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        scale = FIT_FRACTION * min(h, w) / max(crop.shape)
        ch, cw = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
        small = np.asarray(Image.fromarray(crop).resize((cw, ch), Image.Resampling.LANCZOS), np.float32) / 255.0
        small = np.clip(small, 0, 1)
        out = np.zeros((h, w), np.float32)
        mass = small.sum()
        cy, cx = ((np.indices(small.shape) * small).reshape(2, -1).sum(1) / mass) if mass > 0 else (ch / 2, cw / 2)
        top = int(np.clip(round(h / 2 - cy), 0, h - ch))
        left = int(np.clip(round(w / 2 - cx), 0, w - cw))
        out[top : top + ch, left : left + cw] = small
    else:
        out = np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.LANCZOS), np.float32) / 255.0
        out = np.clip(out, 0, 1)
    x = torch.from_numpy(out)[None, None]
    return x.repeat(1, c, 1, 1) if c > 1 else x


class DrawCanvas(QWidget):
    """A square canvas painted with the mouse into a greyscale QImage."""

    stroke = Signal()  # the drawing changed (each mouse move while drawing)
    released = Signal()

    def __init__(self, size: int = CANVAS, pen_width: int = 18, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(size, size)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.pen_width = pen_width
        self.image = QImage(size, size, QImage.Format.Format_Grayscale8)
        self.image.fill(QColor(0, 0, 0))
        self._last: QPoint | None = None
        self.drawn = False

    def clear(self) -> None:
        self.image.fill(QColor(0, 0, 0))
        self.drawn = False
        self.update()

    def array(self) -> np.ndarray:
        """(S, S) uint8 copy of the drawing."""
        img = self.image
        buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * img.height())
        return buf.reshape(img.height(), img.bytesPerLine())[:, : img.width()].copy()

    def _draw_to(self, pos: QPoint) -> None:
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(255, 255, 255), self.pen_width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                            Qt.PenJoinStyle.RoundJoin))
        if self._last is None:
            painter.drawPoint(pos)
        else:
            painter.drawLine(self._last, pos)
        painter.end()
        self._last = pos
        self.drawn = True
        self.update()
        self.stroke.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = None
            self._draw_to(event.position().toPoint())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._draw_to(event.position().toPoint())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = None
            self.released.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawImage(0, 0, self.image)
        painter.setPen(QPen(QColor("#3a3b3e")))
        painter.drawRect(0, 0, self.width() - 1, self.height() - 1)
        painter.end()


class DrawPadPanel(ExplorePanel):
    #: the latent of the drawing, each time it is encoded
    encoded = Signal(object)

    NO_MODEL_HINT = "Open or train a model with an encoder (AE, VAE, β-VAE, AAE, conditional VAE) to draw into it."
    NEEDS = ("encode",)
    NO_ENCODER_HINT = ("This {family} model has no encoder, so it can't read a drawing.\n"
                       "Use Projection to find a GAN latent for an image instead.")
    INSTEAD = ("project", "The drawing pad needs an encoder; use Projection to find a latent for an image instead.")

    def _setup(self) -> None:
        self._throttle = self.make_timer(THROTTLE_MS, self.encode_now)

    def _build(self) -> None:
        layout = self.make_body(QGridLayout)
        self.canvas = DrawCanvas()
        self.canvas.setToolTip("Draw with the left mouse button: the encoder maps your drawing to the sliders")
        self.clear_btn = push_button("Clear", clicked=self.clear)
        self.fit = check_box("Fit like MNIST", True,
                             "Crop, scale into a 20/28 box and centre by mass, as MNIST digits were prepared")
        self.pen = spin_box(4, 48, self.canvas.pen_width, prefix="pen ", suffix=" px")
        self.input_tile, self.recon_tile = Tile(84), Tile(84)
        self.input_tile.set_array(None, "model input")
        self.recon_tile.set_array(None, "reconstruction")
        side = QVBoxLayout()
        for w in (QLabel("Model input"), self.input_tile, QLabel("Reconstruction"), self.recon_tile):
            side.addWidget(w)
        side.addStretch(1)
        layout.addWidget(self.canvas, 0, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(side, 0, 1)
        row = QGridLayout()
        for c, w in enumerate((self.clear_btn, self.fit, self.pen)):
            row.addWidget(w, 0, c)
        layout.addLayout(row, 1, 0, 1, 2)
        layout.setRowStretch(2, 1)
        layout.setColumnStretch(2, 1)

    def _wire(self) -> None:
        self.model_state.weights_updated.connect(lambda: self.encode_now() if self.canvas.drawn else None)
        self.canvas.stroke.connect(self._on_stroke)
        self.canvas.released.connect(self.encode_now)
        self.fit.toggled.connect(lambda _on: self.encode_now())
        self.pen.valueChanged.connect(lambda v: setattr(self.canvas, "pen_width", v))

    def on_model_changed(self, model: object) -> None:
        if self.refresh_availability() and self.canvas.drawn:
            self.encode_now()

    def _on_stroke(self) -> None:
        # throttle, not debounce: the sliders follow the pen while it moves
        if not self._throttle.isActive():
            self._throttle.start()

    def encode_now(self) -> None:
        self._throttle.stop()
        model = self.model_state.model
        if not has_encoder(model) or not self.canvas.drawn:
            return
        x = prepare_drawing(self.canvas.array(), tuple(model.config.image_shape), self.fit.isChecked())
        flat = self.latent_of(x)
        if flat is None:
            return
        self.input_tile.set_array(to_display(x[0]))
        self.latent_state.set_flat(flat, merge=Merge("drawing", None))  # a drawing is one undo step
        self.recon_tile.set_array(decode_one(self.model_state, flat))
        self.encoded.emit(flat)

    def clear(self) -> None:
        self.canvas.clear()
        self.input_tile.set_array(None, "model input")
        self.recon_tile.set_array(None, "reconstruction")
