"""The window's one way to run background work, and its one error contract.

:class:`JobRunner` owns at most one worker thread, a plain ``threading.Thread`` named
``latent-explorer-<name>`` that exits as soon as it has nothing left to do, so an idle runner
holds no thread. A job is a function of a :class:`JobContext`; whatever it returns reaches
the GUI thread through a queued signal. Two modes:

* newest-wins (``newest_wins=True``: the Explore panels, slow decodes): submitting a job asks
  the running one to stop (its ``ctx.cancelled()`` turns true) and replaces one still
  waiting, so dragging a setting never builds a queue of stale renders. Only the newest
  job's result is delivered.
* run-once (``newest_wins=False``: opening a model, loading its data, an evaluation): jobs run
  one after another in the order submitted, and every one's result is delivered.

``cancel()`` only *asks* a running job to stop: a job that can return a partial result
(projection's best-so-far) still delivers it. A job that raises :class:`JobCancelled`
(typically from a progress callback deep in a loop) ends quietly: neither callback runs.

Errors. A job that raises calls ``on_error(exc)`` on the GUI thread, then the runner emits
``failed(error_text(exc))``: the one line a panel shows in the status bar (the error
contract, :mod:`explorer.errors`, which the training run follows too).

Threads. :func:`live_threads` lists every explorer thread still running: the runners' by
their name, QThreads because :func:`register_qthread` recorded them. The tests' leak guard
fails a test that leaves one running. Jobs use one intra-op torch thread: on a 2-core CPU
the other core belongs to the GUI (and to training, when a run is going).
"""
from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from .errors import error_text

#: the prefix of every Python thread the app starts (what live_threads looks for)
THREAD_PREFIX = "latent-explorer-"


class JobCancelled(Exception):
    """Raised inside a job to unwind it once its JobContext is cancelled; a job may catch it
    and return what it has, or let it reach the runner, which then delivers nothing."""


class JobContext:
    """What a job function gets: a stop flag to poll and a progress reporter."""

    def __init__(self, job_id: int, report: Callable[[int, int, int], None]) -> None:
        self.id = job_id
        self._stop = threading.Event()
        self._report = report

    def cancelled(self) -> bool:
        return self._stop.is_set()

    def cancel(self) -> None:
        self._stop.set()

    def progress(self, done: int, total: int) -> None:
        """Report (done, total) from the worker thread; total 0 means "busy, no measure"."""
        self._report(self.id, int(done), int(total))


Job = Callable[[JobContext], Any]


@dataclass
class _Callbacks:
    on_done: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    on_progress: Callable[[int, int], None] | None


