"""A run folder: ``config.json``, ``checkpoints/`` (latest and best), ``metrics.jsonl``,
``samples/`` and ``eval.json``. :class:`RunDir` names every part of this layout;
:mod:`models.runs.listing` reads many run folders through it for the run browser."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, BinaryIO

import torch

from models.families.base import LatentModel
from models.io.atomic import atomic_write_bytes, remove_stale_temp_files
from models.io.images import grid, save_png
from models.runs.checkpoint import checkpoint_state, save_checkpoint


#: far longer than any metrics record: a longer last line is damage, dropped without being read
_LONGEST_RECORD = 1 << 20


class RunDir:
    """The files of one run folder; ``create`` makes its folders, the rest read and write them."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.checkpoints = self.path / "checkpoints"
        self.samples = self.path / "samples"
        self.metrics_path = self.path / "metrics.jsonl"
        self.config_path = self.path / "config.json"
        #: the last ``eval`` of this run (what the run browser shows)
        self.eval_path = self.path / "eval.json"
        self.latest = self.checkpoints / "latest.safetensors"
        self.best = self.checkpoints / "best.safetensors"
        self.best_score = math.inf

    def create(self) -> "RunDir":
        for d in (self.path, self.checkpoints, self.samples):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def open_for_appending(self) -> "RunDir":
        """``create``, and mend what a killed run left behind, before a run (new or
        continued) writes here: a last metrics line cut short (by a crash or a full disk),
        which the next record would otherwise be glued onto, and the temporary files of
        checkpoint and sample writes that were killed midway."""
        self.create()
        self._repair_metrics_tail()
        for folder in (self.path, self.checkpoints, self.samples):
            remove_stale_temp_files(folder)
        return self

    def write_eval(self, result: dict[str, Any]) -> None:
        atomic_write_bytes(self.eval_path, json.dumps(result, indent=2, default=str).encode())

    def read_eval(self) -> dict[str, Any] | None:
        """The last eval's figures; None when there is none or it cannot be read."""
        try:
            result = json.loads(self.eval_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return result if isinstance(result, dict) else None

    def best_checkpoint_state(self) -> dict[str, Any] | None:
        """The training state stored in best.safetensors (cheap: reads the header only)."""
        return checkpoint_state(self.best)

    def latest_checkpoint_state(self) -> dict[str, Any] | None:
        """The training state stored in latest.safetensors (header only)."""
        return checkpoint_state(self.latest)

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path | None) -> "RunDir | None":
        """The run folder a checkpoint belongs to: ``<run>`` for ``<run>/checkpoints/x.safetensors``."""
        if checkpoint is None:
            return None
        path = Path(checkpoint).expanduser()
        if path.parent.name != "checkpoints" or path.suffix != ".safetensors":
            return None
        return cls(path.parent.parent)

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_bytes(self.config_path, json.dumps(config, indent=2, default=str).encode())

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """The metrics records, one per log; a line that is not a JSON object (cut short by a
        crash, or damaged) is skipped."""
        try:
            data = self.metrics_path.read_bytes()
        except FileNotFoundError:
            return []
        return [r for r in map(_record, data.split(b"\n")) if r is not None]

    def _repair_metrics_tail(self) -> None:
        """Make the metrics file end with a whole record and a newline: a last line that is a
        record and lost only its newline gets it back; any other last line is dropped."""
        try:
            f = open(self.metrics_path, "r+b")
        except FileNotFoundError:
            return
        with f:
            size = f.seek(0, os.SEEK_END)
            if not size:
                return
            start = _last_line_start(f, size)
            f.seek(start)
            if size - start <= _LONGEST_RECORD and _record(tail := f.read()) is not None:
                if not tail.endswith(b"\n"):
                    f.write(b"\n")
                return
            f.truncate(start)

    def save(self, model: LatentModel, state: dict[str, Any], score: float | None = None,
             optimizers: dict[str, torch.optim.Optimizer] | None = None) -> bool:
        """Write latest (with the optimizers' state, for resuming); also best (weights
        only: it is for exploring) when ``score`` (lower is better) beats the best so far.
        Returns whether best was written."""
        save_checkpoint(self.latest, model, state, optimizers)
        if score is not None and score < self.best_score:
            self.best_score = score
            save_checkpoint(self.best, model, {**state, "best_score": score})
            return True
        return False

    def newest_samples(self) -> Path | None:
        """The sample grid of the highest step (files are named step_<8 digits>.png)."""
        pngs = sorted(self.samples.glob("step_*.png")) if self.samples.is_dir() else []
        return pngs[-1] if pngs else None

    def save_samples(self, images: torch.Tensor, step: int, ncol: int | None = None) -> Path:
        return save_png(grid(images, ncol=ncol), self.samples / f"step_{step:08d}.png")


def _record(line: bytes) -> dict[str, Any] | None:
    """One metrics line as its record; None when it is not a JSON object."""
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError, and bytes that are not UTF-8
        return None
    return record if isinstance(record, dict) else None


def _last_line_start(f: BinaryIO, size: int, chunk: int = 1 << 16) -> int:
    """Where the last line of the open file ``f`` (``size`` bytes) starts: after the last
    newline but a final one. Read backwards, so a long run's file is not read whole."""
    pos = size - 1  # a newline as the final byte ends the last line rather than starting one
    while pos > 0:
        lo = max(0, pos - chunk)
        f.seek(lo)
        cut = f.read(pos - lo).rfind(b"\n")
        if cut >= 0:
            return lo + cut + 1
        pos = lo
    return 0


def record_eval(checkpoint: str | Path | None, result: dict[str, Any], seed: int) -> Path | None:
    """Keep ``eval``'s figures in the run folder of ``checkpoint`` (``eval.json``, with the
    checkpoint's name, the seed and the time) for the run browser. Returns the file written,
    None for a checkpoint outside a run folder. Raises OSError when it cannot be written
    (callers report it: it costs that record only, never the evaluation)."""
    from datetime import datetime, timezone

    run = RunDir.of_checkpoint(checkpoint)
    if run is None:
        return None
    run.write_eval({**result, "checkpoint": Path(checkpoint).name, "seed": seed,  # type: ignore[arg-type]
                    "evaluated": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return run.eval_path
