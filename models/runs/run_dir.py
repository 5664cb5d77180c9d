"""A run folder: ``config.json``, ``checkpoints/`` (latest and best), ``metrics.jsonl``,
``samples/``, ``snapshots/`` (what the timeline decodes with: :mod:`models.runs.snapshots`)
and ``eval.json``. :class:`RunDir` names every part of this layout;
:mod:`models.runs.listing` reads many run folders through it for the run browser."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, BinaryIO

import torch

from models.families.base import LatentModel
from models.families.registry import UnknownFamily, model_class
from models.io.atomic import atomic_write_bytes, remove_stale_temp_files
from models.io.files import MAX_METRICS_BYTES, FileRefused, check_regular_file, open_regular
from models.io.images import grid, save_png
from models.io.json_io import dumps_json, read_json
from models.io.validate import Int, ListOf, Number, Obj, Str, check, check_config
from models.runs.checkpoint import checkpoint_state, save_checkpoint
from models.runs.checkpoint_header import TRAIN_CONFIG

#: far longer than any metrics record: a longer last line is damage, dropped without being read
_LONGEST_RECORD = 1 << 20

#: config.json: what the run was started with
RUN_CONFIG = Obj({
    "family": Str(max_len=64),
    "model_config": Obj(),
    "dataset": Str(max_len=256, optional=True),
    "data_dir": Str(optional=True),
    "image_shape": ListOf(Int(lo=1), length=3, optional=True),
    "train_config": TRAIN_CONFIG,
    "cli": Str(max_len=1 << 16, optional=True),
})
#: eval.json: the last ``eval``'s figures (one that could not be computed is null, or NaN from older writers)
EVAL = Obj({
    "family": Str(max_len=64), "dataset": Str(max_len=256), "step": Int(lo=0, optional=True),
    "checkpoint": Str(max_len=4096), "seed": Int(), "evaluated": Str(max_len=64),
    "test_loss": Number(finite=False, optional=True), "inception_score": Number(finite=False, optional=True),
    "code_accuracy": Number(finite=False, optional=True),
    "class_accuracy": Number(finite=False, optional=True),
    # {factor: the code dimension that tells it most, or null}: the window's slider labels
    "factor_dims": Obj(other=Int(lo=0, hi=1 << 31, optional=True), optional=True),
})


class RunDir:
    """The files of one run folder; ``create`` makes its folders, the rest read and write them."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.checkpoints = self.path / "checkpoints"
        self.samples = self.path / "samples"
        #: light snapshots of the decoder (models.runs.snapshots); never a checkpoint: not best, not latest
        self.snapshots = self.path / "snapshots"
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
        for folder in (self.path, self.checkpoints, self.samples, self.snapshots):
            remove_stale_temp_files(folder)
        return self

    def write_eval(self, result: dict[str, Any]) -> None:
        atomic_write_bytes(self.eval_path, dumps_json(result, indent=2, default=str).encode())

    def read_eval(self) -> dict[str, Any] | None:
        """The last eval's figures; None when there is none or it cannot be read."""
        try:
            return self.load_eval()
        except FileRefused:
            return None

    def load_eval(self) -> dict[str, Any] | None:
        """The last eval's figures, checked; None when the run was never evaluated, FileRefused
        naming the file and the field when eval.json cannot be read or holds a wrong value."""
        if not os.path.lexists(self.eval_path):
            return None
        return check(read_json(self.eval_path, "eval.json", nonfinite="keep"), EVAL, self.eval_path)

    def read_config(self) -> dict[str, Any] | None:
        """config.json checked (and its model_config against the family's config); None when
        the folder has none, FileRefused naming the field when it is wrong."""
        if not os.path.lexists(self.config_path):
            return None
        config = check(read_json(self.config_path, "config.json"), RUN_CONFIG, self.config_path)
        if "family" in config and "model_config" in config:
            try:
                check_config(model_class(config["family"]).Config, config["model_config"], self.config_path)
            except UnknownFamily as e:
                raise FileRefused(self.config_path, f"family: {e}") from None
        return config

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
        atomic_write_bytes(self.config_path, dumps_json(config, indent=2, default=str).encode())

    def append_metrics(self, record: dict[str, Any]) -> None:
        """One record as a line of strict JSON (a loss that is not a finite number is null)."""
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(dumps_json(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """The metrics records, one per log, their figures as floats (null read as NaN); a
        line that is not a record (cut short by a crash, damaged, or with a value that is
        not a number) is skipped. Of a file over MAX_METRICS_BYTES only its end is read.
        Raises FileRefused when the file is not a regular, readable one."""
        if not os.path.lexists(self.metrics_path):
            return []
        with open_regular(self.metrics_path, "metrics file") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - MAX_METRICS_BYTES))
            data = f.read(MAX_METRICS_BYTES)
        lines = data.split(b"\n")
        if size > MAX_METRICS_BYTES:
            lines = lines[1:]  # the first is a line's cut end
        return [r for r in map(_record, lines) if r is not None]

    def _repair_metrics_tail(self) -> None:
        """Make the metrics file end with a whole record and a newline: a last line that is a
        record and lost only its newline gets it back; any other last line is dropped.
        Raises FileRefused when metrics.jsonl is not a regular file (appending to a FIFO
        would block the run)."""
        if not os.path.lexists(self.metrics_path):
            return
        check_regular_file(self.metrics_path, "metrics file")
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
        Returns whether best was written. :class:`models.runs.checkpoint_writer.CheckpointWriter`
        writes the same two files off the training thread."""
        save_checkpoint(self.latest, model, state, optimizers)
        if self.claim_best(score):
            save_checkpoint(self.best, model, {**state, "best_score": score})
            return True
        return False

    def claim_best(self, score: float | None) -> bool:
        """Whether a checkpoint of ``score`` (lower is better; None: unranked) is the new
        best; if so it becomes the score to beat, so the caller must write it as best."""
        if score is None or not score < self.best_score:
            return False
        self.best_score = score
        return True

    def newest_samples(self) -> Path | None:
        """The sample grid of the highest step (files are named step_<8 digits>.png)."""
        pngs = sorted(self.samples.glob("step_*.png")) if self.samples.is_dir() else []
        return pngs[-1] if pngs else None

    def save_samples(self, images: torch.Tensor, step: int, ncol: int | None = None) -> Path:
        return save_png(grid(images, ncol=ncol), self.samples / f"step_{step:08d}.png")


def _record(line: bytes) -> dict[str, Any] | None:
    """One metrics line as its record: a flat JSON object with a non-negative integer
    ``step`` and numbers (or null, read as NaN) for the rest; None for anything else."""
    if len(line) > _LONGEST_RECORD or line.count(b"{") != 1 or b"[" in line:
        return None  # records are flat: nothing to nest, so nothing deep to parse
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError, and bytes that are not UTF-8
        return None
    if not isinstance(record, dict):
        return None
    step = record.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return None
    for key, value in record.items():
        if value is None:
            record[key] = math.nan
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
    return record


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
