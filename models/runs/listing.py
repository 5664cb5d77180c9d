"""Listing run folders cheaply for the run browser and ``runs``: what each says about
itself (config, the last metrics line, the last eval, file times) without loading weights,
and the short names and durations those lists show."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.runs.checkpoint import checkpoint_metadata
from models.runs.run_dir import RunDir


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
        return ", ".join(parts)

    @property
    def headline_value(self) -> float | None:
        """A number to sort runs by their eval: IS when sampled, else minus the test loss
        (higher is better either way); None when never evaluated."""
        for key, sign in (("inception_score", 1.0), ("test_loss", -1.0)):
            if isinstance(self.scores.get(key), (int, float)):
                return sign * float(self.scores[key])
        return None


def _last_json_line(path: Path, tail_bytes: int = 8192) -> dict[str, Any] | None:
    """The last complete JSON line of a (possibly long, possibly crash-truncated) jsonl file,
    reading only its tail."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - tail_bytes))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            return record
    return None


def summarize_run(path: str | Path) -> RunSummary | None:
    """A summary of the run folder at ``path``; None when it is not a run folder (neither a
    ``config.json`` nor a ``checkpoints/`` inside). Never raises for a damaged run: what could
    not be read is named in ``problem``."""
    run = RunDir(path)
    config_path = run.config_path
    if not config_path.is_file() and not run.checkpoints.is_dir():
        return None
    s = RunSummary(path=run.path, has_latest=run.latest.is_file(), has_best=run.best.is_file())
    problems = []
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        s.family = str(config.get("family", "?"))
        s.dataset = str(config.get("dataset", "?"))
    except FileNotFoundError:
        problems.append("no config.json")
    except (OSError, ValueError, AttributeError) as e:
        problems.append(f"config.json unreadable ({type(e).__name__})")
    if s.family == "?" and s.openable:  # older or hand-made folders: the checkpoint knows
        meta = checkpoint_metadata(run.latest if s.has_latest else run.best) or {}
        s.family = str(meta.get("family", s.family))
        try:
            s.dataset = str(json.loads(meta.get("train_state") or "{}").get("dataset", s.dataset))
        except (ValueError, AttributeError):
            pass
    last = _last_json_line(run.metrics_path) if run.metrics_path.is_file() else None
    if last:
        s.step = last.get("step") if isinstance(last.get("step"), int) else None
        s.epoch = last.get("epoch") if isinstance(last.get("epoch"), (int, float)) else None
        s.seconds = last.get("seconds") if isinstance(last.get("seconds"), (int, float)) else None
        s.last = {k: float(v) for k, v in last.items()
                  if k not in ("step", "epoch", "seconds") and isinstance(v, (int, float)) and not isinstance(v, bool)}
    if not s.openable:
        problems.append("no checkpoint yet")
    files = [p for p in (config_path, run.metrics_path, run.latest, run.best) if p.exists()]
    s.modified = max((p.stat().st_mtime for p in files), default=run.path.stat().st_mtime)
    s.samples = run.newest_samples()
    s.scores = run.read_eval() or {}
    s.problem = "; ".join(problems)
    return s


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
    for child in root.iterdir():
        try:
            summary = summarize_run(child) if child.is_dir() else None
        except OSError:  # a folder vanishing or unreadable mid-scan: skip it
            summary = None
        if summary is not None:
            runs.append(summary)
    return sorted(runs, key=lambda r: r.modified, reverse=True)
