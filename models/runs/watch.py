"""Following a run folder that another process is writing: what changed since the last look.

:class:`RunWatch` is polled (the window's follower calls :meth:`~RunWatch.scan` every few
seconds, and when the filesystem says something changed); each scan reports
(:class:`RunChanges`) the metrics records completed since the last scan
(:class:`models.runs.tail.MetricsTail`), a newer sample grid (read, as the app reads any
image), a replaced ``latest`` checkpoint (its header checked, no tensor read), and whether the
run has finished. A file caught mid-write is not an error: a checkpoint whose header cannot
be read is looked at again when it changes, and named in ``problems`` only when it stays
broken and unchanged for ``settle_s`` seconds over at least two reads.

When a run has finished (:func:`run_outcome`): the files carry no "done" mark today, so it
is inferred, and only where that is sure. The latest checkpoint's ``train_state`` says the
step it holds and the run's ``train_config`` (``steps``, or ``epochs`` with the steps per
epoch, which is ``step / epoch`` for a run counted from step 0). That gives the step the run
ends at only for a run written in one go from its first step: the metrics file's first
record is within one ``log_every`` of step 0 and its ``seconds`` never went backwards (a
continuation counts them from 0 again and its ``steps`` count from where it resumed). A
``train_state["end"]`` of "done" or "stopped", if a writer records it, is taken as it is. A
run stopped early, killed, or continued into its folder is never called finished: the
caller says how long it has been quiet instead.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.io.files import FileRefused
from models.io.images import load_png
from models.runs.checkpoint_header import CheckpointError, read_header
from models.runs.run_dir import RunDir
from models.runs.tail import MetricsTail, Signature, signature

#: a checkpoint that stays unreadable and unchanged this long is a problem, not a write in progress
SETTLE_S = 30.0
#: what a finished run's outcome can be
OUTCOMES = ("done", "stopped")


@dataclass
class CheckpointSeen:
    """A new ``latest`` checkpoint whose header passed the checks."""

    path: Path
    signature: Signature
    train_state: dict[str, Any]

    @property
    def step(self) -> int | None:
        step = self.train_state.get("step")
        return step if isinstance(step, int) and not isinstance(step, bool) else None


@dataclass
class RunChanges:
    """What one :meth:`RunWatch.scan` found new."""

    records: list[dict[str, Any]] = field(default_factory=list)
    #: metrics.jsonl was truncated or rewritten: ``records`` begin the history again
    reset: bool = False
    #: more is waiting (metrics beyond one read, a file caught mid-replace): scan again soon
    more: bool = False
    #: a sample grid newer than the last one reported, and its pixels (uint8, H x W or H x W x 3)
    samples: Path | None = None
    samples_image: np.ndarray | None = None
    checkpoint: CheckpointSeen | None = None
    #: files that stay unreadable, each said once, "<file>: <why>"
    problems: list[str] = field(default_factory=list)
    #: "done", "stopped" or None (still running, or not known): see the module docstring
    outcome: str | None = None
    #: the newest modification time (wall clock) of the files looked at, None when there are none
    newest_mtime: float | None = None

    @property
    def changed(self) -> bool:
        return bool(self.records or self.reset or self.samples is not None or self.checkpoint is not None)


class RunWatch:
    """The state of one followed run folder between scans (see the module)."""

    def __init__(self, path: str | Path, settle_s: float = SETTLE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.run = RunDir(path)
        self.tail = MetricsTail(self.run.metrics_path)
        self.settle_s = float(settle_s)
        self.clock = clock
        self._samples: tuple[Path, Signature] | None = None
        self._checkpoint: Signature | None = None  # the latest accepted
        #: the train_state of the newest accepted checkpoint ({} before one)
        self.checkpoint_state: dict[str, Any] = {}
        #: per file kind: the signature of the file that failed, when it first did, how many reads failed
        self._failed: dict[str, tuple[Signature, float, int]] = {}
        self._said: set[str] = set()

    def scan(self) -> RunChanges:
        """Look at the run folder once; never raises for what is in it."""
        out = RunChanges()
        self._scan_metrics(out)
        self._scan_samples(out)
        self._scan_checkpoint(out)
        out.outcome = run_outcome(self.checkpoint_state, self.tail.first_step, self.tail.restarted, self.tail.last_step)
        times = [s.mtime_ns for s in map(signature, (self.run.metrics_path, self.run.latest)) if s is not None]
        if self._samples is not None:
            times.append(self._samples[1].mtime_ns)
        out.newest_mtime = max(times) / 1e9 if times else None
        return out

    def _say(self, out: RunChanges, text: str) -> None:
        if text not in self._said:
            self._said.add(text)
            out.problems.append(text)

    def _scan_metrics(self, out: RunChanges) -> None:
        try:
            read = self.tail.read()
        except FileRefused as e:
            self._say(out, str(e))
            return
        out.records, out.reset, out.more = read.records, read.reset, read.more

    def _scan_samples(self, out: RunChanges) -> None:
        try:
            newest = self.run.newest_samples()
        except OSError:
            return
        sig = signature(newest) if newest is not None else None
        if newest is None or sig is None or self._samples == (newest, sig):
            return
        try:
            image = load_png(newest)
        except (FileRefused, OSError) as e:  # a copy in progress (a synced folder), or damage
            self._note_failure(out, "samples", newest, sig, str(e))
            return
        self._samples = (newest, sig)
        self._failed.pop("samples", None)
        out.samples, out.samples_image = newest, image

    def _scan_checkpoint(self, out: RunChanges) -> None:
        path = self.run.latest
        sig = signature(path)
        if sig is None or sig == self._checkpoint:
            return
        try:
            header = read_header(path)
        except CheckpointError as e:
            self._note_failure(out, "checkpoint", path, sig, str(e))
            return
        if signature(path) != sig:  # replaced while its header was read: what was read may be either file
            out.more = True
            return
        self._checkpoint = sig
        self._failed.pop("checkpoint", None)
        self.checkpoint_state = dict(header.train_state)
        out.checkpoint = CheckpointSeen(path, sig, self.checkpoint_state)

    def _note_failure(self, out: RunChanges, kind: str, path: Path, sig: Signature, text: str) -> None:
        """A file that could not be read: a write in progress until it stays so (unchanged
        for ``settle_s`` over two reads or more); then ``text`` is said, once."""
        now = self.clock()
        if signature(path) != sig:  # changed while being read: look again soon
            out.more = True
            return
        failed = self._failed.get(kind)
        if failed is None or failed[0] != sig:
            self._failed[kind] = (sig, now, 1)
            return
        first, count = failed[1], failed[2] + 1
        self._failed[kind] = (sig, first, count)
        if count >= 2 and now - first >= self.settle_s:
            self._say(out, text)


def planned_steps(train_config: dict[str, Any], step: int, epoch: Any) -> int | None:
    """The step a run started at step 0 ends at, as the training loop computes it: its
    ``steps``, else ``epochs`` (default 1) times the steps per epoch (``step / epoch`` for
    such a run); None when that cannot be told (no epoch yet)."""
    steps = train_config.get("steps")
    if isinstance(steps, int) and not isinstance(steps, bool):
        return steps
    epochs = train_config.get("epochs") or 1
    if not isinstance(epoch, (int, float)) or not isinstance(epochs, (int, float)) or not epoch > 0 \
            or not math.isfinite(epoch):
        return None
    per_epoch = max(1, round(step / epoch))
    return round(epochs * per_epoch)


def run_outcome(train_state: dict[str, Any], first_step: int | None, restarted: bool,
                last_step: int | None) -> str | None:
    """"done" / "stopped" when the run whose latest checkpoint has ``train_state`` has
    ended, None while it runs or when that is not known (see the module docstring).
    ``first_step``, ``restarted``, ``last_step``: its metrics file's first record's step
    (None: unknown), whether its ``seconds`` went backwards, its last record's step."""
    step = train_state.get("step") if train_state else None
    if not isinstance(step, int) or isinstance(step, bool):
        return None
    if last_step is not None and last_step > step:
        return None  # metrics went on past the checkpoint: a run (or its continuation) is writing
    end = train_state.get("end")
    if end in OUTCOMES:
        return str(end)
    config = train_state.get("train_config")
    log_every = config.get("log_every") if isinstance(config, dict) else None
    if first_step is None or restarted or not isinstance(log_every, int) or first_step > log_every:
        return None  # not known to be one run from step 0: its planned end cannot be computed
    total = planned_steps(config, step, train_state.get("epoch"))  # type: ignore[arg-type]
    if total is None or step < total or last_step is None or last_step < step:
        return None  # a done run logs its last step: until that line is read, it is not over
    return "done"
