"""Starting the window: ``main(paths)`` builds the QApplication and the main window, installs
the last-resort exception hook (an uncaught error is shown and the window lives on), opens
the given models (anything File > Open takes, asking first for a file that would run code;
else the bundled demo model) or follows a run another process is writing, and runs the
event loop."""
from __future__ import annotations

import logging
import sys
import traceback

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from . import settings
from .assets import ICON
from .exception_hook import ExceptionHook
from .errors import error_text

log = logging.getLogger("explorer")


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


def main(paths: list[str] | None = None, follow: str | None = None) -> int:
    """Open the window; ``paths`` are models (checkpoints, run folders, models made elsewhere) or images to open;
    ``follow``: a run folder another process is writing, followed live (instead of the demo model)."""
    app = make_app()
    from .session import offer_last_session
    from .window.main_window import MainWindow  # after QApplication: pyqtgraph wants one for some setup

    try:
        window = MainWindow()
    except Exception as e:  # noqa: BLE001 - say why in a box, not only on a terminal the user may not see
        return _could_not_start(e)
    hook = ExceptionHook(lambda text: window.show_status(text, 15000), window)
    hook.install()
    window.show()
    paths = list(paths or [])

    def open_initial() -> None:  # once the event loop runs, so the window paints first
        if follow is not None:
            window.follow.follow(follow)
        elif paths:
            for p in paths:
                window.open_path(p)
        elif not offer_last_session(window):  # off by default: the demo model opens
            window.open_default_model()

    QTimer.singleShot(0, open_initial)
    try:
        return app.exec()
    finally:
        hook.uninstall()


def _could_not_start(error: Exception) -> int:
    details = "".join(traceback.format_exception(error))
    log.error("the window could not start:\n%s", details)
    box = QMessageBox(QMessageBox.Icon.Critical, "Latent Explorer could not start", error_text(error))
    box.setDetailedText(details)
    box.exec()
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
