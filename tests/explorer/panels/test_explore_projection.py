"""Projection panel: a real image into a GAN's latent space, in a job, with Cancel."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.panels.projection_panel import ProjectionPanel
from explorer.state import LatentState, ModelState
from models.families.registry import build_model


@pytest.fixture
def setup(qtbot, tiny_dataset):
    ms, ls = ModelState(), LatentState()
    model = build_model("gan", z_dim=4, g_hidden=(32,), d_hidden=(32,))
    ms.set_model(model)
    ls.reset(model.latent_spec)
    panel = ProjectionPanel(ms, ls, lambda: tiny_dataset)
    qtbot.addWidget(panel)
    yield ms, ls, panel
    panel.shutdown()


def test_projects_a_test_image_into_the_sliders(qtbot, setup):
    ms, ls, panel = setup
    keys = []
    panel.keyframe_ready.connect(lambda flat, label: keys.append((flat, label)))
    panel.use_test_image(2)
    panel.steps.setValue(15)
    panel.restarts.setValue(2)
    with qtbot.waitSignal(panel.finished, timeout=10000) as blocker:
        panel.run()
    result = blocker.args[0]
    assert not result.cancelled and result.steps_done == 15
    np.testing.assert_array_equal(ls.flat, result.latent)  # the result is the slider state
    assert panel.result_tile.image is not None and panel.target_tile.image is not None
    panel.add_to_path()
    assert len(keys) == 1 and "test #2" in keys[0][1]
    panel.resize(420, 420)
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save("/tmp/panel_projection.png")


def test_cancel_stops_early_with_the_best_so_far(qtbot, setup):
    ms, ls, panel = setup
    panel.use_test_image(0)
    panel.steps.setValue(20000)
    panel.restarts.setValue(1)
    panel.run()
    assert panel.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: panel.progress.value() >= 5, timeout=5000)
    with qtbot.waitSignal(panel.finished, timeout=5000) as blocker:
        panel.cancel_btn.click()
    result = blocker.args[0]
    assert result.cancelled and 0 < result.steps_done < 20000
    assert "cancelled" in panel.result_caption.text()
    assert not panel.cancel_btn.isEnabled() and panel.run_btn.isEnabled()
