"""The Data and Training groups of the Model & data panel.

Data: which dataset, the folder it is read from (datasets kept on disk), for an image folder
the size and colour its images are read in (the CLI's ``--image-size`` / ``--channels``),
and a line saying what it is. Training: epochs, batch size, learning rate and its decay,
and the device, with what "auto" finds on this computer. Both only hold settings; the panel
reads them when it starts a run. The Train and Continue training buttons' tooltips are here
too (the panel adds why a button is greyed), and which families can be built here.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import torch
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QSpinBox, QToolButton, QWidget,
)

from models.families.registry import FAMILIES
from models.training.loop import TrainConfig

from models.training.device import device_description, resolve_device

from .config_form import SciSpinBox

DATASET_HELP = {
    "shapes": "Procedural white shapes on black, 64×64 (dSprites-style). Offline: nothing to download.",
    "mnist": "Handwritten digits, 28×28. Downloaded once (~11 MB) into the data folder.",
    "fashion-mnist": "Clothing images, 28×28. Downloaded once (~30 MB) into the data folder.",
    "folder": "Your own images: every image file in the chosen folder, resized and centre-cropped to a square "
              "of the image size, in grey or colour.",
}
#: the grey of the groups' small print
NOTE_STYLE = "color: #8a8a8a; font-size: 11px;"
#: an image folder's images unless the form says otherwise (load_dataset's own default)
FOLDER_IMAGE_SIZE = 64



def family_availability() -> dict[str, str | None]:
    """family -> None when importable, else why not (families land one by one)."""
    out: dict[str, str | None] = {}
    for fam, (module, name) in FAMILIES.items():
        try:
            getattr(importlib.import_module(module), name)
            out[fam] = None
        except Exception as e:  # noqa: BLE001 - any import failure just greys the family out
            out[fam] = f"{type(e).__name__}: {e}"
    return out


TRAIN_TIP = "Start training a new model with these settings (Ctrl+T)"
CONTINUE_TIP = (
    "Continue training the loaded model from its current weights and step count (Ctrl+Shift+T), "
    "on the dataset it was trained on, in its own image size and colour (as latent-explorer train --resume).\n"
    "Epochs, Batch size, Learning rate and Device below apply. The Family and model fields do not, nor do "
    "Image size and Colour: they only shape new models (Train). Adam's moments carry on when the run's latest "
    "checkpoint holds them for this step; otherwise the optimizer starts afresh.\n"
    "A run's latest checkpoint continues that run: metrics are appended and its checkpoints updated. "
    "An older checkpoint of a run (a best behind its latest) or one outside a run folder continues in "
    "a new run folder."
)


class DataSection(QGroupBox):
    """Dataset choice and its folder; the folder row shows only for datasets read from disk."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Data", parent)
        try:
            from models.data import DATASETS
        except Exception:  # noqa: BLE001 - the data module can be mid-edit; shapes is the safe default
            DATASETS = ("mnist", "fashion-mnist", "shapes", "folder")
        self.known_datasets: tuple[str, ...] = tuple(DATASETS)
        self.dataset = QComboBox()
        self.dataset.addItems(list(DATASETS))
        self.dataset.setCurrentText("shapes")
        self.dataset.currentTextChanged.connect(self._on_dataset_changed)
        self.data_dir = QLineEdit()
        self.browse = QToolButton()
        self.browse.setText("…")
        self.browse.setToolTip("Choose the folder")
        self.browse.clicked.connect(self._browse_data_dir)
        self.dir_row = QWidget()
        dir_layout = QHBoxLayout(self.dir_row)
        dir_layout.setContentsMargins(0, 0, 0, 0)
        dir_layout.addWidget(self.data_dir, 1)
        dir_layout.addWidget(self.browse)
        # an image folder comes in any size and in colour; the other datasets have their own
        self.image_size = QSpinBox()
        self.image_size.setRange(4, 1024)
        self.image_size.setValue(FOLDER_IMAGE_SIZE)
        self.image_size.setSuffix(" px")
        self.image_size.setToolTip("The side of the square the folder's images are resized and centre-cropped to "
                                   "(latent-explorer train --image-size)")
        self.channels = QComboBox()
        self.channels.addItem("Grey (1 channel)", 1)
        self.channels.addItem("RGB (3 channels)", 3)
        self.channels.setToolTip("Read the folder's images in grey or in colour (latent-explorer train --channels)")
        self.dataset_help = QLabel()
        self.dataset_help.setWordWrap(True)
        self.dataset_help.setStyleSheet(NOTE_STYLE)
        self.form = QFormLayout(self)
        self.form.addRow("Dataset", self.dataset)
        self.form.addRow("Folder", self.dir_row)
        self.form.addRow("Image size", self.image_size)
        self.form.addRow("Colour", self.channels)
        self.form.addRow(self.dataset_help)

    def image_options(self, name: str) -> tuple[int | None, int]:
        """(image_size, channels) a fresh run on dataset ``name`` reads its images in: the
        form's for an image folder, the dataset's own (None, 1) for the others."""
        if name == "folder":
            return self.image_size.value(), int(self.channels.currentData())
        return None, 1

    def set_image_options(self, image_size: int, channels: int) -> None:
        """Show a folder's image size and channels (remembered ones; out-of-range values are ignored)."""
        if self.image_size.minimum() <= image_size <= self.image_size.maximum():
            self.image_size.setValue(image_size)
        index = self.channels.findData(channels)
        if index >= 0:
            self.channels.setCurrentIndex(index)

    def refresh(self) -> None:
        """Show the folder row, its hint and the help line for the chosen dataset."""
        self._on_dataset_changed(self.dataset.currentText())

    def _on_dataset_changed(self, name: str) -> None:
        needs_dir = name in ("mnist", "fashion-mnist", "folder")
        for row, visible in ((self.dir_row, needs_dir), (self.image_size, name == "folder"),
                             (self.channels, name == "folder")):
            row.setVisible(visible)
            self.form.labelForField(row).setVisible(visible)
        if name == "folder":
            self.data_dir.setPlaceholderText("a folder of images (required)")
            self.data_dir.setToolTip("The folder whose images to train on")
        else:
            from models.io.cache import default_cache_dir

            self.data_dir.setPlaceholderText(f"default: {default_cache_dir()}")
            self.data_dir.setToolTip("Where the dataset files are (downloaded there when missing)")
        self.dataset_help.setText(DATASET_HELP.get(name, ""))

    def _browse_data_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder", self.data_dir.text() or str(Path.home()))
        if path:
            self.data_dir.setText(path)


