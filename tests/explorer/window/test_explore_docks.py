"""add_explore_docks: six docks tabbed behind the window's own, View toggles, wiring."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QTabBar

from explorer.window.docks import DOCKS, add_explore_docks, shutdown_explore_docks
from explorer.state import DataState, LatentState, ModelState
from models.families.registry import build_model


@pytest.fixture
def window(qtbot, tiny_dataset):
    w = QMainWindow()
    w.setCentralWidget(QLabel("main view"))
    own = {}
    for name, area in (("left", Qt.DockWidgetArea.LeftDockWidgetArea), ("bottom", Qt.DockWidgetArea.BottomDockWidgetArea)):
        dock = QDockWidget(name, w)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(QLabel(name))
        w.addDockWidget(area, dock)
        own[name] = dock
    view = w.menuBar().addMenu("&View")
    for dock in own.values():
        view.addAction(dock.toggleViewAction())
    view.addSeparator()
    view.addAction("Reset Layout")
    ms, ls, data = ModelState(w), LatentState(w), DataState(w)
    model = build_model("vae", latent_dim=4, hidden=16)
    ms.set_model(model)
    ls.reset(model.latent_spec)
    docks = add_explore_docks(w, ms, ls, lambda: data.dataset, dataset_changed=data.changed)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    # docks of a window not yet shown are placed just after it is first shown
    qtbot.waitUntil(lambda: all(w.dockWidgetArea(d) != Qt.DockWidgetArea.NoDockWidgetArea for d in docks.values()))
    data.set_dataset(tiny_dataset)
    yield w, own, docks, ms, ls
    shutdown_explore_docks(docks)


def test_docks_are_tabbed_behind_the_windows_own(qtbot, window):
    w, own, docks, _, _ = window
    assert list(docks) == list(DOCKS) == ["paths", "projection", "draw", "traversal", "map", "compare", "timeline"]
    assert {d.objectName() for d in docks.values()} == {f"dock_explore_{k}" for k in DOCKS}
    left_tabs = set(w.tabifiedDockWidgets(own["left"]))
    bottom_tabs = set(w.tabifiedDockWidgets(own["bottom"]))
    assert {docks[k] for k in ("paths", "projection", "draw")} <= left_tabs
    assert {docks[k] for k in ("traversal", "map", "compare", "timeline")} <= bottom_tabs
    assert not own["left"].visibleRegion().isEmpty()  # the window's own docks stay in front
    view = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    texts = [a.text() for a in view.actions()]
    assert texts.index("Compare") < texts.index("Reset Layout")
    for dock in docks.values():
        assert dock.toggleViewAction() in view.actions()
    qtbot.wait(50)
    w.grab().save("/tmp/panel_docks_window.png")
    # no tab bar left over from building the groups (a Qt 6 quirk before the first show)
    bars = [b for b in w.findChildren(QTabBar) if b.isVisible() and b.parent() is w]  # not panels' own tabs
    assert sorted(b.count() for b in bars) == [4, 5]  # left: own + 3; bottom: own + 4
    # only the dock in front works: the map behind the Training tab encodes nothing yet
    assert docks["map"].widget().encoded is None
    docks["map"].raise_()
    qtbot.waitUntil(lambda: docks["map"].widget().encoded is not None, timeout=5000)


def test_paths_flow_into_compare_and_projection_into_paths(qtbot, window):
    w, _, docks, ms, ls = window
    paths, compare, projection = (docks[k].widget() for k in ("paths", "compare", "projection"))
    compare.add_current()
    paths.add_random()
    paths.add_random()
    paths.frames_per_segment.setValue(2)
    compare.path_frames_per_segment.setValue(2)
    with qtbot.waitSignal(compare.path_frames_ready, timeout=5000):
        paths.send_to_compare()
    assert compare.path is not None and list(compare.path_frames) == [0]
    assert not docks["compare"].visibleRegion().isEmpty()  # raised to show it
    projection.keyframe_ready.emit(np.ones(4, np.float32), "projection")
    assert len(paths.keyframes) == 3 and paths.keyframes[-1].label == "projection"
    compare.stop()



def test_every_panel_says_its_messages_in_the_window_status_bar(qtbot, window, tiny_dataset):
    w, _, docks, _, _ = window
    panels = {key: dock.widget() for key, dock in docks.items()}
    # messages from real controls inside a panel's parts (the Paths export row, a Compare tab)
    panels["paths"].add_current_btn.click()
    panels["paths"].add_random_btn.click()
    panels["paths"].export.compare_btn.click()
    assert w.statusBar().currentMessage() == "Sent to the Compare panel."
    assert panels["paths"].message.text() == w.statusBar().currentMessage()
    panels["compare"].metrics_tab.metrics_btn.click()
    assert w.statusBar().currentMessage() == "Add models to compare first."
    assert panels["compare"].message.text() == w.statusBar().currentMessage()
    for key, panel in panels.items():
        panel.say(f"hello from {key}")
        assert w.statusBar().currentMessage() == f"hello from {key}"
    # every panel follows the dataset (set once the window was shown), without a flag saying so
    assert panels["projection"].test_index.maximum() == len(tiny_dataset.test) - 1
