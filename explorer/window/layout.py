"""The window's docks: making one, and the size the window starts at.

Where the docks go, per workspace, and how layouts are kept between sessions is
``workspaces``. The Explore docks (``docks.py``) are imported only where they are made:
they are optional, and the window must work when one of their panels fails to import."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

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


def default_size(window: QWidget) -> tuple[int, int]:
    """1400x900, or 90% of a smaller screen (a 1366x768 laptop). The offscreen platform
    (tests, screenshots) reports a tiny fake screen: ignore it there."""
    screen = window.screen()
    if screen is None or QGuiApplication.platformName() == "offscreen":
        return DEFAULT_SIZE
    avail = screen.availableGeometry()
    return min(DEFAULT_SIZE[0], int(avail.width() * 0.9)), min(DEFAULT_SIZE[1], int(avail.height() * 0.9))