class JobRunner(QObject):
    """One background thread, newest-wins or run-once; callbacks run on the GUI thread."""

    #: (done, total) of a job whose result is still wanted; total 0 means "busy, no measure"
    progress = Signal(int, int)
    busy_changed = Signal(bool)
    #: one line a user can act on (error_text), when a job whose result is wanted raised
    failed = Signal(str)

    _progress = Signal(int, int, int)  # job id, done, total (from the worker thread)
    _finished = Signal(int, object, object)  # job id, result, exception

    def __init__(self, name: str, parent: QObject | None = None, newest_wins: bool = True) -> None:
        super().__init__(parent)
        self.name = name
        self.newest_wins = newest_wins
        self._lock = threading.Lock()  # guards _queue, _running and _thread (shared with the worker)
        self._queue: deque[tuple[JobContext, Job]] = deque()
        self._running: JobContext | None = None
        self._thread: threading.Thread | None = None
        self._started: list[threading.Thread] = []  # joined by wait(), even once they let go of _thread
        self._next_id = 0
        # GUI-thread state: the callbacks of jobs whose outcome is still wanted, and the jobs
        # queued or running whose end the GUI thread has not yet seen
        self._callbacks: dict[int, _Callbacks] = {}
        self._outstanding: set[int] = set()
        self._busy = False
        self._progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)

    # -- GUI thread API ------------------------------------------------------------------
    def submit(self, fn: Job, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> int:
        """Run ``fn(ctx)`` in the background and return the job's id. On the GUI thread,
        once it ends: ``on_done(result)``, or ``on_error(exc)`` if it raised; in newest-wins
        mode only while it is still the newest job."""
        self._next_id += 1
        ctx = JobContext(self._next_id, self._report_progress)
        if self.newest_wins:
            self._callbacks.clear()  # older jobs' callbacks can never fire now
        self._callbacks[ctx.id] = _Callbacks(on_done, on_error, on_progress)
        with self._lock:
            if self.newest_wins:
                if self._running is not None:
                    self._running.cancel()
                self._drop_waiting()
            self._queue.append((ctx, fn))
            self._outstanding.add(ctx.id)
            if self._thread is None:
                thread = threading.Thread(target=self._work, name=f"{THREAD_PREFIX}{self.name}", daemon=True)
                self._thread = thread
                self._started = [t for t in self._started if t.is_alive()] + [thread]
                thread.start()
        self._set_busy(True)
        return ctx.id

    def cancel(self) -> None:
        """Ask the jobs to stop early. Newest-wins: the running job is asked, a waiting one
        never starts. Run-once: every job is asked, and still delivers what it returns (a
        waiting one starts with its context already cancelled)."""
        with self._lock:
            if self.newest_wins:
                self._drop_waiting()
            else:
                for ctx, _ in self._queue:
                    ctx.cancel()
            if self._running is not None:
                self._running.cancel()
        if not self._outstanding:
            self._set_busy(False)

    @property
    def busy(self) -> bool:
        """A job is waiting or running, or its result is on its way to the GUI thread."""
        return self._busy

    @property
    def thread(self) -> threading.Thread | None:
        """The worker thread while there is work; None when the runner is idle."""
        return self._thread

    def wait(self, timeout_s: float = 5.0) -> bool:
        """Block until the worker thread has ended (tests, shutdown). True when it has."""
        deadline = time.monotonic() + timeout_s
        for thread in list(self._started):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._started)

    def shutdown(self, timeout_s: float = 2.0) -> bool:
        """Drop the waiting jobs, cancel the running one, forget every callback and wait
        for the thread (the owner is closing)."""
        with self._lock:
            self._drop_waiting()
        self.cancel()
        self._callbacks.clear()
        return self.wait(timeout_s)

    def _drop_waiting(self) -> None:
        """Forget the jobs not yet started (call with the lock held)."""
        for ctx, _ in self._queue:
            self._outstanding.discard(ctx.id)
            self._callbacks.pop(ctx.id, None)
        self._queue.clear()

    # -- worker thread -------------------------------------------------------------------
    def _work(self) -> None:
        torch.set_num_threads(1)  # leave the other core to the GUI (and training, if any)
        while True:
            with self._lock:
                if not self._queue:
                    self._running = None
                    self._thread = None  # set under the lock: submit() starts a new one
                    return
                ctx, fn = self._queue.popleft()
                self._running = ctx
            try:
                result, error = fn(ctx), None
            except BaseException as e:  # noqa: BLE001 - every failure goes to the GUI thread
                result, error = None, e
            _emit(self._finished, ctx.id, result, error)

    def _report_progress(self, job_id: int, done: int, total: int) -> None:
        _emit(self._progress, job_id, done, total)  # queued: dropped in the GUI if no longer wanted

    # -- back on the GUI thread ----------------------------------------------------------
    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        callbacks = self._callbacks.get(job_id)
        if callbacks is None:
            return
        if callbacks.on_progress is not None:
            callbacks.on_progress(done, total)
        self.progress.emit(done, total)

    @Slot(int, object, object)
    def _on_finished(self, job_id: int, result: Any, error: BaseException | None) -> None:
        self._outstanding.discard(job_id)
        callbacks = self._callbacks.pop(job_id, None)
        if not self._outstanding:
            self._set_busy(False)
        if callbacks is None or isinstance(error, JobCancelled):
            return  # superseded, cancelled before it started, or unwound on request
        if error is not None:
            if callbacks.on_error is not None:
                callbacks.on_error(error)
            self.failed.emit(error_text(error))
        elif callbacks.on_done is not None:
            callbacks.on_done(result)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)


def _emit(signal: Any, *args: Any) -> None:
    """Emit from the worker thread; a runner closed meanwhile has no receiver left to tell."""
    try:
        signal.emit(*args)
    except RuntimeError:  # the runner's C++ object is gone (window closed mid-job)
        pass


# ---------------------------------------------------------------------------------------
# thread bookkeeping: tests fail if a test leaves one of these running
# ---------------------------------------------------------------------------------------
_QTHREADS: "weakref.WeakSet[QThread]" = weakref.WeakSet()


def register_qthread(thread: QThread) -> None:
    """Make a QThread (a training run's) visible to :func:`live_threads` while it runs."""
    _QTHREADS.add(thread)


def live_threads() -> list[str]:
    """Descriptions of explorer threads still running (registered QThreads, runner threads)."""
    out = []
    for t in list(_QTHREADS):
        try:
            if t.isRunning():
                out.append(f"QThread {t.objectName() or t!r}")
        except RuntimeError:  # the C++ object is already gone
            pass
    out += [f"thread {t.name}" for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX) and t.is_alive()]
    return out
