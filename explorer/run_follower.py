"""Following a run folder that another process is writing (``latent-explorer train`` here,
or on a GPU box through a shared or mounted folder): the window's state object for it.

    QFileSystemWatcher event ─┐ (debounced)
    poll timer (every ~2 s) ──┴─> scan job: models.runs.watch.RunWatch.scan ─> RunChanges
        -> metrics_added(records) / metrics_reset, samples_changed(path) + samples_ready(image),
           checkpoint_changed(path) ─> (auto, or reload_now) load job ─> checkpoint_loaded(ckpt)
    status_changed("following (last update 3 s ago)" | "run finished (step N)" | "no update for N min")

The watcher only makes a change show sooner. The poll always runs: a network filesystem
delivers no events, and a file replaced by rename (every checkpoint and sample grid is written
so) drops out of the watch list until it is added again after the next scan.

Everything that reads files runs in this object's job runners (a stat on a stalled network
mount can take seconds): scans one at a time (a change noticed during a scan asks for one more
scan, never a queue), checkpoint loads newest-wins, through the app's validated loader
(``load_checkpoint``). A checkpoint replaced while it is read (the signature before and after
differ) is read again; a read that fails is retried on its next change, or once more a poll
later, and reported (``problem``, a line for the status bar, never a dialog) only when the
same unchanged file fails twice. What "finished" means is :func:`models.runs.watch.run_outcome`'s.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from models.runs.checkpoint import Checkpoint, load_checkpoint
from models.runs.tail import Signature, signature
from models.runs.watch import SETTLE_S, RunChanges, RunWatch

from .errors import error_text
from .jobs import JobContext, JobRunner

#: how often the folder is looked at whatever the watcher says
POLL_MS = 2000
#: how long after a watcher event the scan starts (writes come in bursts)
DEBOUNCE_MS = 150
#: a run quiet this long says "no update for N min" instead of "following"
STALE_AFTER_S = 600.0


def age_text(seconds: float) -> str:
    """``3 s``, ``4 min``, ``2 h 5 min``: how long ago, in the status bar's words."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds // 60 % 60} min"


def status_text(now: float, last_update: float | None, outcome: str | None, step: int | None,
                stale_after_s: float = STALE_AFTER_S) -> str:
    """The follower's status line (wall-clock times in seconds)."""
    at = f" (step {step})" if step is not None else ""
    if outcome == "done":
        return f"run finished{at}"
    if outcome == "stopped":
        return f"run stopped{at}"
    if last_update is None:
        return "following (nothing written yet)"
    age = now - last_update
    if age >= stale_after_s:
        return f"no update for {age_text(age)}"
    return f"following (last update {age_text(age)} ago)"


@dataclass
class _Loaded:
    """What a load job ends with (never raised: a failed read is the follower's to judge)."""

    signature: Signature | None
    checkpoint: Checkpoint | None = None
    error: BaseException | None = None
    #: the file changed while it was read: the next change is read, this failure is not one
    changing: bool = False


def _load(path: Path, expected: Signature | None, ctx: JobContext) -> _Loaded:
    """Read ``path`` through the validated loader if it is still the file whose header the
    scan checked (``expected``) and stays so while it is read."""
    before = signature(path)
    if before != expected or ctx.cancelled():
        return _Loaded(before, changing=True)  # replaced since: its header has not been checked yet
    try:
        ckpt = load_checkpoint(path, "cpu")
    except Exception as e:  # noqa: BLE001 - judged on the GUI thread (a write in progress or damage)
        return _Loaded(before, changing=signature(path) != before, error=e)
    if signature(path) != before:  # replaced mid-read: header and tensors may come from different files
        return _Loaded(before, changing=True)
    return _Loaded(before, ckpt)


