"""Training on an image folder from the window, in the size and colour the form gives, and
continuing a folder model on its own images (the real dataset loader, a generated folder)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.families.registry import build_model
from models.runs.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture
def rgb_folder(tmp_path) -> Path:
    """40 random colour images, 20x20 (the loader resizes them to the size asked)."""
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / f"{i:02d}.png")
    return root


def _run(qtbot, window, button) -> tuple[object, object]:
    """Click Train or Continue training; the run's TrainStarted and last metrics, failing
    with the window's error message when the run does not start."""
    started: list = []
    finished: list = []
    window.session.started.connect(started.append)
    window.session.finished.connect(finished.append)
    try:
        window.last_error = None
        button.click()
        qtbot.waitUntil(lambda: bool(started) or window.last_error is not None, timeout=15_000)
        assert window.last_error is None, window.last_error
        qtbot.waitUntil(lambda: bool(finished), timeout=30_000)
    finally:
        window.session.started.disconnect(started.append)
        window.session.finished.disconnect(finished.append)
    assert window.last_error is None, window.last_error
    return started[0], finished[0]


def test_train_a_fresh_rgb_folder_model_then_continue_it(qtbot, real_data_window, small_vae_form, rgb_folder):
    panel = real_data_window.train_panel
    small_vae_form(panel, batch=8, epochs=1.0)  # 36 training images / 8: 4 steps
    panel.dataset.setCurrentText("folder")
    panel.data_dir.setText(str(rgb_folder))
    panel.image_size.setValue(16)
    panel.channels.setCurrentIndex(panel.channels.findData(3))
    info, last = _run(qtbot, real_data_window, panel.train_button)
    assert tuple(info.dataset.image_shape) == (3, 16, 16) == tuple(info.model.config.image_shape)
    assert last is not None and last.event == "done" and last.step == 4
    ckpt = load_checkpoint(last.checkpoint)
    assert tuple(ckpt.model.config.image_shape) == (3, 16, 16)
    assert ckpt.train_state["dataset"] == "folder" and Path(ckpt.train_state["data_dir"]) == rgb_folder

    # Continue training reads the folder in the model's own size and colour, whatever the form says
    panel.image_size.setValue(64)
    panel.channels.setCurrentIndex(panel.channels.findData(1))
    assert panel.continue_button.isEnabled()
    info, last = _run(qtbot, real_data_window, panel.continue_button)
    assert tuple(info.dataset.image_shape) == (3, 16, 16) and info.start_step == 4
    assert info.run_dir == Path(ckpt.path).parents[1]  # its latest: the run goes on in its folder
    assert last is not None and last.event == "done" and last.step == 8


def test_continue_an_rgb_folder_model_opened_from_disk(qtbot, real_data_window, rgb_folder, tmp_path):
    """A checkpoint of an RGB 16x16 folder model: Continue reads the folder as RGB 16x16."""
    model = build_model("vae", latent_dim=3, hidden=16, image_shape=(3, 16, 16))
    path = save_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors", model,
                           {"dataset": "folder", "data_dir": str(rgb_folder), "step": 12,
                            "train_config": {"batch_size": 8}})
    with qtbot.waitSignal(real_data_window.model_state.model_changed, timeout=10_000):
        assert real_data_window.open_path(path)
    qtbot.waitUntil(lambda: real_data_window._loading is None, timeout=10_000)
    panel = real_data_window.train_panel
    assert panel.dataset.currentText() == "folder"
    panel.data_dir.setText("")
    assert panel.continue_request().data_dir is None  # no folder chosen: the one the checkpoint records
    panel.data_dir.setText(str(rgb_folder))
    panel.epochs.setValue(1.0)
    panel.device.setCurrentText("cpu")
    # the window found the recorded folder for Encode too, in the model's shape
    qtbot.waitUntil(lambda: real_data_window.data_state.dataset is not None, timeout=10_000)
    assert tuple(real_data_window.data_state.dataset.image_shape) == (3, 16, 16)
    info, last = _run(qtbot, real_data_window, panel.continue_button)
    assert tuple(info.dataset.image_shape) == (3, 16, 16) and info.start_step == 12
    assert info.run_dir == tmp_path / "run"
    assert last is not None and last.event == "done" and last.step == 12 + 36 // 8
