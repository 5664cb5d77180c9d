"""Shared plumbing of the Explore panels: background jobs and model snapshots.

Jobs. Each panel owns one :class:`LatestJobRunner`: a single background thread that runs
the *newest* request only. Submitting a job asks the running one to stop (its
``JobContext.cancelled()`` turns true) and replaces any job still waiting, so dragging a
setting never builds a queue of stale renders. Whatever the newest job returns reaches the
GUI thread through a queued signal; results of superseded jobs are dropped. ``cancel()``
only *asks* the newest job to stop: a job that can return a partial result (projection's
best-so-far) still delivers it.

The thread is a plain ``threading.Thread`` named ``latent-explorer-explore-*`` so the
window's thread bookkeeping (``explorer.workers.live_threads``) and the tests' leak guard
see it. It exits as soon as it has nothing to do, so an idle panel holds no thread.

Snapshots. Jobs never touch ``ModelState.model``: the decoder reads it on the GUI thread
and training snapshots write it. A job gets its own deep copy taken under the state's
lock (these models are a few MB at most, a copy is milliseconds), so it may run for
seconds without blocking slider decodes or seeing half of a weight update.
"""
from __future__ import annotations

import copy
import threading
from typing import Any, Callable

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, Signal, Slot

from models.families.base import LatentModel
from models.io.images import to_uint8

from .state import ModelState


# ---------------------------------------------------------------------------------------
# jobs
# ---------------------------------------------------------------------------------------
class JobCancelled(Exception):
    """Raised inside a job (e.g. from a progress callback deep in a loop) to unwind it once
    its JobContext is cancelled; the job catches it and returns what it has."""


class JobContext:
    """What a job function gets: a stop flag to poll and a progress reporter."""

    def __init__(self, job_id: int, runner: "LatestJobRunner") -> None:
        self.id = job_id
        self._stop = threading.Event()
        self._runner = runner

    def cancelled(self) -> bool:
        return self._stop.is_set()

    def cancel(self) -> None:
        self._stop.set()

    def progress(self, done: int, total: int) -> None:
        # a queued signal: safe from the worker thread, dropped in the GUI if superseded
        _emit(self._runner._progress, self.id, int(done), int(total))


Job = Callable[[JobContext], Any]


