"""Workspaces: one arrangement of the window's docks per job of the app.

    Explore (Ctrl+1)   Latent space, a large image, Paths / Projection / Drawing pad,
                       Latent map / Traversal / Timeline below the image
    Train   (Ctrl+2)   Model & data, Training (curves and previews) tall under a smaller image
    Compare (Ctrl+3)   Compare over most of the window (its model rows, metrics, path playback), Paths beside it

The user switches with View > Workspace, the segmented row in the menu bar's corner, or
Ctrl+1/2/3. Each workspace keeps its own layout: switching saves the one left
(``QMainWindow.saveState``) and restores the one entered, or builds its default
arrangement (:data:`WORKSPACES`) the first time. Reset Layout rebuilds the current one. At
close the layouts and the workspace in use are written to the settings
(``window/layouts/<key>``, ``window/workspace``); ``window/state`` keeps the current
layout too, which is what earlier versions saved: such a file opens as the Explore layout.

A dock a workspace does not show is closed but kept in a tab group there, so its View toggle
brings it back as a tab where it fits. The central image is hidden where a workspace has no use
for it (Compare), which gives its docks the whole window.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, cast

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolBar

from .. import settings
from ..settings_file import notice
from .layout import default_size

_LEFT, _RIGHT = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
_BOTTOM, _NOWHERE = Qt.DockWidgetArea.BottomDockWidgetArea, Qt.DockWidgetArea.NoDockWidgetArea
_NO_TOOLBAR_AREA = Qt.ToolBarArea.NoToolBarArea


@dataclass(frozen=True)
class Group:
    """Docks tabbed together in one dock area; ``shown[0]`` is the tab in front."""

    area: Qt.DockWidgetArea
    shown: tuple[str, ...]
    #: closed here, kept in this tab group: their View toggle brings them back as tabs of it
    hidden: tuple[str, ...] = ()
    #: share of the window's width (left, right) or height (bottom) the group starts with
    share: float = 0.3


@dataclass(frozen=True)
class Workspace:
    key: str  # the settings name: window/layouts/<key>
    title: str  # the toolbar's text; the menu's is "<title> Workspace"
    shortcut: str
    tip: str
    groups: tuple[Group, ...]
    central: bool = True  # the large decoded image shows


#: the dock keys: the window's own three docks, then the Explore docks (``docks.DOCKS``)
WINDOW_DOCKS = ("train", "latent", "training")

WORKSPACES: tuple[Workspace, ...] = (
    Workspace("explore", "Explore", "Ctrl+1",
              "Explore the open model: latent sliders, a large image, paths and keyframes, projection, "
              "traversals and the latent map", (
                  Group(_LEFT, ("paths", "projection", "draw", "train"), share=0.27),
                  Group(_RIGHT, ("latent",), share=0.24),
                  # the tallest the image allows while the map and the traversal grid stay readable;
                  # the map in front: a click on it moves the point the image shows
                  Group(_BOTTOM, ("map", "traversal", "timeline", "training"), ("compare",), share=0.44),
              )),
    Workspace("train", "Train", "Ctrl+2",
              "Train a model: the Model & data form, loss curves and previews, the decoded image of the model "
              "being trained", (
                  Group(_LEFT, ("train",), ("paths", "projection", "draw"), share=0.27),
                  # the curves and previews take the width; the sliders come back from View
                  Group(_RIGHT, (), ("latent",)),
                  Group(_BOTTOM, ("training", "timeline"), ("traversal", "map", "compare"), share=0.62),
              )),
    Workspace("compare", "Compare", "Ctrl+3",
              "Compare models side by side: their reconstructions (a row per model), metrics and a path played "
              "through each, with the Paths panel beside them", (
                  Group(_LEFT, ("compare",), ("train", "traversal", "map", "timeline", "training"), share=0.68),
                  Group(_RIGHT, ("paths",), ("latent", "projection", "draw"), share=0.32),
              ), central=False),
)
BY_KEY = {w.key: w for w in WORKSPACES}
DEFAULT = "explore"


def arrange(window: QMainWindow, docks: dict[str, QDockWidget], workspace: Workspace) -> None:
    """Put ``docks`` (by key) where ``workspace`` starts. Docks it does not name are closed
    where they are."""
    central = window.centralWidget()
    if central is not None:
        central.setVisible(workspace.central)
    named = {k for g in workspace.groups for k in (*g.shown, *g.hidden)}
    for dock in docks.values():
        dock.setFloating(False)
        window.removeDockWidget(dock)  # out of the old tab groups: each group is built anew
    for key in docks.keys() - named:
        docks[key].hide()
    fronts: dict[Qt.DockWidgetArea, QDockWidget] = {}
    for group in workspace.groups:
        keys = [k for k in (*group.shown, *group.hidden) if k in docks]
        if not keys:
            continue
        first = docks[keys[0]]
        window.addDockWidget(group.area, first)
        for key in keys[1:]:
            window.tabifyDockWidget(first, docks[key])
        for key in keys:  # shown once the group is complete: a re-layout per dock can leave a stale tab bar
            docks[key].setVisible(key in group.shown)
        front = next((docks[k] for k in group.shown if k in docks), None)
        if front is not None:
            front.raise_()
            fronts[group.area] = front
    _size_groups(window, workspace, fronts)


def _size_groups(window: QMainWindow, workspace: Workspace, fronts: dict[Qt.DockWidgetArea, QDockWidget]) -> None:
    """Each group its share of the window, never under what its front dock needs."""
    for orientation, areas, extent in ((Qt.Orientation.Horizontal, (_LEFT, _RIGHT), window.width()),
                                       (Qt.Orientation.Vertical, (_BOTTOM,), window.height())):
        pairs = [(fronts[g.area], g.share) for g in workspace.groups if g.area in areas and g.area in fronts]
        if not pairs:
            continue
        sizes = []
        for dock, share in pairs:
            need = dock.minimumSizeHint()
            sizes.append(max(int(extent * share), need.width() if orientation == Qt.Orientation.Horizontal
                             else need.height()))
        window.resizeDocks([d for d, _ in pairs], sizes, orientation)


class Workspaces(QObject):
    """The workspace in use, the layouts of the others, and the controls that switch them."""

    changed = Signal(str)  # the key of the workspace now in use

    def __init__(self, window: QMainWindow, docks: dict[str, QDockWidget], menu: QMenu | None = None) -> None:
        """``docks``: every dock of the window by key (see :data:`WINDOW_DOCKS`; Explore docks that
        failed to load are simply absent). ``menu``: View > Workspace, filled here."""
        super().__init__(window)
        self.window, self.docks = window, docks
        self.current = DEFAULT
        self.layouts: dict[str, QByteArray] = {}  # key -> saveState() of each workspace left
        self._arrange_on_show = self._strays_on_show = False
        self.action_group = QActionGroup(self)
        self.action_group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        for ws in WORKSPACES:
            # "Train Workspace", not "Train": Help > Keyboard Shortcuts lists it beside Training > Train
            action = QAction(f"&{ws.title} Workspace", window)
            action.setIconText(ws.title)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(ws.shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setToolTip(f"{ws.tip} ({ws.shortcut})")
            action.setStatusTip(ws.tip)
            action.triggered.connect(lambda checked=False, key=ws.key: self.switch(key))
            self.action_group.addAction(action)
            window.addAction(action)
            if menu is not None:
                menu.addAction(action)
            self.actions[ws.key] = action
        self.actions[DEFAULT].setChecked(True)
        self.toolbar = self._make_toolbar()
        window.installEventFilter(self)

    def _make_toolbar(self) -> QToolBar:
        """The three workspaces as a segmented row in the menu bar's corner: a switch always in
        reach that costs no height (moved to a toolbar row of its own when the window is shown
        with the system's menu bar, macOS's, which has no corner)."""
        bar = QToolBar("Workspaces", self.window)
        bar.setObjectName("toolbar_workspaces")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.setStyleSheet(SEGMENTED_STYLE)
        for action in self.actions.values():
            bar.addAction(action)
        self.window.menuBar().setCornerWidget(bar, Qt.Corner.TopRightCorner)
        return bar

    # -- which workspace ---------------------------------------------------------------
    @property
    def workspace(self) -> Workspace:
        return BY_KEY[self.current]

    def switch(self, key: str) -> None:
        """Make ``key`` the workspace in use: the layout left is kept, the one entered restored
        (or built the first time)."""
        if key not in BY_KEY:
            raise ValueError(f"no workspace {key!r}: one of {', '.join(BY_KEY)}")
        self.actions[key].setChecked(True)
        if key == self.current:
            return
        if not self._arrange_on_show:  # else the layout left was never built: nothing to keep
            self.layouts[self.current] = self.window.saveState()
        self.current = key
        self._enter()
        self.changed.emit(key)

    def restore_layout(self, key: str, state: bytes) -> bool:
        """A layout saved for workspace ``key`` (a session's): that workspace is entered and
        the layout put back in it, as switching there would; False when Qt refuses the
        layout (the workspace entered then keeps the arrangement it had)."""
        self.switch(key)
        if not state:
            return True
        ok = self._restore_state(QByteArray(state))
        if ok:
            self._arrange_on_show = False
        return ok

    def reset(self) -> None:
        """The current workspace as it starts (View > Reset Layout)."""
        self.layouts.pop(self.current, None)
        self._build()

    def reveal(self, dock: QDockWidget) -> None:
        """Bring ``dock`` to the front; from a workspace that does not show it, go to its home:
        the workspace that puts it in front of its tab group (Add to Compare from Explore goes
        to Compare, Train from Compare to Train), else the first that shows it at all."""
        if not dock.isVisible():
            key = next((k for k, d in self.docks.items() if d is dock), None)
            home = next((ws.key for ws in WORKSPACES if any(g.shown[:1] == (key,) for g in ws.groups)),
                        next((ws.key for ws in WORKSPACES if any(key in g.shown for g in ws.groups)), None))
            if home is not None and home != self.current:
                self.switch(home)
        dock.show()
        dock.raise_()

    def _enter(self) -> None:
        state = self.layouts.get(self.current)
        if state is not None and self._restore_state(state):
            self._arrange_on_show = False
        elif state is not None:
            del self.layouts[self.current]
            notice(f"Ignored the saved layout of the {self.workspace.title} workspace "
                   f"(window/layouts/{self.current}): it could not be restored, so it starts in its default layout.",
                   settings.settings_path())
            state = None
        if state is None:
            self._build()

    def _build(self) -> None:
        if not self.window.isVisible():  # built once shown: Qt 6 tabs docks reliably only in a shown window
            self._arrange_on_show = True
            return
        self._arrange_on_show = False
        arrange(self.window, self.docks, self.workspace)

    def _restore_state(self, state: QByteArray) -> bool:
        """``restoreState`` for this workspace; the window's toolbars keep their visibility
        (which toolbars exist is not the workspace's business: a followed run's bar stays)."""
        central = self.window.centralWidget()
        if central is not None:
            central.setVisible(self.workspace.central)
        bars = {bar: bar.isVisible() for bar in self.window.findChildren(QToolBar)
                if self.window.toolBarArea(bar) != _NO_TOOLBAR_AREA}
        ok = self.window.restoreState(state)
        for bar, visible in bars.items():
            bar.setVisible(visible)
        if ok and self.window.isVisible():
            self._place_strays()
        elif ok:
            self._strays_on_show = True  # tabbed once shown, as every group is
        return ok

    def _place_strays(self) -> None:
        """Docks a restored layout does not know (it was saved before they existed) go where
        this workspace starts them, shown or closed; else their View toggle would show them
        nowhere."""
        window, ws = self.window, self.workspace
        for key, dock in self.docks.items():
            if window.dockWidgetArea(dock) != _NOWHERE or dock.isFloating():
                continue
            group = next((g for g in ws.groups if key in (*g.shown, *g.hidden)), None)
            area = group.area if group is not None else _BOTTOM
            keys = (*group.shown, *group.hidden) if group is not None else ()
            anchor = next((self.docks[k] for k in keys if k in self.docks and k != key
                           and window.dockWidgetArea(self.docks[k]) == area), None)
            if anchor is None:
                window.addDockWidget(area, dock)
            else:
                window.tabifyDockWidget(anchor, dock)
            dock.setVisible(group is not None and key in group.shown)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if obj is self.window and event.type() == QEvent.Type.Show:
            if not self.window.menuBar().isVisible() and self.window.toolBarArea(self.toolbar) == _NO_TOOLBAR_AREA:
                self.window.menuBar().setCornerWidget(None, Qt.Corner.TopRightCorner)
                self.window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
                self.toolbar.show()
            if self._arrange_on_show or self._strays_on_show:
                QTimer.singleShot(0, self, self._first_shown)  # not after this object is gone
        return False

    def _first_shown(self) -> None:
        if self._arrange_on_show:
            self._build()
        elif self._strays_on_show:
            self._place_strays()
        self._strays_on_show = False

    # -- kept between sessions ---------------------------------------------------------
    def restore(self) -> None:
        """At start: the window's size, the workspace last used and its layout. A layout saved
        by an earlier version (one ``window/state``) becomes the Explore layout."""
        window, s = self.window, settings.settings()
        geometry = settings.read_bytes("window/geometry", s)
        key = settings.read_text("window/workspace", "", s)
        if key and key not in BY_KEY:
            notice(f"Ignored the setting window/workspace: expected one of {', '.join(BY_KEY)}, found {key[:40]!r}.",
                   settings.settings_path())
            key = ""
        for ws in WORKSPACES:
            blob = settings.read_bytes(f"window/layouts/{ws.key}", s)
            if blob is not None:
                self.layouts[ws.key] = blob
        legacy = settings.read_bytes("window/state", s)
        if not key and legacy is not None:  # an earlier version's file: its one layout
            self.layouts[DEFAULT] = legacy
        self.current = key or DEFAULT
        self.actions[self.current].setChecked(True)
        refused = False
        if geometry is None or not window.restoreGeometry(geometry):  # Qt checks the blob: no to garbage
            refused = geometry is not None
            window.resize(*default_size(window))
        state = self.layouts.pop(self.current, None)
        if state is not None and not self._restore_state(state):
            refused, state = True, None
        if state is None:
            self._build()
        if refused:
            notice("Ignored the saved window layout (window/geometry, window/state): it could not be restored, "
                   "so the window starts in its default layout.", settings.settings_path())

    def save(self) -> None:
        """Every workspace's layout, the one in use and the window's size, to the settings."""
        window, s = self.window, settings.settings()
        if not self._arrange_on_show or window.isVisible():  # else never shown: nothing of it to keep
            # (shown but closed before its first arrangement ran: what the user saw, which
            # the next start completes with the docks it lacks)
            self.layouts[self.current] = window.saveState()
        s.setValue("window/geometry", window.saveGeometry())
        if self.current in self.layouts:
            s.setValue("window/state", self.layouts[self.current])  # what an earlier version reads
        for key, state in self.layouts.items():
            s.setValue(f"window/layouts/{key}", state)
        s.setValue("window/workspace", self.current)
        s.sync()


def optional_explore_docks(window: QMainWindow, reveal: Callable[[QDockWidget], None]) -> dict[str, QDockWidget]:
    """The Explore and compare docks of the main window (``docks.add_explore_docks``), hidden
    until a workspace places them. They are optional: if they fail to load, the window works
    without them and says so in its status bar."""
    try:
        from .docks import add_explore_docks

        w = cast(Any, window)  # the main window's states
        return add_explore_docks(window, w.model_state, w.latent_state, lambda: w.data_state.dataset,
                                 dataset_changed=w.data_state.changed, place=False, reveal=reveal)
    except Exception as e:  # noqa: BLE001 - a broken optional panel must not stop the app
        for dock in window.findChildren(QDockWidget):  # those made before the failure: never placed
            if dock.objectName().startswith("dock_explore_"):
                dock.hide()
                dock.deleteLater()
        message = f"Explore panels unavailable: {e}"
        QTimer.singleShot(0, lambda: window.statusBar().showMessage(message, 10000))
        return {}


#: three buttons that read as one control: shared borders, the one in use filled
SEGMENTED_STYLE = """
QToolBar { border: none; spacing: 0px; padding: 1px 4px; }
QToolButton { border: 1px solid palette(mid); border-radius: 0px; padding: 1px 10px; margin: 0px; }
QToolButton:checked { background: palette(highlight); color: palette(highlighted-text); }
QToolButton:hover:!checked { background: palette(midlight); }
"""
