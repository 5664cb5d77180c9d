"""The Train panel's memory: the settings of the last run started, put back when the panel opens."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDoubleSpinBox

from .. import settings
from ..training_session import TrainRequest

if TYPE_CHECKING:
    from .train_panel import TrainPanel


def remember_form(panel: "TrainPanel", request: TrainRequest) -> None:
    """Keep the settings of a run the user started, for the next time the panel opens."""
    s = settings.settings()
    s.setValue("train/dataset", request.dataset)
    s.setValue("train/data_dir", request.data_dir or "")
    s.setValue("train/image_size", panel.image_size.value())
    s.setValue("train/channels", int(panel.channels.currentData()))
    s.setValue("train/family", request.family)
    s.setValue("train/epochs", request.train_config.epochs)
    s.setValue("train/batch_size", request.train_config.batch_size)
    s.setValue("train/device", request.train_config.device)

def restore_form(panel: "TrainPanel") -> None:
    """The form as last used: each remembered value only if it fits its control."""
    s = settings.settings()
    dataset = settings.read_text("train/dataset", store=s)
    if dataset and panel.dataset.findText(dataset) >= 0:
        panel.dataset.setCurrentText(dataset)
    panel.data_dir.setText(settings.read_text("train/data_dir", store=s))
    fam = settings.read_text("train/family", store=s)
    index = panel.family.findData(fam) if fam else -1
    if index >= 0 and panel.availability.get(fam) is None:
        panel.family.setCurrentIndex(index)
    for box, key in ((panel.epochs, "train/epochs"), (panel.batch_size, "train/batch_size")):
        read = settings.read_float if isinstance(box, QDoubleSpinBox) else settings.read_int
        box.setValue(read(key, box.value(), box.minimum(), box.maximum(), store=s))
    size = settings.read_int("train/image_size", panel.image_size.value(), panel.image_size.minimum(),
                             panel.image_size.maximum(), store=s)
    panel.data_box.set_image_options(size, settings.read_int("train/channels", int(panel.channels.currentData()), 1, 3,
                                                            store=s))
    device = settings.read_text("train/device", store=s)
    index = panel.device.findText(device) if device else -1
    if index >= 0 and panel.device.model().item(index).isEnabled():  # type: ignore[attr-defined]
        panel.device.setCurrentIndex(index)