class LatestJobRunner(QObject):
    """One background thread per panel; the newest submitted job wins."""

    #: (done, total) of the newest job; total 0 means "busy, no measure"
    progress = Signal(int, int)
    busy_changed = Signal(bool)
    #: user-facing text when the newest job raised
    failed = Signal(str)

    _progress = Signal(int, int, int)  # job id, done, total (from the worker thread)
    _finished = Signal(int, object, object)  # job id, result, exception

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._lock = threading.Lock()
        self._pending: tuple[JobContext, Job] | None = None
        self._running: JobContext | None = None
        self._thread: threading.Thread | None = None
        self._latest = 0
        self._callbacks: dict[int, tuple[Callable[[Any], None] | None, Callable[[str], None] | None]] = {}
        self._busy = False
        self._progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)

    # -- GUI thread API ------------------------------------------------------------------
    def submit(self, fn: Job, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None) -> int:
        """Run ``fn(ctx)`` in the background; ``on_done(result)`` on the GUI thread if it is
        still the newest job when it ends. Returns the job id."""
        self._latest += 1
        ctx = JobContext(self._latest, self)
        self._callbacks = {ctx.id: (on_done, on_error)}  # older callbacks can never fire now
        with self._lock:
            if self._running is not None:
                self._running.cancel()
            self._pending = (ctx, fn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"latent-explorer-explore-{self.name}", daemon=True)
                self._thread.start()
        self._set_busy(True)
        return ctx.id

    def cancel(self) -> None:
        """Ask the newest job to stop early; a waiting one never starts."""
        with self._lock:
            if self._pending is not None:
                self._pending = None
                self._callbacks.clear()
            if self._running is not None:
                self._running.cancel()
            idle = self._running is None
        if idle:
            self._set_busy(False)

    @property
    def busy(self) -> bool:
        return self._busy

    def wait(self, timeout_s: float = 5.0) -> bool:
        """Join the thread (tests, shutdown). True when it is gone."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            return not thread.is_alive()
        return True

    def shutdown(self, timeout_s: float = 2.0) -> None:
        self.cancel()
        self._callbacks.clear()
        self.wait(timeout_s)

    # -- worker thread -------------------------------------------------------------------
    def _work(self) -> None:
        torch.set_num_threads(1)  # leave the other core to the GUI (and training, if any)
        while True:
            with self._lock:
                if self._pending is None:
                    self._running = None
                    self._thread = None  # set under the lock: submit() starts a new one
                    return
                ctx, fn = self._pending
                self._pending = None
                self._running = ctx
            try:
                result, error = fn(ctx), None
            except BaseException as e:  # noqa: BLE001 - every failure goes to the GUI as text
                result, error = None, e
            _emit(self._finished, ctx.id, result, error)

    # -- back on the GUI thread ----------------------------------------------------------
    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if job_id == self._latest:
            self.progress.emit(done, total)

    @Slot(int, object, object)
    def _on_finished(self, job_id: int, result: Any, error: BaseException | None) -> None:
        callbacks = self._callbacks.pop(job_id, None)
        if job_id == self._latest:
            self._set_busy(False)
        if callbacks is None:
            return  # superseded or cancelled before it started
        on_done, on_error = callbacks
        if error is not None:
            text = error_text(error)
            if on_error is not None:
                on_error(text)
            self.failed.emit(text)
        elif on_done is not None:
            on_done(result)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)


def _emit(signal: Any, *args: Any) -> None:
    """Emit from the worker thread; a panel closed meanwhile has no receiver left to tell."""
    try:
        signal.emit(*args)
    except RuntimeError:  # the runner's C++ object is gone (window closed mid-job)
        pass


def error_text(exc: BaseException) -> str:
    """One line a user can act on."""
    if isinstance(exc, ImportError):
        return str(exc)
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, (ValueError, RuntimeError, OSError)) and type(exc).__module__ == "builtins":
        return text.splitlines()[0]
    return f"{type(exc).__name__}: {text.splitlines()[0]}"


# ---------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------
def snapshot_model(model_state: ModelState) -> LatentModel | None:
    """A private CPU eval copy of the current model for a background job."""
    with model_state.lock:
        model = model_state.model
        return None if model is None else copy.deepcopy(model).cpu().eval()


def has_encoder(model: LatentModel | None) -> bool:
    return model is not None and model.latent_spec.has_encoder


def dataset_problem(model: LatentModel | None, dataset: Any) -> str | None:
    """Why the model can't be fed this dataset's test images, or None when it can."""
    if model is None:
        return "Open or train a model first."
    if dataset is None:
        return "Load a dataset (train a model or open a checkpoint with its dataset) to use test images."
    ds_shape, m_shape = tuple(dataset.test.image_shape), tuple(model.config.image_shape)
    if ds_shape != m_shape:
        return f"The dataset's images are {ds_shape} but the model reads {m_shape}."
    return None


@torch.no_grad()
def decode_one(model_state: ModelState, flat: np.ndarray) -> np.ndarray | None:
    """Decode one latent on the calling (GUI) thread -> (H, W[, C]) uint8; small images
    decode in well under a millisecond, like the main view's own decodes."""
    with model_state.lock:
        model = model_state.model
        if model is None or np.asarray(flat).shape[0] != model.latent_spec.input_dim:
            return None
        x = model.decode(torch.as_tensor(np.asarray(flat, np.float32))[None]).float().clamp(0, 1)
    return to_display(x[0])


def to_display(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(C, H, W) floats in [0, 1] -> fresh uint8 (H, W) or (H, W, C)."""
    a = to_uint8(image[None])[0]  # (H, W, C)
    return a[..., 0].copy() if a.shape[2] == 1 else np.ascontiguousarray(a)


def parse_indices(text: str, limit: int) -> list[int]:
    """"0, 3, 10-12" -> [0, 3, 10, 11, 12]; ValueError naming the bad part."""
    out: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"{part!r} is not an index or a range like 3-7") from None
    for i in out:
        if not 0 <= i < limit:
            raise ValueError(f"index {i} is out of range: the test set has images 0..{limit - 1}")
    return out
