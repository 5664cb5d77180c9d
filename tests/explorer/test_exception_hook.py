"""The last-resort exception hook keeps the window alive and says the error once; the test
guard fails any test during which an exception went uncaught."""
from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from explorer.exception_hook import TITLE, ExceptionHook


class Emitter(QObject):
    fire = Signal()


def _raise_slot() -> None:
    raise ValueError("a slot that fails")


def _raise_in_a_thread() -> None:
    def boom() -> None:
        raise RuntimeError("a thread that fails")

    t = threading.Thread(target=boom, name="stray")
    t.start()
    t.join()


@pytest.mark.qt_no_exception_capture  # pytest-qt's capture off: the guard alone must see it
def test_the_guard_fails_a_test_whose_slot_raised(qtbot, no_uncaught_exceptions):
    guard = no_uncaught_exceptions
    emitter = Emitter()
    emitter.fire.connect(_raise_slot)
    emitter.fire.emit()
    QTimer.singleShot(0, _raise_slot)  # and from the event loop
    qtbot.wait(20)
    assert len(guard.seen) == 2 and all("a slot that fails" in s for s in guard.seen)
    with pytest.raises(pytest.fail.Exception, match="2 uncaught exception"):
        guard.check()
    assert guard.seen == []  # said once: the test itself passes from here


def test_the_guard_fails_a_test_whose_thread_raised(no_uncaught_exceptions, monkeypatch):
    guard = no_uncaught_exceptions
    monkeypatch.setattr(guard, "_thread", lambda args: None)  # not on to pytest's hook: no warning
    _raise_in_a_thread()
    assert len(guard.seen) == 1 and "a thread that fails" in guard.seen[0] and "stray" in guard.seen[0]
    with pytest.raises(pytest.fail.Exception, match="a thread that fails"):
        guard.check()


@pytest.fixture
def hook(qtbot):
    status = QLabel()
    qtbot.addWidget(status)
    h = ExceptionHook(status.setText, status)
    h.install()
    yield h, status
    h.uninstall()
    if h.box is not None:
        h.box.close()


def test_the_hook_shows_one_box_and_counts_repeats(qtbot, hook):
    h, status = hook
    assert sys.excepthook == h._sys_hook and threading.excepthook == h._thread_hook
    emitter = Emitter()
    emitter.fire.connect(_raise_slot)
    for _ in range(50):  # a storm: one box, the rest counted on the status line
        emitter.fire.emit()
    qtbot.waitUntil(lambda: h.count == 50)
    assert h.box is not None and h.box.isVisible() and not h.box.isModal()
    assert h.box.windowTitle() == TITLE
    assert "a slot that fails" in h.box.text() and "keeps working" in h.box.text()
    assert "Traceback" in h.box.detailedText() and "_raise_slot" in h.box.detailedText()
    assert status.text() == f"{TITLE}: a slot that fails (50 times)"
    boxes = [w for w in status.findChildren(type(h.box))]
    assert len(boxes) == 1
    # the app is alive: the event loop still runs timers and slots
    ticks = []
    QTimer.singleShot(0, lambda: ticks.append(1))
    qtbot.waitUntil(lambda: ticks == [1])


def test_the_hook_reports_a_worker_threads_error_on_the_gui_thread(qtbot, hook):
    h, status = hook
    _raise_in_a_thread()
    qtbot.waitUntil(lambda: h.count == 1)
    assert "a thread that fails" in status.text()
    assert h.box is not None and "stray" in h.box.detailedText()


def test_a_new_error_after_the_box_is_closed_gets_a_box(qtbot, hook):
    h, _status = hook
    h.report((ValueError, ValueError("first"), None), "the window")
    qtbot.waitUntil(lambda: h.box is not None)
    h.box.close()
    qtbot.waitUntil(lambda: h.box is None)
    h.report((KeyError, KeyError("second"), None), "the window")
    qtbot.waitUntil(lambda: h.box is not None)
    assert "second" in h.box.text()


def test_uninstall_puts_back_the_hooks_it_found(qtbot):
    before_sys, before_thread = sys.excepthook, threading.excepthook
    label = QLabel()
    qtbot.addWidget(label)
    h = ExceptionHook(label.setText, label)
    h.install()
    h.uninstall()
    assert sys.excepthook == before_sys and threading.excepthook == before_thread


def test_main_runs_the_window_under_the_hook_and_takes_it_off_after(qtbot, monkeypatch, vae_checkpoint):
    from PySide6.QtWidgets import QApplication

    from explorer import app as app_module
    from explorer.window.main_window import MainWindow

    before = sys.excepthook
    seen = {}

    def fake_exec(self) -> int:  # the event loop, for as long as it takes to open the file
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        seen["hook"] = sys.excepthook
        qtbot.waitUntil(lambda: window.model_state.source == vae_checkpoint, timeout=10_000)
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    assert app_module.main([str(vae_checkpoint)]) == 0
    assert isinstance(getattr(seen["hook"], "__self__", None), ExceptionHook)
    assert sys.excepthook == before


def test_a_window_that_cannot_start_says_why_in_a_box(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from explorer import app as app_module
    from explorer.window import main_window

    shown = []

    def broken(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(main_window, "MainWindow", broken)
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append((box.windowTitle(), box.text())) or 0)
    assert app_module.main([]) == 1
    assert shown == [("Latent Explorer could not start", "the disk is full")]
