"""The window's docks: making one, where they are remembered between sessions, and the
way back to the starting layout (View > Reset Layout).

The Explore docks (``docks.py``) are imported only where they are placed: they are
optional, and the window must work when one of their panels fails to import."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from .. import settings
from ..settings_file import notice

DEFAULT_SIZE = (1400, 900)
DOCK_FEATURES = (QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                 | QDockWidget.DockWidgetFeature.DockWidgetClosable)


def make_dock(window: QMainWindow, title: str, name: str, widget: QWidget,
              area: Qt.DockWidgetArea | None = None) -> QDockWidget:
    """A movable, floatable, closable dock holding ``widget``; added to ``area`` if given.
    ``name`` is the object name saveState/restoreState find the dock by."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setFeatures(DOCK_FEATURES)
    dock.setWidget(widget)
    if area is not None:
        window.addDockWidget(area, dock)
    return dock


class WindowLayout:
    """The layout of ``window``: its three main docks (left, right, bottom) and the
    Explore docks tabbed behind them."""

    def __init__(self, window: QMainWindow, left: QDockWidget, right: QDockWidget, bottom: QDockWidget,
                 explore_docks: dict[str, QDockWidget]) -> None:
        self.window = window
        self.left, self.right, self.bottom = left, right, bottom
        self.explore_docks = explore_docks
        self._default_state = QByteArray()

    def restore(self) -> None:
        """Remember the layout as built (for Reset Layout), then restore the saved one."""
        window = self.window
        self._default_state = window.saveState()
        s = settings.settings()
        geometry, state = settings.read_bytes("window/geometry", s), settings.read_bytes("window/state", s)
        restored = geometry is not None and window.restoreGeometry(geometry)  # Qt checks the blob: no to garbage
        if not restored:
            window.resize(*self.default_size())
            self.default_sizes()
        if state is not None and not window.restoreState(state):
            window.restoreState(self._default_state)
            restored = False
        if not restored and (geometry is not None or state is not None):
            notice("Ignored the saved window layout (window/geometry, window/state): it could not be restored, "
                   "so the window starts in its default layout.", settings.settings_path())

    def default_size(self) -> tuple[int, int]:
        """1400x900, or 90% of a smaller screen (a 1366x768 laptop). The offscreen platform
        (tests, screenshots) reports a tiny fake screen: ignore it there."""
        screen = self.window.screen()
        if screen is None or QGuiApplication.platformName() == "offscreen":
            return DEFAULT_SIZE
        avail = screen.availableGeometry()
        return min(DEFAULT_SIZE[0], int(avail.width() * 0.9)), min(DEFAULT_SIZE[1], int(avail.height() * 0.9))

    def default_sizes(self) -> None:
        self.window.resizeDocks([self.left, self.right], [330, 380], Qt.Orientation.Horizontal)
        self.window.resizeDocks([self.bottom], [300], Qt.Orientation.Vertical)

    def reset(self) -> None:
        window = self.window
        window.restoreState(self._default_state)
        for dock in (self.left, self.right, self.bottom):
            dock.setFloating(False)
            dock.show()
        if self.explore_docks:
            from .docks import place_explore_docks

            for dock in self.explore_docks.values():
                dock.setFloating(False)
            place_explore_docks(window, self.explore_docks)
            for dock in (self.left, self.bottom):
                dock.raise_()  # the main docks in front of the tabs behind them
        self.default_sizes()

    def save(self) -> None:
        s = settings.settings()
        s.setValue("window/geometry", self.window.saveGeometry())
        s.setValue("window/state", self.window.saveState())
        s.sync()