class TrainingSection(QGroupBox):
    """The settings that Train and Continue training share (TrainConfig)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Training", parent)
        self.epochs = QDoubleSpinBox()
        self.epochs.setRange(0.01, 10_000)
        self.epochs.setDecimals(2)
        self.epochs.setValue(1.0)
        self.epochs.setToolTip("Passes over the training images (fractions allowed: shapes has 727k images)")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 65_536)
        self.batch_size.setValue(128)
        self._batch_default = 128  # the current family's own batch size (see follow_family)
        self.batch_size.setToolTip("Images per optimisation step")
        self.lr = SciSpinBox()
        self.lr.setRange(0.0, 10.0)
        self.lr.setValue(0.0)
        self.lr.setSpecialValueText("family default")
        self.lr.setToolTip("Adam learning rate; 0 uses the family's paper default")
        self.lr_decay = QComboBox()
        for label, value in (("family default", None), ("constant", "none"), ("linear to 0", "linear"),
                             ("cosine to 0", "cosine")):
            self.lr_decay.addItem(label, value)
        self.lr_decay.setToolTip("How the learning rates change over the run. Linear or cosine to 0 by the last "
                                 "step: annealing sharpens GAN samples (useful for a last few epochs with Continue "
                                 "training) and lowers a VAE's bound; the family default is cosine for the conv "
                                 "autoencoders, else constant. Continue training with the family default goes on "
                                 "from the rate a stopped run had reached; a schedule chosen here spans the "
                                 "continuation from the full rate")
        self.device = QComboBox()
        self.device.setToolTip("Where to train: auto picks CUDA, then Apple MPS, then the CPU")
        cuda = torch.cuda.is_available()
        mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        for name, ok in (("auto", True), ("cpu", True), ("cuda", cuda), ("mps", mps)):
            self.device.addItem(name)
            if not ok:
                item = self.device.model().item(self.device.count() - 1)  # type: ignore[attr-defined]
                item.setEnabled(False)
                item.setToolTip(f"No {name.upper()} device on this computer")
        detected = resolve_device("auto")
        self.detected = QLabel(device_description(detected) if detected.type != "cpu" else "CPU (no GPU found)")
        self.detected.setStyleSheet(NOTE_STYLE)
        self.detected.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Learning rate", self.lr)
        form.addRow("Rate schedule", self.lr_decay)
        form.addRow("Device", self.device)
        form.addRow("", self.detected)

    def follow_family(self, family: str, batch_size: int, lr: float) -> None:
        """Take a new family's own batch size (WGAN-GP: 64 per critic step) unless the user
        chose one, and name its paper learning rate in the tooltip."""
        if self.batch_size.value() == self._batch_default:
            self.batch_size.setValue(batch_size)
        self._batch_default = batch_size
        self.lr.setToolTip(f"Adam learning rate; 0 uses the paper default for {family} ({lr:g})")

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs.value(), batch_size=self.batch_size.value(),
                           lr=self.lr.value() or None, device=self.device.currentText(),
                           lr_decay=self.lr_decay.currentData())
