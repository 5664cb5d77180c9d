"""Listing run folders cheaply for the run browser and ``runs``: what each says about
itself (config, the last metrics line, the last eval, file times) without loading weights,
and the short names and durations those lists show."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.io.files import FileRefused, describe_os_error, open_regular
from models.runs.checkpoint import CheckpointError, checkpoint_metadata
from models.runs.checkpoint_header import read_header
from models.runs.run_dir import RunDir, _record


def format_duration(seconds: float | None) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on; "" for None (the run browser and ``runs``)."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def model_label(path: str | Path | None, step: int | None = None) -> str:
    """A short name for a model opened from ``path``, for lists that show several: a run's
    checkpoint reads "<run> (latest)" (every run's files are called latest/best, so the file
    name alone says nothing), a run folder its name, any other file its stem; "@ step N"
    when the step is known."""
    if path is None:
        name = "current model"
    else:
        p = Path(path)
        if p.suffix == ".safetensors" and p.parent.name == "checkpoints" and p.parent.parent.name:
            name = f"{p.parent.parent.name} ({p.stem})"
        else:
            name = p.stem if p.suffix == ".safetensors" else p.name
    return f"{name} @ step {step}" if step is not None else name


@dataclass
class RunSummary:
    """What a run folder says about itself, read cheaply (config, the last metrics line,
    file times) without loading any weights."""

    path: Path
    family: str = "?"
    dataset: str = "?"
    step: int | None = None
    epoch: float | None = None
    seconds: float | None = None
    #: the loss terms of the last logged step (``step``/``epoch``/``seconds`` removed)
    last: dict[str, float] = field(default_factory=dict)
    modified: float = 0.0
    has_latest: bool = False
    has_best: bool = False
    samples: Path | None = None
    #: the figures of the last ``eval`` (``eval.json``), {} when never evaluated
    scores: dict[str, Any] = field(default_factory=dict)
    #: why something could not be read ("" when all was well)
    problem: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def openable(self) -> bool:
        return self.has_latest or self.has_best

    @property
    def headline(self) -> str:
        """The last eval in a few characters: what fits the family (``eval``'s own keys)."""
        parts = []
        if isinstance(self.scores.get("test_loss"), (int, float)):
            parts.append(f"test_loss {self.scores['test_loss']:.1f}")
        if isinstance(self.scores.get("inception_score"), (int, float)):
            parts.append(f"IS {self.scores['inception_score']:.2f}")
        if isinstance(self.scores.get("code_accuracy"), (int, float)):
            parts.append(f"code acc {self.scores['code_accuracy']:.3f}")
        if isinstance(self.scores.get("class_accuracy"), (int, float)):
            parts.append(f"class acc {self.scores['class_accuracy']:.3f}")
        return ", ".join(parts)

    @property
    def headline_value(self) -> float | None:
        """A number to sort runs by their eval: IS when sampled, else minus the test loss
        (higher is better either way); None when never evaluated."""
        for key, sign in (("inception_score", 1.0), ("test_loss", -1.0)):
            if isinstance(self.scores.get(key), (int, float)):
                return sign * float(self.scores[key])
        return None


def _last_json_line(path: Path, tail_bytes: int = 8192, most: int = 1 << 22) -> dict[str, Any] | None:
    """The last complete record of a (possibly long, possibly crash-truncated) metrics file,
    reading only its tail (widened up to ``most`` bytes while no record is found there);
    None when there is none. Raises FileRefused for a file that is not a regular, readable one."""
    with open_regular(path, "metrics file") as f:
        size = f.seek(0, os.SEEK_END)
        while True:
            start = max(0, size - tail_bytes)
            f.seek(start)
            lines = f.read(size - start).split(b"\n")
            for line in reversed(lines if start == 0 else lines[1:]):  # the first may be a line's cut end
                record = _record(line)
                if record is not None:
                    return record
            if start == 0 or tail_bytes >= most:
                return None
            tail_bytes *= 4


def summarize_run(path: str | Path) -> RunSummary | None:
    """A summary of the run folder at ``path``; None when it is not a run folder (neither a
    ``config.json`` nor a ``checkpoints/`` inside). Never raises for a damaged run: what could
    not be read is named in ``problem``, one part per file."""
    run = RunDir(path)
    config_path = run.config_path
    if not os.path.lexists(config_path) and not run.checkpoints.is_dir():
        return None
    s = RunSummary(path=run.path, has_latest=run.latest.is_file(), has_best=run.best.is_file())
    problems = []
    try:
        config = run.read_config()
        if config is None:
            problems.append("no config.json")
        else:
            s.family = config.get("family", s.family)
            s.dataset = config.get("dataset") or s.dataset
    except FileRefused as e:
        problems.append(f"config.json unreadable: {e.reason}")
    if s.openable:  # the checkpoint's header: checked, so a bad one shows here, not when opened
        ckpt = run.latest if s.has_latest else run.best
        try:
            header = read_header(ckpt)
            if s.family == "?":  # older or hand-made folders: the checkpoint knows
                s.family = header.family
            if s.dataset == "?" and header.train_state.get("dataset"):
                s.dataset = header.train_state["dataset"]
        except CheckpointError as e:
            problems.append(str(e))
            meta = checkpoint_metadata(ckpt) or {}
            if s.family == "?" and isinstance(meta.get("family"), str):
                s.family = meta["family"][:64]
    try:
        last = _last_json_line(run.metrics_path) if os.path.lexists(run.metrics_path) else None
    except FileRefused as e:
        last = None
        problems.append(str(e))
    if last:
        s.step = last["step"]
        s.epoch = last.get("epoch")
        s.seconds = last.get("seconds")
        s.last = {k: float(v) for k, v in last.items() if k not in ("step", "epoch", "seconds")}
    if not s.openable:
        problems.append("no checkpoint yet")
    s.modified = _modified(run, (config_path, run.metrics_path, run.latest, run.best))
    s.samples = run.newest_samples()
    try:
        s.scores = run.load_eval() or {}
    except FileRefused as e:
        problems.append(str(e))
    s.problem = "; ".join(problems)
    return s


def _modified(run: RunDir, files: tuple[Path, ...]) -> float:
    times = []
    for p in files:
        try:
            times.append(os.stat(p).st_mtime)
        except OSError:
            continue
    if times:
        return max(times)
    try:
        return os.stat(run.path).st_mtime
    except OSError:
        return 0.0


def find_runs(root: str | Path) -> list[RunSummary]:
    """The run folders directly inside ``root`` (where the window and ``train --out`` put
    them), most recently changed first; [] when ``root`` does not exist. A run folder given
    itself is listed alone."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    itself = summarize_run(root)
    if itself is not None:
        return [itself]
    runs = []
    try:
        children = list(root.iterdir())
    except OSError:
        return []
    for child in children:
        try:
            summary = summarize_run(child) if child.is_dir() else None
        except OSError as e:  # a folder unreadable mid-scan: listed with its problem
            summary = RunSummary(path=child, problem=describe_os_error(e, "run folder"))
        except Exception as e:  # noqa: BLE001 - one damaged run never hides the others
            summary = RunSummary(path=child, problem=f"could not be read ({type(e).__name__}: {e})")
        if summary is not None:
            runs.append(summary)
    return sorted(runs, key=lambda r: r.modified, reverse=True)
