"""The window's last resort for errors that nothing else caught.

Every error the app expects (a bad file, a failed job, a diverged run) is said where it
happens. One that slips through (a bug in a slot, a paint event, a stray thread) would
otherwise print a traceback to a terminal the user may not have, and leave the window in
whatever state the half-run code left it. :class:`ExceptionHook` takes the place of
``sys.excepthook`` and ``threading.excepthook`` while the window runs: it logs the
traceback (logger ``explorer``), says the error in one line on the status bar and in a
non-modal message box whose details hold the traceback, and returns, so the event loop goes on.

No dialog storm: a slot that fails on every slider move would raise hundreds of times a
second. While the hook's box is open, and for :data:`REPEAT_WINDOW_S` after the same error,
repeats only count up on the status line ("… (37 times)").
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from types import TracebackType
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from .errors import error_text

log = logging.getLogger("explorer")

#: the same error again within this many seconds only counts up on the status line
REPEAT_WINDOW_S = 30.0
TITLE = "Something went wrong"

ExcInfo = tuple[type[BaseException], BaseException, "TracebackType | None"]


class ExceptionHook(QObject):
    """Shows uncaught errors from any thread on the GUI thread. ``status(text)`` writes the
    status line; the message box is a child of ``parent``."""

    #: (one-line summary, traceback text): queued, so a worker thread's error reaches the GUI
    #: thread, and one raised on the GUI thread is shown after the failing code has unwound
    _reported = Signal(str, str)

    def __init__(self, status: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.parent_widget = parent
        self.box: QMessageBox | None = None
        #: how many errors were reported (tests, and the count on the status line)
        self.count = 0
        self._last: str | None = None
        self._last_time = 0.0
        self._repeats = 0
        self._previous_sys: Callable[..., object] | None = None
        self._previous_thread: Callable[..., object] | None = None
        self._reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    # -- installing --------------------------------------------------------------------
    def install(self) -> None:
        if self._previous_sys is not None:
            return
        self._previous_sys, self._previous_thread = sys.excepthook, threading.excepthook
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        """Put back the hooks found at install (only where ours is still the one in place)."""
        if self._previous_sys is None:
            return
        if sys.excepthook == self._sys_hook:
            sys.excepthook = self._previous_sys
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._previous_thread  # type: ignore[assignment]
        self._previous_sys = self._previous_thread = None

    @property
    def installed(self) -> bool:
        return self._previous_sys is not None

    # -- the hooks (any thread) --------------------------------------------------------
    def _sys_hook(self, etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(etype, (KeyboardInterrupt, SystemExit)) and self._previous_sys is not None:
            self._previous_sys(etype, value, tb)  # Ctrl+C in a terminal still ends the app
            return
        self.report((etype, value, tb), "the window")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        where = f"thread {args.thread.name}" if args.thread is not None else "a thread"
        self.report((args.exc_type, args.exc_value, args.exc_traceback), where)

    def report(self, exc_info: ExcInfo, where: str) -> None:
        """Log one error and have it shown on the GUI thread; callable from any thread."""
        etype, value, tb = exc_info
        details = f"In {where}:\n" + "".join(traceback.format_exception(etype, value, tb))
        log.error("uncaught error %s", details)
        try:
            self._reported.emit(error_text(value), details)
        except RuntimeError:  # the hook's QObject is gone (the window closed): the log has it
            pass

    # -- on the GUI thread -------------------------------------------------------------
    @Slot(str, str)
    def _show(self, summary: str, details: str) -> None:
        self.count += 1
        now = time.monotonic()
        repeat = summary == self._last and now - self._last_time < REPEAT_WINDOW_S
        self._repeats = self._repeats + 1 if repeat else 1
        self._last, self._last_time = summary, now
        times = f" ({self._repeats} times)" if self._repeats > 1 else ""
        self.status(f"{TITLE}: {summary}{times}")
        if self.box is not None or repeat:
            return  # one box at a time; repeats only count on the status line
        box = QMessageBox(QMessageBox.Icon.Critical, TITLE,
                          f"{summary}\n\nThe window keeps working, but what you just did may not have "
                          "finished. The details are for a bug report.",
                          QMessageBox.StandardButton.Ok, self.parent_widget)
        box.setDetailedText(details)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(self._box_closed)
        self.box = box
        box.show()

    @Slot()
    def _box_closed(self) -> None:
        self.box = None
