"""The latent panel's Encode row: a test image of the current dataset to the latent mean of
the model's encoder, with a thumbnail of the image last encoded (a dropped image file shows
there too)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QWidget

from models.io.images import to_display

from ..image_input import encode_images
from ..state import LatentState, ModelState
from ..widgets.layout import hrow, push_button, spin_box
from ..widgets.tiles import array_to_qimage


class EncodeRow(QWidget):
    """"Test image [N] [Encode] [thumbnail]": sets the latent point to test image N's code."""

    def __init__(self, model_state: ModelState, latent_state: LatentState, dataset_provider: Callable[[], object],
                 on_error: Callable[[str, str], None], say: Callable[[str], None]) -> None:
        super().__init__()
        self.model_state, self.latent_state, self.dataset_provider = model_state, latent_state, dataset_provider
        self._on_error, self._say = on_error, say
        self.test_index = spin_box(0, 0, tooltip="Index of a test image of the current dataset")
        self.encode_button = push_button("Encode", "Set the sliders to the latent mean of this test image "
                                                   "(or drop an image file on the window)", clicked=self.encode_test_image)
        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(36, 36)
        self.thumbnail.setStyleSheet("background: #1e1f22; border: 1px solid #444;")
        self.thumbnail.setToolTip("The image last encoded")
        self.thumbnail.setVisible(False)  # appears with the first encoded image
        hrow(QLabel("Test image"), (self.test_index, 1), self.encode_button, self.thumbnail, parent=self)

    def encode_test_image(self) -> None:
        dataset = self.dataset_provider()
        if dataset is None or self.model_state.model is None:
            return
        index = self.test_index.value()
        try:
            x = dataset.test.batch(torch.tensor([index]))
            labels = dataset.test.labels
            # the test image's own class, when it has one, for a class-conditional encoder
            flat = encode_images(self.model_state, x, labels[index:index + 1] if labels is not None else None)
        except Exception as e:  # noqa: BLE001 - shape mismatch, a model without encoder...
            self._on_error("Could not encode the image", str(e))
            return
        self.set_thumbnail(x[0])
        self.latent_state.set_flat(flat)
        self._say(f"Encoded test image {index} of {dataset.name}")

    def set_thumbnail(self, image: torch.Tensor) -> None:
        """(C, H, W) in [0, 1] -> the small preview next to Encode."""
        self.thumbnail.setPixmap(QPixmap.fromImage(array_to_qimage(to_display(image))).scaled(
            self.thumbnail.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
        self.thumbnail.setVisible(True)

    def refresh(self, has_encoder: bool) -> None:
        """Encode works when a dataset of the model's image size is loaded; else it says why not."""
        model = self.model_state.model
        shape = tuple(model.config.image_shape) if model is not None and hasattr(model, "config") else None
        ds = self.dataset_provider()
        ok = has_encoder and ds is not None and tuple(ds.image_shape) == shape
        self.encode_button.setEnabled(ok)
        self.test_index.setEnabled(ok)
        if ok:
            self.test_index.setRange(0, len(ds.test) - 1)
            self.encode_button.setToolTip(f"Set the sliders to the latent mean of test image N of "
                                          f"{ds.name} (or drop an image file on the window)")
        else:
            why = "no dataset of this model's image size is loaded" if has_encoder else "this model has no encoder"
            self.encode_button.setToolTip(f"Encode is unavailable: {why}. You can still drop an image file on the window.")
