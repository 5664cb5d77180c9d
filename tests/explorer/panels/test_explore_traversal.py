"""Traversal grid panel: rows x steps tiles, KL ordering for VAEs, InfoGAN's figure."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.panels.traversal_panel import ROWS_ACTIVE, ROWS_ALL, ROWS_CUSTOM, ROWS_INFLUENTIAL, TraversalPanel
from models.families.registry import build_model


@pytest.fixture
def make(open_panel):
    return lambda qtbot, model, dataset=None: open_panel(TraversalPanel, model, dataset, size=(520, 420))


def tiles(image: np.ndarray, tile: int = 28, pad: int = 2) -> tuple[int, int]:
    return (image.shape[0] - pad) // (tile + pad), (image.shape[1] - pad) // (tile + pad)


def test_rows_by_steps_and_follows_the_point(qtbot, tmp_path, make):
    ms, ls, panel = make(qtbot, build_model("vae", latent_dim=3, hidden=16))
    assert panel.rows_mode.currentData() == ROWS_ALL  # no dataset: no KL
    panel.steps.setValue(5)
    with qtbot.waitSignal(panel.image_ready, timeout=5000):
        panel.show()
    assert tiles(panel.image) == (3, 5)
    assert panel.image.shape == (3 * 30 + 2, 5 * 30 + 2, 1)
    first = panel.image.copy()
    with qtbot.waitSignal(panel.image_ready, timeout=5000):
        ls.set_flat(np.array([2.0, -2.0, 1.0], np.float32))
    assert not np.array_equal(first, panel.image)  # around the new point
    panel.rows_mode.setCurrentIndex(panel.rows_mode.findData(ROWS_CUSTOM))
    panel.custom_dims.setText("2, 0")
    with qtbot.waitSignal(panel.image_ready, timeout=5000):
        panel.custom_dims.editingFinished.emit()
    assert panel.rows == ["z2", "z0"] and tiles(panel.image) == (2, 5)
    assert panel.export_png(tmp_path / "t.png").exists()
    panel.grab().save("/tmp/panel_traversal.png")
    panel.shutdown()


def test_vae_rows_most_active_first(qtbot, tiny_dataset, make):
    ms, _, panel = make(qtbot, build_model("vae", latent_dim=4, hidden=16), tiny_dataset)
    assert panel.rows_mode.currentData() == ROWS_ACTIVE
    panel.top_k.setValue(2)
    panel.steps.setValue(3)
    panel.show()
    qtbot.waitUntil(lambda: panel.image is not None and len(panel.rows) == 2, timeout=8000)
    kl = ms.kl_per_dim
    assert kl is not None and kl.shape == (4,)
    assert panel.rows == [f"z{d}" for d in np.argsort(-kl, kind="stable")[:2]]
    panel.shutdown()


def test_gan_with_many_noise_dims_shows_the_most_influential_rows(qtbot, make):
    import torch

    from models.explore.traversal import dimension_influence

    torch.manual_seed(0)
    model = build_model("dcgan", z_dim=40, g_channels=4, d_channels=4, fc_hidden=16)
    _, ls, panel = make(qtbot, model)
    assert panel.rows_mode.currentData() == ROWS_INFLUENTIAL  # 40 rows would be unreadable
    assert panel.top_k.isEnabled() and panel.top_k.value() == 10
    panel.steps.setValue(5)
    with qtbot.waitSignal(panel.image_ready, timeout=8000):
        panel.show()
    assert tiles(panel.image) == (10, 5)
    influence = dimension_influence(model.eval(), panel.value_range.value(), around=ls.flat)
    assert panel.rows == [f"z{d}" for d in torch.argsort(-influence, stable=True)[:10].tolist()]
    assert "most influential" in panel.caption.text()
    with qtbot.waitSignal(panel.image_ready, timeout=8000):
        panel.top_k.setValue(3)
    assert len(panel.rows) == 3 and tiles(panel.image) == (3, 5)
    panel.shutdown()


def test_infogan_categories_by_code(qtbot, make):
    model = build_model("infogan", z_dim=4, categorical=(3,), continuous=2, fc_hidden=32, q_hidden=16, channels=8)
    _, _, panel = make(qtbot, model)
    assert panel.sweep.currentData() == ("category", 0)
    panel.steps.setValue(4)
    panel.sweep.setCurrentIndex(1)  # code 1
    with qtbot.waitSignal(panel.image_ready, timeout=5000):
        panel.show()
    assert tiles(panel.image) == (3, 4)
    assert panel.rows == ["category 0", "category 1", "category 2"]
    panel.grab().save("/tmp/panel_traversal_infogan.png")
    panel.shutdown()
