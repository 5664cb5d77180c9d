"""The "Explore and compare" docks, created and wired in one call from the main window.

    Paths ──path_ready──> Compare (plays the path on several models)
    Latent map ──path_drawn──> Paths          Projection ──keyframe_ready──> Paths

Placement, in a window that arranges its docks itself (the main window: ``workspaces``), is
the caller's (``place=False``). Otherwise the control-style panels (Paths, Projection, Drawing
pad) are tabbed behind the dock already on the left; the view-style ones (Traversal, Latent map,
Compare, Timeline) behind the bottom dock, the existing docks staying in front. The View menu
gets a toggle for each new dock.

Usage (MainWindow.__init__, before the saved layout is restored so it includes these)::

    self.explore_docks = add_explore_docks(self, self.model_state, self.latent_state,
                                           lambda: self.data_state.dataset,
                                           dataset_changed=self.data_state.changed,
                                           place=False, reveal=lambda dock: self.workspaces.reveal(dock))
    # MainWindow.shutdown():      shutdown_explore_docks(self.explore_docks)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, cast

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, SignalInstance
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu

from models.data.base import Dataset

from ..panels.base import ExplorePanel
from ..panels.compare import ComparePanel
from ..panels.draw_pad import DrawPadPanel
from ..panels.map import MapPanel
from ..panels.paths import PathsPanel
from ..panels.projection_panel import ProjectionPanel
from ..panels.timeline_panel import TimelinePanel
from ..panels.traversal_panel import TraversalPanel
from ..state import LatentState, ModelState
from .layout import make_dock


#: how every Explore panel is made: (model state, latent state, dataset provider) -> panel
PanelFactory = Callable[[ModelState, LatentState, Callable[[], Dataset | None]], ExplorePanel]


@dataclass(frozen=True)
class DockSpec:
    """One Explore dock: its title, the panel in it and the area it is tabbed into."""

    title: str
    panel: PanelFactory
    area: Qt.DockWidgetArea


_LEFT, _BOTTOM = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
#: key -> dock: the order is the tab order
DOCKS: dict[str, DockSpec] = {
    "paths": DockSpec("Paths", PathsPanel, _LEFT),
    "projection": DockSpec("Projection", ProjectionPanel, _LEFT),
    "draw": DockSpec("Drawing pad", DrawPadPanel, _LEFT),
    "traversal": DockSpec("Traversal", TraversalPanel, _BOTTOM),
    "map": DockSpec("Latent map", MapPanel, _BOTTOM),
    "compare": DockSpec("Compare", ComparePanel, _BOTTOM),
    "timeline": DockSpec("Timeline", TimelinePanel, _BOTTOM),
}


def explore_panel(dock: QDockWidget) -> ExplorePanel:
    return cast(ExplorePanel, dock.widget())


class _WindowWatcher(QObject):
    """Places the docks once the window is first shown (unless the window places them);
    stops their jobs when it closes."""

    def __init__(self, window: QMainWindow, docks: dict[str, QDockWidget], place: bool) -> None:
        super().__init__(window)
        self.window, self.docks = window, docks
        self.placed = window.isVisible() or not place

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.Show and not self.placed:
            self.placed = True
            # after the show has been handled: Qt 6 builds dock tab groups reliably only in
            # a shown window (before it, a stale tab bar can stay painted over the docks)
            QTimer.singleShot(0, lambda: place_explore_docks(self.window, self.docks, only_unplaced=True))
        elif event.type() == QEvent.Type.Close:
            # harmless if the close is then refused: runners restart on the next request
            shutdown_explore_docks(self.docks)
        return False


def add_explore_docks(window: QMainWindow, model_state: ModelState, latent_state: LatentState,
                      dataset_provider: Callable[[], Dataset | None],
                      dataset_changed: SignalInstance | None = None, place: bool = True,
                      reveal: Callable[[QDockWidget], None] | None = None) -> dict[str, QDockWidget]:
    """Create the Explore docks in ``window``; returns them by key (see ``DOCKS``).

    ``dataset_provider()`` gives the current dataset or None; ``dataset_changed`` (optional,
    e.g. ``DataState.changed``) lets panels refresh when it changes rather than at next use.

    ``place``: in a window not shown yet the docks are placed when it is first shown, unless a
    ``restoreState`` has placed them by then (they have object names, so it can); False: they
    start hidden and the caller places them. ``reveal(dock)`` brings a dock forward when a
    panel hands it work (a path sent to Compare); by default it is shown and raised.
    """
    docks: dict[str, QDockWidget] = {}
    for key, spec in DOCKS.items():
        panel = spec.panel(model_state, latent_state, dataset_provider)
        dock = make_dock(window, spec.title, f"dock_explore_{key}", panel)
        # a dock tabbed behind another stays isVisible(): only this signal tells
        dock.visibilityChanged.connect(panel.set_on_screen)
        docks[key] = dock
    watcher = _WindowWatcher(window, docks, place)
    if window.isVisible() and place:
        place_explore_docks(window, docks)
    else:
        for dock in docks.values():
            dock.hide()  # not in the layout yet: it must not show as a stray child
    window.installEventFilter(watcher)
    _wire(window, docks, dataset_changed, reveal or _show_and_raise)
    _add_view_actions(window, docks)
    return docks


def place_explore_docks(window: QMainWindow, docks: dict[str, QDockWidget], only_unplaced: bool = False) -> None:
    """Tab each dock behind the window's existing dock in its area (or start the area),
    keeping the existing dock in front. Also the way back for "Reset Layout".
    ``only_unplaced``: leave docks a restored state has already put somewhere."""
    ours = set(docks.values())
    for area in (_LEFT, _BOTTOM):
        group = [d for k, d in docks.items() if DOCKS[k].area == area]
        if only_unplaced:
            group = [d for d in group if window.dockWidgetArea(d) == Qt.DockWidgetArea.NoDockWidgetArea and not d.isFloating()]
        if not group:
            continue
        anchor = next((d for d in window.findChildren(QDockWidget)
                       if d not in group and window.dockWidgetArea(d) == area and not d.isFloating()), None)
        for dock in group:
            if anchor is None:
                window.addDockWidget(area, dock)
                anchor = dock
            else:
                window.tabifyDockWidget(anchor, dock)
        for dock in group:  # shown after the group is complete: a re-layout per dock can leave a stale tab bar
            dock.show()
        front = next((d for d in window.findChildren(QDockWidget) if d not in ours and window.dockWidgetArea(d) == area), None)
        (front or group[0]).raise_()


def _show_and_raise(dock: QDockWidget) -> None:
    dock.show()
    dock.raise_()


def _wire(window: QMainWindow, docks: dict[str, QDockWidget], dataset_changed: SignalInstance | None,
          reveal: Callable[[QDockWidget], None]) -> None:
    paths = cast(PathsPanel, docks["paths"].widget())
    compare = cast(ComparePanel, docks["compare"].widget())
    map_panel = cast(MapPanel, docks["map"].widget())
    projection = cast(ProjectionPanel, docks["projection"].widget())
    timeline = cast(TimelinePanel, docks["timeline"].widget())

    def show(key: str) -> None:
        reveal(docks[key])

    paths.path_ready.connect(lambda path: (compare.play_path(path), show("compare")))
    map_panel.path_drawn.connect(lambda path: (paths.set_path(path, "drawn"), show("paths")))
    projection.keyframe_ready.connect(lambda flat, label: (paths.add_keyframe(flat, label), show("paths")))
    timeline.set_path_source(paths.path, paths.keyframe_list.changed)  # the Timeline's "Show: Path"
    status_bar = window.statusBar()
    last_said = [""]  # the panels' message the status bar shows, if it shows one

    def say(panel: ExplorePanel, text: str) -> None:
        """A panel's news in the status bar, unless a message of the window's own is up (a
        restored session, an opened file): a panel on screen says things as it works, and its
        own message line keeps them."""
        shown = status_bar.currentMessage()
        if shown and shown != last_said[0] and panel.message is not None:
            return
        last_said[0] = text
        status_bar.showMessage(text, 5000)

    for dock in docks.values():
        panel = explore_panel(dock)
        panel.status.connect(lambda text, p=panel: say(p, text))
        if dataset_changed is not None:
            dataset_changed.connect(lambda _ds, p=panel: p.on_dataset_changed())


def _add_view_actions(window: QMainWindow, docks: dict[str, QDockWidget]) -> None:
    """Toggles for the new docks in the window's View menu, beside the existing dock
    toggles (before the menu's first separator, e.g. the one above "Reset Layout")."""
    view: QMenu | None = None
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "").strip().lower() == "view":
            view = action.menu()
            break
    if view is None:
        return
    first_sep = next((a for a in view.actions() if a.isSeparator()), None)
    if first_sep is None:
        view.addSeparator()
        for dock in docks.values():
            view.addAction(dock.toggleViewAction())
        return
    view.insertSeparator(first_sep)
    for dock in docks.values():
        view.insertAction(first_sep, dock.toggleViewAction())


def shutdown_explore_docks(docks: dict[str, QDockWidget]) -> None:
    """Stop playback timers and background jobs of every Explore panel (window close)."""
    for dock in docks.values():
        explore_panel(dock).shutdown()
