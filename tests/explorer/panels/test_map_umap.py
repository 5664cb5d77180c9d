"""UMAP in the latent map, through the map's combo: the fit runs in the map's job with its
progress on the bar and in the message line, the newest choice wins, Cancel stops it, and
without umap-learn the choice is disabled with a tooltip saying how to install it."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from explorer.panels.map import MODE_PCA, MODE_TSNE, MapPanel
from explorer.panels.map.controls import MODE_UMAP
from models.families.registry import build_model


@pytest.fixture
def shown_map(qtbot, open_panel, tiny_dataset):
    """A 3-d AE's map of the tiny test set (50 points), encoded and on screen."""

    def make():
        ms, ls, panel = open_panel(MapPanel, build_model("ae", latent_dim=3, hidden=16), tiny_dataset, size=(640, 420))
        with qtbot.waitSignal(panel.map_ready, timeout=8000):
            panel.show()
        qtbot.waitExposed(panel)
        return ms, ls, panel

    return make


def _choose(panel, mode: str) -> None:
    panel.projection.setCurrentIndex(panel.projection.findData(mode))


def test_choosing_umap_fits_with_progress_and_clicks_pick_points(qtbot, shown_map):
    pytest.importorskip("umap")
    _, ls, panel = shown_map()
    reports: list[tuple[int, int]] = []
    messages: list[str] = []
    panel.jobs.progress.connect(lambda done, total: reports.append((done, total)))
    panel.status.connect(messages.append)
    assert panel.controls.mode_enabled(MODE_UMAP)
    with qtbot.waitSignal(panel.map_ready, timeout=60000):  # the first fit in a process compiles UMAP
        _choose(panel, MODE_UMAP)
        assert panel.progress.isVisible() and panel.controls.cancel_btn.isEnabled()
    assert panel.mode == MODE_UMAP and panel.umap is not None
    np.testing.assert_array_equal(panel.coords, panel.umap)
    assert panel.coords.shape == (50, 2)
    # the bar covered the fit: busy while the graph was built, then epoch by epoch
    assert reports[0] == (0, 0) and reports[-1][0] == reports[-1][1] > 0
    assert any(m.startswith("Fitting UMAP to 50 points") for m in messages)
    assert "UMAP of 50 points" in panel.message.text()
    assert panel.plot.getAxis("bottom").labelText == "UMAP 1"
    assert not panel.show_prior.isEnabled()  # no prior samples on a map fitted to the codes
    panel.click_at(*panel.coords[4])  # a click picks the nearest point's code
    np.testing.assert_array_equal(ls.flat, panel.encoded.codes[panel.nearest(*panel.coords[4])])
    # back to PCA and to UMAP again: no second fit
    _choose(panel, MODE_PCA)
    with qtbot.waitSignal(panel.map_ready, timeout=1000):
        _choose(panel, MODE_UMAP)
    assert not panel.jobs.busy
    panel.grab().save("/tmp/panel_map_umap.png")
    panel.shutdown()


def test_cancel_and_a_newer_choice_end_a_umap_fit(qtbot, shown_map):
    pytest.importorskip("umap")
    _, _, panel = shown_map()
    _choose(panel, MODE_UMAP)
    panel.controls.cancel_btn.click()
    qtbot.waitUntil(lambda: not panel.jobs.busy, timeout=60000)
    assert panel.umap is None and panel.mode == MODE_PCA  # the combo is back on the map still shown
    assert panel.message.text() == "UMAP cancelled."
    pytest.importorskip("sklearn")
    _choose(panel, MODE_UMAP)
    with qtbot.waitSignal(panel.map_ready, timeout=60000):
        _choose(panel, MODE_TSNE)  # newest wins: the UMAP fit under way is dropped
    assert panel.mode == MODE_TSNE and panel.tsne is not None and panel.umap is None
    qtbot.waitUntil(lambda: not panel.jobs.busy, timeout=60000)
    panel.shutdown()


def test_going_back_to_pca_during_a_fit_stops_its_progress_messages(qtbot, shown_map):
    """The status line says what the scatter shows: no "Fitting UMAP" ticks over the PCA map."""
    pytest.importorskip("umap")
    _, _, panel = shown_map()
    _choose(panel, MODE_UMAP)
    assert panel.message.text().startswith("Fitting UMAP")
    _choose(panel, MODE_PCA)
    qtbot.wait(1300)  # the fit's clock ticks each second
    assert panel.mode == MODE_PCA and not panel.message.text().startswith("Fitting")  # "UMAP cancelled." may follow
    qtbot.waitUntil(lambda: not panel.jobs.busy, timeout=60000)
    panel.shutdown()


def test_without_umap_learn_the_choice_is_disabled_and_says_how_to_install(qtbot, shown_map, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    _, _, panel = shown_map()
    i = panel.projection.findData(MODE_UMAP)
    assert i >= 0 and not panel.controls.mode_enabled(MODE_UMAP)
    assert panel.projection.itemText(i) == "UMAP (not installed)"
    from PySide6.QtCore import Qt

    assert "pip install umap-learn" in panel.projection.itemData(i, Qt.ItemDataRole.ToolTipRole)
    _choose(panel, MODE_UMAP)  # set from code (a saved session): refused, said, PCA stays
    assert panel.mode == MODE_PCA and not panel.jobs.busy and "pip install umap-learn" in panel.message.text()
    panel.shutdown()
