"""Workspaces: Explore, Train and Compare, switched by keys, the corner toolbar and the View
menu, each keeping its own layout across switches and restarts, Reset Layout per workspace,
room for Compare on a laptop screen, and layouts saved by earlier versions."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QTabBar

from explorer import settings
from explorer.dialogs.help_dialogs import shortcut_rows
from explorer.window.actions import menu_actions
from explorer.window.docks import place_explore_docks
from explorer.window.workspaces import WINDOW_DOCKS, WORKSPACES

BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea


def on_screen(window, key: str) -> bool:
    """The dock is shown and in front of its tab group (a tab behind another reports visible)."""
    dock = window.workspaces.docks[key]
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def shown(window) -> set[str]:
    return {k for k in window.workspaces.docks if on_screen(window, k)}


def button_text(ws, key: str) -> str:
    return ws.toolbar.widgetForAction(ws.actions[key]).text()


def press(qtbot, window, digit: int) -> None:
    qtbot.keyClick(window, getattr(Qt.Key, f"Key_{digit}"), Qt.KeyboardModifier.ControlModifier)


def test_every_workspace_places_every_dock():
    keys = set(WINDOW_DOCKS) | {"paths", "projection", "draw", "traversal", "map", "compare", "timeline"}
    for ws in WORKSPACES:
        named = [k for g in ws.groups for k in (*g.shown, *g.hidden)]
        assert sorted(named) == sorted(keys), ws.key  # each once: a dock hidden here still has a place


def test_keys_and_the_toolbar_switch_workspaces_and_what_shows(qtbot, open_window):
    window = open_window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    ws = window.workspaces
    assert ws.current == "explore" and ws.actions["explore"].isChecked()
    assert {"paths", "latent", "map"} <= shown(window) and not window.explore_docks["compare"].isVisible()
    assert window.image_view.isVisible()

    press(qtbot, window, 2)
    assert ws.current == "train" and ws.actions["train"].isChecked()
    assert {"train", "training"} <= shown(window)
    assert not window.explore_docks["paths"].isVisible() and not window.latent_dock.isVisible()

    press(qtbot, window, 3)
    assert ws.current == "compare" and shown(window) == {"compare", "paths"}
    assert not window.image_view.isVisible()  # the models' own images need the room

    button = ws.toolbar.widgetForAction(ws.actions["explore"])
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert ws.current == "explore" and {"paths", "latent"} <= shown(window) and window.image_view.isVisible()
    # the View menu has them too, and Help > Keyboard Shortcuts lists their keys
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    submenu = next(a.menu() for a in view.actions() if a.menu() is not None)
    assert [a.text() for a in submenu.actions()] == ["&Explore Workspace", "&Train Workspace", "&Compare Workspace"]
    assert [button_text(ws, k) for k in ("explore", "train", "compare")] == ["Explore", "Train", "Compare"]
    keys = {row[0] for row in shortcut_rows(menu_actions(window))}
    assert {"Ctrl+1", "Ctrl+2", "Ctrl+3"} <= keys


def test_each_workspace_keeps_its_layout_across_switches_and_a_restart(qtbot, open_window):
    window = open_window()
    ws = window.workspaces
    ws.switch("compare")
    window.explore_docks["paths"].close()  # the user's change to Compare
    ws.switch("explore")
    assert on_screen(window, "paths")  # Explore's own layout: Paths still there
    window.latent_dock.close()  # and a change to Explore
    ws.switch("compare")
    assert not window.explore_docks["paths"].isVisible() and on_screen(window, "compare")
    window.close()

    again = open_window()  # a restart: the workspace in use and every layout come back
    assert again.workspaces.current == "compare" and again.workspaces.actions["compare"].isChecked()
    assert not again.explore_docks["paths"].isVisible() and on_screen(again, "compare")
    assert not again.image_view.isVisible()
    again.workspaces.switch("explore")
    assert on_screen(again, "paths") and not again.latent_dock.isVisible()
    again.workspaces.switch("train")  # never changed: its default
    assert {"train", "training"} <= shown(again)


def test_reset_layout_puts_back_only_the_current_workspace(qtbot, open_window):
    window = open_window()
    ws = window.workspaces
    window.explore_docks["paths"].close()  # Explore
    ws.switch("train")
    window.training_dock.close()
    window.train_dock.setFloating(True)
    window.reset_layout_action.trigger()
    assert {"train", "training"} <= shown(window) and not window.train_dock.isFloating()
    assert window.dockWidgetArea(window.training_dock) == BOTTOM
    ws.switch("explore")
    assert not window.explore_docks["paths"].isVisible()  # not reset: another workspace
    window.reset_layout()
    assert on_screen(window, "paths")


def test_a_dock_a_workspace_hides_comes_back_from_the_view_menu_as_a_tab(qtbot, open_window):
    window = open_window()
    compare = window.explore_docks["compare"]
    assert not compare.isVisible()
    compare.toggleViewAction().trigger()
    assert compare.isVisible() and not compare.isFloating() and window.dockWidgetArea(compare) == BOTTOM
    assert compare in window.tabifiedDockWidgets(window.explore_docks["map"])


def test_sending_models_to_compare_goes_to_the_compare_workspace(qtbot, open_window, vae_checkpoint):
    window = open_window()
    compare = window.explore_docks["compare"].widget()
    window.add_to_compare([vae_checkpoint])
    assert window.workspaces.current == "compare" and on_screen(window, "compare")
    qtbot.waitUntil(lambda: len(compare.entries) == 1 and not compare.load_jobs.busy, timeout=10_000)


def test_revealing_a_dock_from_a_workspace_without_it_goes_to_its_home(qtbot, open_window):
    """Training starting (or a followed run) while in Compare shows the Train workspace, where
    the curves are in front, not Explore, where they are a tab behind the map."""
    window = open_window()
    window.workspaces.switch("compare")
    assert not on_screen(window, "training")
    window.workspaces.reveal(window.training_dock)
    assert window.workspaces.current == "train" and on_screen(window, "training")
    window.workspaces.switch("compare")
    window.workspaces.reveal(window.workspaces.docks["latent"])
    assert window.workspaces.current == "explore" and on_screen(window, "latent")


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_each_job_gets_room_on_a_laptop_and_a_desktop_screen(qtbot, open_window, size):
    window = open_window()
    window.resize(*size)
    qtbot.waitUntil(lambda: window.size().toTuple() == size, timeout=3000)
    width, height = size
    for ws in WORKSPACES:
        window.workspaces.switch(ws.key)
        window.reset_layout()  # the default arrangement at this size
        qtbot.wait(30)
        for key in shown(window):  # nothing squeezed under what its panel needs
            dock = window.workspaces.docks[key]
            need = dock.widget().minimumSizeHint()
            assert dock.widget().width() >= need.width() and dock.widget().height() >= need.height() - 1, (ws.key, key)
        if ws.key == "compare":
            compare = window.explore_docks["compare"]
            assert compare.height() >= 0.5 * height and compare.width() >= 0.5 * width
        elif ws.key == "explore":
            assert window.image_view.height() >= 0.4 * height  # the large image
            assert window.explore_docks["map"].height() >= window.explore_docks["map"].widget().minimumSizeHint().height()
        else:
            assert window.training_dock.height() >= 0.5 * height and window.training_dock.width() >= 0.6 * width
    for ws in WORKSPACES:  # back through the saved layouts: no tab bar of the one left stays painted
        window.workspaces.switch(ws.key)
        qtbot.wait(30)
        assert not stale_tab_bars(window), ws.key


def stale_tab_bars(window) -> list[list[str]]:
    """The tabs of each dock tab bar on screen that names a dock not shown."""
    titles = {d.windowTitle() for d in window.workspaces.docks.values() if d.isVisible()}
    bars = [b for b in window.findChildren(QTabBar) if b.isVisible() and b.parent() is window and b.y() >= 0]
    tabs = [[b.tabText(i) for i in range(b.count())] for b in bars]
    return [t for t in tabs if not set(t) <= titles]


def test_a_layout_saved_by_an_earlier_version_opens_as_the_explore_layout(qtbot, open_window):
    first = open_window()
    # the one layout an earlier version kept: its docks tabbed behind the window's own, Latent space closed
    for dock in first.explore_docks.values():
        first.removeDockWidget(dock)
    older = {k: d for k, d in first.explore_docks.items() if k != "timeline"}  # a dock that version lacked
    place_explore_docks(first, older)
    first.latent_dock.close()
    old_state = first.saveState()
    first.close()
    s = QSettings(str(settings.settings_path()), QSettings.Format.IniFormat)
    s.remove("window/layouts")
    s.remove("window/workspace")
    s.setValue("window/state", old_state)
    s.sync()

    window = open_window()
    assert window.workspaces.current == "explore" and "Ignored" not in window.statusBar().currentMessage()
    assert not window.latent_dock.isVisible() and window.explore_docks["compare"].isVisible()  # as it was left
    assert window.dockWidgetArea(window.explore_docks["compare"]) == BOTTOM
    timeline = window.explore_docks["timeline"]  # unknown to that layout: placed where Explore keeps it
    assert window.dockWidgetArea(timeline) == BOTTOM and not timeline.isFloating()
    window.reset_layout()
    assert on_screen(window, "latent") and not window.explore_docks["compare"].isVisible()


def test_a_bad_saved_workspace_or_layout_falls_back_to_the_default_and_says_so(qtbot, open_window):
    s = QSettings(str(settings.settings_path()), QSettings.Format.IniFormat)
    s.setValue("window/workspace", "bogus")
    s.setValue("window/layouts/train", QByteArray(b"not a layout"))
    s.sync()
    window = open_window()
    assert window.workspaces.current == "explore" and on_screen(window, "paths")
    assert "Ignored the setting window/workspace" in window.statusBar().currentMessage()
    window.workspaces.switch("train")
    assert {"train", "training"} <= shown(window)
    assert "Ignored the saved layout of the Train workspace" in window.statusBar().currentMessage()
