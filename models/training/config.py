"""What :func:`models.training.loop.train` is told and what it tells: its settings
(:class:`TrainConfig`), each yielded update (:class:`StepMetrics`), the pause/stop switch
(:class:`TrainControl`), and where a checkpoint's training state says a run goes on from
(:func:`resume_point`). All of them are importable from ``models.training.loop`` too."""
from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass
from typing import Any

import torch


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says which and where the last good checkpoint is."""


@dataclass
class TrainConfig:
    #: length of the run: ``steps`` when given, else ``epochs`` passes over the train split
    epochs: float | None = 10
    steps: int | None = None
    batch_size: int = 128
    #: None: the family's paper default
    lr: float | None = None
    #: "auto" (CUDA, then MPS, then CPU), "cuda", "mps" or "cpu"
    device: str = "auto"
    seed: int = 0
    #: steps between metrics (and the only host syncs)
    log_every: int = 50
    #: steps between weight snapshots + preview images (0: only at the end)
    snapshot_every: int = 500
    #: steps between checkpoints (0: at each epoch end)
    checkpoint_every: int = 0
    #: test images used for the validation loss that picks the best checkpoint
    validation_size: int = 2000
    #: "auto": capture the step in a CUDA graph when possible; "off": always eager
    fast: str = "auto"
    #: "none": constant learning rates; "linear": every optimizer's rate falls linearly to 0
    #: over this run's steps (as the DCGAN authors' MNIST code and WGAN-GP's released code do
    #: at the end of training: annealing averages out the last steps' noise, so samples sharpen);
    #: "cosine": half a cosine from the rate to 0 over the run; None: the family's default
    #: (``default_lr_decay()`` of its config: cosine for the conv autoencoders, else "none")
    lr_decay: str | None = None
    #: a loss term whose size exceeds this many times its first logged size (or 1, if larger)
    #: counts as exploding and halts the run like a NaN does (0 = never)
    explode_factor: float = 1e4

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_lr_decay(cfg: TrainConfig, model: Any) -> TrainConfig:
    """``cfg`` with ``lr_decay`` None replaced by the model's family default (its config's
    ``default_lr_decay()``, where it declares one, else "none"); otherwise ``cfg`` itself."""
    if cfg.lr_decay is not None:
        return cfg
    declared = getattr(model.config, "default_lr_decay", None)  # not every config declares one
    return dataclasses.replace(cfg, lr_decay=(declared() if callable(declared) else None) or "none")


@dataclass
class StepMetrics:
    step: int
    total_steps: int
    epoch: float
    seconds: float
    #: mean of each loss term since the last log
    terms: dict[str, float]
    steps_per_s: float
    #: "log", "snapshot", "epoch", "done" or "stopped"
    event: str = "log"
    #: CPU copy of the model's state_dict (snapshot, done, stopped), only when ``train`` was
    #: called with ``keep_weights=True`` (the window shows them; the CLI never reads them)
    weights: dict[str, torch.Tensor] | None = None
    #: preview images on CPU: "samples", and "originals"/"reconstructions" for encoders
    previews: dict[str, torch.Tensor] | None = None
    validation: dict[str, float] | None = None
    #: the checkpoint this event's weights went to (rank 0 of a run folder; else None).
    #: Checkpoints are written in the background: the file is always whole (an atomic
    #: rename), but on an intermediate event it may still hold the previous checkpoint, or
    #: not exist yet on the first; the final event's ("done"/"stopped") is on disk, complete,
    #: when that event arrives, and so is the one a TrainingDiverged names.
    checkpoint: str | None = None
    device: str = ""
    #: the step actually run: "cuda graph", "eager", "eager (DDP)", or "eager (CUDA graph
    #: capture failed: <why>)"
    stepper: str = ""

    @property
    def eta_s(self) -> float:
        left = self.total_steps - self.step
        return left / self.steps_per_s if self.steps_per_s > 0 else math.inf


class TrainControl:
    """Pause / resume / stop, safe to call from any thread (the GUI sets these directly)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused loop so it can see the stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self) -> None:
        self._running.wait()


def resume_point(train_state: dict[str, Any]) -> tuple[int, float | None]:
    """(step, epoch) a checkpoint's train state reached, for ``train(start_step=...,
    start_epoch=...)``; a missing or malformed value reads as step 0 / epoch unknown."""
    try:
        step = max(0, int(train_state.get("step") or 0))
    except (TypeError, ValueError):
        step = 0
    try:
        epoch = float(train_state["epoch"])
    except (KeyError, TypeError, ValueError):
        return step, None
    return step, epoch if math.isfinite(epoch) and epoch >= 0 else None
