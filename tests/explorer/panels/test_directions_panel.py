"""The latent panel's Directions mode and the traversal panel's direction sweep, through real
widgets: the directions come from a job, a dragged direction slider moves the point along
its direction and the shown image with it, InfoGAN's codes keep their own controls, and
both panels share one computation per model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

from explorer.directions_state import directions_store
from explorer.panels.traversal_panel import TraversalPanel
from models.families.registry import build_model

JOB_MS = 10_000


def tiny_dcgan():
    torch.manual_seed(0)
    return build_model("dcgan", fc_hidden=64, g_channels=8, d_channels=8)


def drag_slider(labeled, fraction: float) -> None:
    """Press on the handle of a QLabeledDoubleSlider, move it to ``fraction`` of the groove
    with the button held, release: what a person's drag sends."""
    slider = labeled._slider
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, slider)
    start = handle.center()
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    end = QPoint(int(slider.width() * fraction), start.y())
    for x in np.linspace(start.x(), end.x(), 6)[1:]:
        p = QPointF(float(x), float(start.y()))
        QApplication.sendEvent(slider, QMouseEvent(QEvent.Type.MouseMove, p, slider.mapToGlobal(p), Qt.MouseButton.NoButton,
                                                   Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def enter_directions(qtbot, panel) -> None:
    qtbot.mouseClick(panel.directions_mode, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.directions.walk is not None, timeout=JOB_MS)


def test_directions_mode_drag_moves_the_point_along_the_direction_and_the_image(qtbot, window):
    window.model_state.set_model(tiny_dcgan())
    panel = window.latent_panel
    start = window.latent_state.flat
    qtbot.mouseClick(panel.directions_mode, Qt.MouseButton.LeftButton)
    # the job runs in the panel's runner; meanwhile the panel says so
    assert "Computing 10 principal directions" in panel.directions.status.text()
    assert panel.directions_jobs.busy
    qtbot.waitUntil(lambda: panel.directions.walk is not None, timeout=JOB_MS)
    assert panel.directions.isVisible() and not panel.scroll.isVisible()
    directions = panel.directions.walk.directions
    assert len(panel.directions.rows) == 10 == directions.k
    notes = [row.kl.text() for row in panel.directions.rows]
    assert all(n.endswith("%") for n in notes) and notes[0] == f"{100 * directions.explained_variance[0]:.1f}%"
    assert f"{100 * directions.explained_variance.sum():.1f}% of the variance of layer" in panel.directions.status.text()
    np.testing.assert_array_equal(window.latent_state.flat, start)  # entering moves nothing

    before = window.image_view.image.copy()
    row = panel.directions.rows[0]
    drag_slider(row.slider, 0.9)
    value = row.slider.value()
    assert value > 1.0  # dragged right, in standard deviations
    qtbot.waitUntil(lambda: not np.array_equal(before, window.image_view.image), timeout=3000)
    moved = window.latent_state.flat - start
    np.testing.assert_allclose(moved, value * directions.stdev[0] * directions.directions[0], atol=1e-5)

    # back to a slider per dimension: the point stays, and the sliders show it
    point = window.latent_state.flat
    qtbot.mouseClick(panel.dims_mode, Qt.MouseButton.LeftButton)
    assert panel.scroll.isVisible() and not panel.directions.isVisible()
    np.testing.assert_array_equal(window.latent_state.flat, point)
    assert panel.z_rows[3].slider.value() == pytest.approx(float(point[3]), abs=0.01)


def test_entering_again_reuses_the_directions_and_a_new_point_restarts_the_walk(qtbot, window):
    window.model_state.set_model(tiny_dcgan())
    panel = window.latent_panel
    enter_directions(qtbot, panel)
    first = panel.directions.walk.directions
    panel.directions.rows[1].slider.setValue(2.0)
    qtbot.mouseClick(panel.dims_mode, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.directions_mode, Qt.MouseButton.LeftButton)
    assert not panel.directions_jobs.busy  # from the store: no second computation
    assert panel.directions.walk.directions is first
    assert panel.directions.rows[1].slider.value() == 0.0  # a walk from where the mode was entered
    panel.directions.rows[0].slider.setValue(1.5)
    qtbot.mouseClick(panel.random_button, Qt.MouseButton.LeftButton)  # a point set elsewhere
    assert panel.directions.rows[0].slider.value() == 0.0
    np.testing.assert_array_equal(panel.directions.walk.base, window.latent_state.flat)
    # "From mean": the walk starts at the sampled latents' mean z
    qtbot.mouseClick(panel.directions.from_mean, Qt.MouseButton.LeftButton)
    np.testing.assert_allclose(window.latent_state.flat, first.mean, atol=1e-6)


def test_newest_k_wins(qtbot, window):
    window.model_state.set_model(tiny_dcgan())
    panel = window.latent_panel
    enter_directions(qtbot, panel)
    panel.directions.components.setValue(3)
    panel.directions.components.setValue(5)  # before the first settles: only 5 is computed
    qtbot.waitUntil(lambda: len(panel.directions.rows) == 5 and not panel.directions_jobs.busy, timeout=JOB_MS)
    assert panel.directions.walk.directions.k == 5
    store = directions_store(window.model_state)
    assert store.find(5) is panel.directions.walk.directions
    assert store.find(3) is None


def test_infogan_codes_keep_their_controls(qtbot, window):
    torch.manual_seed(0)
    window.model_state.set_model(build_model("infogan", fc_hidden=64, channels=8, q_hidden=16))
    panel = window.latent_panel
    spec = window.model_state.spec
    enter_directions(qtbot, panel)
    assert panel.categorical_group.isVisible() and panel.continuous_group.isVisible()
    codes = window.latent_state.flat[spec.z_dim:]
    panel.directions.rows[0].slider.setValue(2.5)
    np.testing.assert_array_equal(window.latent_state.flat[spec.z_dim:], codes)
    # a category picked while walking keeps the walk (only the codes changed)
    panel.category_controls[0].button(4).click()
    assert window.latent_state.category(0) == 4
    assert panel.directions.rows[0].slider.value() == pytest.approx(2.5)
    panel.directions.rows[0].slider.setValue(0.0)
    np.testing.assert_allclose(window.latent_state.flat[: spec.z_dim], panel.directions.walk.base[: spec.z_dim], atol=1e-6)
    assert window.latent_state.category(0) == 4


def test_new_weights_offer_a_recompute(qtbot, window):
    model = tiny_dcgan()
    window.model_state.set_model(model)
    panel = window.latent_panel
    enter_directions(qtbot, panel)
    old = panel.directions.walk.directions
    assert not panel.directions.recompute.isVisible()
    weights = {k: v + 0.01 if v.is_floating_point() else v for k, v in window.model_state.model.state_dict().items()}
    window.model_state.load_weights(weights)  # a training snapshot
    assert panel.directions.recompute.isVisible() and "weights changed" in panel.directions.status.text()
    qtbot.mouseClick(panel.directions.recompute, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.directions.walk.directions is not old, timeout=JOB_MS)
    assert not panel.directions.recompute.isVisible()
    assert panel.directions.walk.directions.weights != old.weights


def test_traversal_sweeps_the_shared_directions(qtbot, open_panel):
    model = tiny_dcgan()
    ms, ls, panel = open_panel(TraversalPanel, model, size=(520, 420))
    panel.show()
    qtbot.waitExposed(panel)
    panel.steps.setValue(5)
    panel.top_k.setValue(4)
    panel.sweep.setCurrentIndex(panel.sweep.findText("Principal directions"))
    qtbot.waitUntil(lambda: panel.rows == ["PC1", "PC2", "PC3", "PC4"] and not panel.jobs.busy, timeout=JOB_MS)
    assert (panel.image.shape[0] - 2) // 30 == 4 and (panel.image.shape[1] - 2) // 30 == 5
    assert "principal directions" in panel.caption.text() and "σ" in panel.caption.text()
    assert panel.top_k.isEnabled() and not panel.rows_mode.isEnabled()
    directions = directions_store(ms).find(4)
    assert directions is not None  # kept for the latent panel (and a session)
    # the middle column is the current point itself; the last is +R sigma along each direction
    mid = panel.image[2:30, 2 + 2 * 30 : 30 + 2 * 30]
    from explorer.model_access import decode_one

    np.testing.assert_array_equal(mid[..., 0], decode_one(ms, ls.flat))
    panel.shutdown()


def test_a_result_for_the_previous_model_is_dropped(qtbot, window):
    window.model_state.set_model(tiny_dcgan())
    panel = window.latent_panel
    qtbot.mouseClick(panel.directions_mode, Qt.MouseButton.LeftButton)
    torch.manual_seed(1)
    window.model_state.set_model(build_model("dcgan", z_dim=24, fc_hidden=64, g_channels=8, d_channels=8))
    qtbot.waitUntil(lambda: panel.directions.walk is not None and not panel.directions_jobs.busy, timeout=JOB_MS)
    assert panel.directions.walk.directions.z_dim == 24 and len(panel.directions.rows) == 10
    assert panel.directions.isVisible()  # the mode stays on for the new model


def test_saved_directions_are_restored_without_computing(qtbot, window):
    from models.explore.directions import Directions, principal_directions

    model = tiny_dcgan()
    saved = principal_directions(model.eval(), n_samples=200, k=3).to_dict()
    window.model_state.set_model(model)
    panel = window.latent_panel
    store = directions_store(window.model_state)
    store.restore(Directions.from_dict(saved, "session.json"))
    panel.directions.components.setValue(3)
    qtbot.mouseClick(panel.directions_mode, Qt.MouseButton.LeftButton)
    assert not panel.directions_jobs.busy and len(panel.directions.rows) == 3
    assert panel.directions.walk.directions is store.current
    other = principal_directions(build_model("dcgan", z_dim=24, fc_hidden=16, g_channels=4, d_channels=4).eval(),
                                 n_samples=100, k=2)
    with pytest.raises(ValueError, match=r"for a latent of 24 values \(24 z\); this model's has 100"):
        store.restore(other)
