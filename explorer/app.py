"""Starting the window: ``main(paths)`` builds the QApplication and the main window, opens
the given checkpoints (or the bundled demo model) and runs the event loop."""
from __future__ import annotations

import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from . import settings
from .assets import ICON


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (the existing one when there is one: tests, notebooks)."""
    app = QApplication.instance()
    if app is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(settings.ORGANIZATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationDisplayName(settings.APPLICATION)
    if ICON.exists():
        app.setWindowIcon(QIcon(str(ICON)))
    return app  # type: ignore[return-value]


def main(paths: list[str] | None = None) -> int:
    """Open the window; ``paths`` are checkpoints, run folders or images to open."""
    app = make_app()
    from .window.main_window import MainWindow  # after QApplication: pyqtgraph wants one for some setup

    window = MainWindow()
    window.show()
    paths = list(paths or [])

    def open_initial() -> None:  # once the event loop runs, so the window paints first
        if paths:
            for p in paths:
                window.open_path(p)
        else:
            window.open_default_model()

    QTimer.singleShot(0, open_initial)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
