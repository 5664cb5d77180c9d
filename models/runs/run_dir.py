"""A run folder: ``config.json``, ``checkpoints/`` (latest and best), ``metrics.jsonl``,
``samples/`` and ``eval.json``. :class:`RunDir` names every part of this layout;
:mod:`models.runs.listing` reads many run folders through it for the run browser."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from models.families.base import LatentModel
from models.io.atomic import atomic_write_bytes
from models.io.images import grid, save_png
from models.runs.checkpoint import checkpoint_state, save_checkpoint


class RunDir:
    """The files of one run folder; ``create`` makes its folders, the rest read and write them."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.checkpoints = self.path / "checkpoints"
        self.samples = self.path / "samples"
        self.metrics_path = self.path / "metrics.jsonl"
        self.best_score = math.inf

    def create(self) -> "RunDir":
        for d in (self.path, self.checkpoints, self.samples):
            d.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def latest(self) -> Path:
        return self.checkpoints / "latest.safetensors"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.safetensors"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def eval_path(self) -> Path:
        """The last ``eval`` of this run (what the run browser shows)."""
        return self.path / "eval.json"

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
        if not self.metrics_path.exists():
            return []
        out = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a crash: skip it
                continue
        return out

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
