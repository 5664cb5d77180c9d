"""Compare panel: models side by side, a metrics table, one path across models."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.panels.compare_panel import ComparePanel
from explorer.state import LatentState, ModelState
from models.checkpoint import save_checkpoint
from models.paths import random_path
from models.registry import build_model


@pytest.fixture
def panel(qtbot, tiny_dataset):
    ms, ls = ModelState(), LatentState()
    model = build_model("vae", latent_dim=4, hidden=16)
    ms.set_model(model)
    ls.reset(model.latent_spec)
    p = ComparePanel(ms, ls, lambda: tiny_dataset)
    qtbot.addWidget(p)
    p.resize(640, 460)
    yield p
    p.shutdown()


def test_two_models_grid_and_metrics(qtbot, panel, tmp_path):
    panel.add_current()
    ckpt = save_checkpoint(tmp_path / "ae4.safetensors", build_model("ae", latent_dim=4, hidden=16))
    panel.add_files([ckpt])
    qtbot.waitUntil(lambda: len(panel.entries) == 2 and len(panel.recon_grid.tiles) == 3, timeout=5000)
    assert [e.model.family for e in panel.entries] == ["vae", "ae"]
    # originals row + one row per model, 8 images each
    assert len(panel.recon_grid.tiles) == 3 and all(len(r) == 8 for r in panel.recon_grid.tiles)
    assert panel.recon_grid.tiles[1][0].image.shape == (28, 28)
    with qtbot.waitSignal(panel.grid_ready, timeout=5000):
        panel.heatmap.setChecked(True)
    assert panel.recon_grid.tiles[2][0].image.shape == (28, 28, 3)  # colour-mapped error
    with qtbot.waitSignal(panel.metrics_ready, timeout=10000):
        panel.compute_metrics()
    assert panel.table.rowCount() == 2
    for r in range(2):
        mse, ssim = float(panel.table.item(r, 2).text()), float(panel.table.item(r, 4).text())
        assert 0 < mse < 1 and -1 <= ssim <= 1
        assert panel.table.item(r, 5).text() == "50"
    panel.tabs.setCurrentIndex(0)
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save("/tmp/panel_compare.png")


def test_path_plays_on_models_of_its_size(qtbot, panel):
    a, b = build_model("vae", latent_dim=4, hidden=16), build_model("ae", latent_dim=4, hidden=16)
    panel.add_model(a, "A")
    panel.add_model(b, "B")
    panel.add_model(build_model("vae", latent_dim=3, hidden=16), "C (3-D)")
    path = random_path(a, 3, seed=1)
    panel.path_frames_per_segment.setValue(3)
    with qtbot.waitSignal(panel.path_frames_ready, timeout=5000):
        panel.play_path(path)
    assert sorted(panel.path_frames) == [0, 1]  # C's latent has another size
    assert all(len(f) == 7 for f in panel.path_frames.values())
    assert panel.playing
    qtbot.waitUntil(lambda: panel._path_frame >= 2, timeout=3000)
    i = panel._path_frame
    np.testing.assert_array_equal(panel.path_tiles[0].image, panel.path_frames[0][i])  # in step
    np.testing.assert_array_equal(panel.path_tiles[1].image, panel.path_frames[1][i])
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save("/tmp/panel_compare_path.png")
    panel.stop()
    assert not panel.playing