class RunFollower(QObject):
    """Follows the run folder ``path`` once :meth:`start` is called (see the module)."""

    #: records completed since the last delivery, in file order (dicts as RunDir.read_metrics gives)
    metrics_added = Signal(list)
    #: metrics.jsonl was truncated or rewritten: the records that follow start its history again
    metrics_reset = Signal()
    #: a newer sample grid (its path); samples_ready carries its pixels (uint8 array), read off the GUI thread
    samples_changed = Signal(str)
    samples_ready = Signal(object)
    #: a new latest checkpoint whose header passed the checks (its step: ``checkpoint_step``)
    checkpoint_changed = Signal(str)
    #: the model read from the newest checkpoint (auto reload, or after reload_now): a Checkpoint
    checkpoint_loaded = Signal(object)
    status_changed = Signal(str)
    #: a file that stays unreadable: one line for the status bar, said once per problem
    problem = Signal(str)
    #: whether a checkpoint newer than the last one loaded is on disk
    reload_available_changed = Signal(bool)
    #: a look at the folder has ended (whatever it found)
    scanned = Signal()

    def __init__(self, path: str | Path, parent: QObject | None = None, *, poll_ms: int = POLL_MS,
                 use_watcher: bool = True, auto_reload: bool = False, stale_after_s: float = STALE_AFTER_S,
                 settle_s: float = SETTLE_S, debounce_ms: int = DEBOUNCE_MS,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self.path = Path(path).expanduser()
        self.clock = clock
        self.stale_after_s = float(stale_after_s)
        self._auto_reload = bool(auto_reload)
        self._watch = RunWatch(self.path, settle_s=settle_s)  # touched only by the scan job
        self._scans = JobRunner("follow-scan", self, newest_wins=False)
        self._loads = JobRunner("follow-load", self, newest_wins=True)
        self._poll = QTimer(self)
        self._poll.setInterval(max(10, int(poll_ms)))
        self._poll.timeout.connect(self._on_tick)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(max(0, int(debounce_ms)))
        self._soon.timeout.connect(self.scan_now)
        self.watcher: QFileSystemWatcher | None = None
        if use_watcher:
            self.watcher = QFileSystemWatcher(self)
            self.watcher.directoryChanged.connect(self._on_event)
            self.watcher.fileChanged.connect(self._on_event)
        self._running = False
        self._scanning = False
        self._scan_again = False
        #: wall-clock time of the last change seen (None before anything was written)
        self.last_update: float | None = None
        #: "done" / "stopped" once the run has ended, else None
        self.outcome: str | None = None
        self.status = ""
        #: the newest checkpoint whose header passed, and its step
        self.checkpoint_path: Path | None = None
        self.checkpoint_step: int | None = None
        self._seen: Signature | None = None
        self._loaded: Signature | None = None
        self.loaded_step: int | None = None
        self._want_load = False
        self._loading = False
        self._load_failures: tuple[Signature | None, int] = (None, 0)
        self._blocked: Signature | None = None  # a checkpoint replaced before it could be loaded
        #: the newest sample grid's pixels (what samples_ready carried)
        self.samples_image: Any = None
        self.records_seen = 0
        self._said: set[str] = set()

    # -- control -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    @property
    def auto_reload(self) -> bool:
        return self._auto_reload

    def set_auto_reload(self, on: bool) -> None:
        """Load every new checkpoint as it appears; turning it on loads a newer one now."""
        self._auto_reload = bool(on)
        if on and self.reload_available:
            self.reload_now()

    @property
    def reload_available(self) -> bool:
        return self._seen is not None and self._seen != self._loaded

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._poll.start()
        self._watch_paths()
        self.scan_now()

    def stop(self) -> None:
        """Stop following: no timer, no watched path and no worker thread is left. Safe twice."""
        self._running = False
        self._poll.stop()
        self._soon.stop()
        if self.watcher is not None:
            paths = self.watcher.files() + self.watcher.directories()
            if paths:
                self.watcher.removePaths(paths)
        self._scans.shutdown()
        self._loads.shutdown()
        self._scanning = self._loading = False

    def scan_now(self) -> None:
        """Look at the folder now (or right after the scan under way)."""
        if not self._running:
            return
        if self._scanning:
            self._scan_again = True
            return
        self._scanning, self._scan_again = True, False
        self._scans.submit(lambda _ctx: self._watch.scan(), self._on_scanned, self._on_scan_failed)

    def reload_now(self) -> None:
        """Load the newest checkpoint (it arrives as ``checkpoint_loaded``); when none has
        been seen yet, or it is being replaced, the next one whose header passes is loaded."""
        if self._seen is not None and self._seen == self._loaded:
            return  # the newest is the one shown
        self._want_load = True
        if self._running and self._wants_load():
            self._start_load()

    # -- scanning ------------------------------------------------------------------------
    def _on_event(self, _path: str) -> None:
        if self._running and not self._soon.isActive():
            self._soon.start()  # not restarted by later events: a steady stream of writes still scans

    def _on_tick(self) -> None:
        self.scan_now()
        self._update_status()

    def _on_scan_failed(self, error: BaseException) -> None:  # RunWatch.scan does not raise for a file's content
        self._scanning = False
        self._say(f"Could not look at {self.path.name}: {error_text(error)}")
        self.scanned.emit()

    def _on_scanned(self, changes: RunChanges) -> None:
        self._scanning = False
        if not self._running:
            return
        now = self.clock()
        if self.last_update is None and changes.newest_mtime is not None:
            self.last_update = min(now, changes.newest_mtime)  # the files' own age when first seen
        elif changes.changed:
            self.last_update = now
        if changes.reset:
            self.metrics_reset.emit()
        if changes.records:
            self.records_seen += len(changes.records)
            self.metrics_added.emit(changes.records)
        if changes.samples is not None:
            self.samples_image = changes.samples_image
            self.samples_changed.emit(str(changes.samples))
            self.samples_ready.emit(changes.samples_image)
        seen = changes.checkpoint
        if seen is not None:
            was_available = self.reload_available
            self.checkpoint_path, self.checkpoint_step, self._seen = seen.path, seen.step, seen.signature
            self.checkpoint_changed.emit(str(seen.path))
            if self.reload_available != was_available:
                self.reload_available_changed.emit(self.reload_available)
        for text in changes.problems:
            self._say(text)
        self.outcome = changes.outcome
        self._update_status()
        self._watch_paths()  # files replaced by rename left the watch list
        if self._wants_load():
            self._start_load()
        if changes.more or self._scan_again:
            self.scan_now()
        self.scanned.emit()

    def _watch_paths(self) -> None:
        if self.watcher is None or not self._running:
            return
        run = self._watch.run
        watched = set(self.watcher.files()) | set(self.watcher.directories())
        for p in (run.path, run.checkpoints, run.samples, run.metrics_path, run.latest):
            if str(p) not in watched and p.exists():
                self.watcher.addPath(str(p))

    def _update_status(self) -> None:
        text = status_text(self.clock(), self.last_update, self.outcome, self.checkpoint_step, self.stale_after_s)
        if text != self.status:
            self.status = text
            self.status_changed.emit(text)

    def _say(self, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            self.problem.emit(text)

    # -- loading -------------------------------------------------------------------------
    def _wants_load(self) -> bool:
        if self._loading or not self.reload_available or not (self._auto_reload or self._want_load):
            return False
        if self._seen == self._blocked:
            return False  # replaced before it was read: its successor is loaded once its header passes
        failed, count = self._load_failures
        return failed != self._seen or count < 2  # an unchanged file that failed twice waits for its next change

    def _start_load(self) -> None:
        path, expected = self.checkpoint_path, self._seen
        if path is None:
            return
        self._loading = True
        self._loads.submit(lambda ctx: _load(path, expected, ctx), self._on_loaded, self._on_load_error)

    def _on_load_error(self, error: BaseException) -> None:  # _load returns failures; this is a bug's path
        self._loading = False
        self._say(error_text(error))

    def _on_loaded(self, result: _Loaded) -> None:
        self._loading = False
        if not self._running:
            return
        if result.checkpoint is not None:
            self._loaded, self._want_load, self._load_failures = result.signature, False, (None, 0)
            self.loaded_step = result.checkpoint.train_state.get("step")
            self.checkpoint_loaded.emit(result.checkpoint)
            self.reload_available_changed.emit(self.reload_available)
            if self._wants_load():  # a newer one came while this one was read
                self._start_load()
            return
        if result.changing:
            self._blocked = self._seen
            self.scan_now()  # the scan checks the new file's header; its load follows
            return
        failed, count = self._load_failures
        count = count + 1 if failed == result.signature else 1
        self._load_failures = (result.signature, count)
        if count >= 2 and result.error is not None:
            self._say(f"Could not load the run's newest checkpoint: {error_text(result.error)}")


def same_architecture(a: Any, b: Any) -> bool:
    """Whether ``b``'s weights load into ``a`` as they are (same family, config and tensors)."""
    try:
        if type(a) is not type(b) or a.config.to_dict() != b.config.to_dict():
            return False
        sa, sb = a.state_dict(), b.state_dict()
    except AttributeError:
        return False
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


def apply_checkpoint(model_state: Any, ckpt: Checkpoint) -> bool:
    """Show a followed run's newest checkpoint: its weights copied into the open model when
    that has the same architecture (the sliders, the latent point and the panels stay), else
    set as a new model. Returns whether it was copied in place."""
    current = model_state.model
    if current is not None and same_architecture(current, ckpt.model):
        with model_state.lock:
            model_state.train_state = dict(ckpt.train_state)
            model_state.source = ckpt.path
        model_state.load_weights(ckpt.model.state_dict())
        return True
    model_state.set_model(ckpt.model, ckpt.path, ckpt.train_state)
    return False
