"""Continuing a trained model: where the continuation is written and what it starts from.

One policy for ``latent-explorer train --resume`` and the window's Continue training:

* **Into the run.** A run folder, or a checkpoint as far along as its run's latest (the
  run's ``checkpoints/latest.safetensors``, or a best written at that same step),
  continues INTO that run: metrics.jsonl goes on after its last step, latest moves on and
  best stays the best unless beaten.
* **A branch.** An older checkpoint of a run (best.safetensors behind latest) continues in
  a NEW folder: continuing it inside the run would rewind latest and repeat step numbers
  in metrics.jsonl. So does a loose checkpoint, outside any run folder. The new folder is
  ``out``; without one the plan's ``run_dir`` is None and the caller chooses (the window
  makes a fresh run folder; the CLI asks for ``--out``).
* ``out`` given for a continuation that could go into its run writes to ``out`` instead
  (a branch too, unless ``out`` is the run itself). ``out`` naming the run of an older
  checkpoint is refused, for the reason above.
* **Adam's moments** come from the resumed checkpoint when it carries them (a run's latest
  does), else from the run's latest when its step equals the resumed step (a best written
  at the latest step holds weights only), else none: moments computed for other weights
  would mislead the first steps more than cold ones.
* **The learning-rate schedule's record** comes the same way (the checkpoint's, else the
  run's latest's at the same step), so a continued default schedule goes on from its rate.
* **Step and epoch** count on from the checkpoint's (:func:`models.training.loop.resume_point`);
  the previous ``train_config`` travels with the plan so a front door can keep the run's
  batch size and intervals; the data is the checkpoint's (:func:`models.runs.opening.dataset_request`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.families.base import LatentModel
from models.runs.checkpoint import Checkpoint, load_checkpoint, load_optimizer_state
from models.runs.opening import DatasetRequest, dataset_request
from models.runs.run_dir import RunDir
from models.training.loop import resume_point


@dataclass
class ResumePlan:
    """Everything a continuation needs; see the module docstring for the policy."""

    #: the model to train on (the checkpoint's; the caller trains it in place)
    model: LatentModel
    #: the step and epoch the checkpoint reached, for ``train(start_step=, start_epoch=)``
    start_step: int
    start_epoch: float | None
    #: Adam's moments for ``train(optimizer_state=)``; None: cold moments
    optimizer_state: dict[str, dict[str, Any]] | None
    #: the folder the continuation writes to; None: a new folder of the caller's choosing
    run_dir: Path | None
    #: True when the continuation is written anywhere but the checkpoint's own run
    branched: bool
    #: the data to continue on (the checkpoint's, unless the caller asked for another)
    dataset: DatasetRequest
    #: the checkpoint's ``train_config`` (batch size, rate, intervals); {} when it has none
    previous_train_config: dict[str, Any] = field(default_factory=dict)
    #: the checkpoint file resumed (None for a model that was never saved)
    checkpoint: Path | None = None
    #: the checkpoint's whole training state
    train_state: dict[str, Any] = field(default_factory=dict)
    #: why the plan branches, for a message ("" when it continues into its run)
    reason: str = ""
    #: the learning-rate schedule the resumed step was in (``train(previous_schedule=)``):
    #: the checkpoint's record, else the run's latest's at the same step, like the moments
    lr_schedule: dict[str, Any] | None = None


def plan_resume(source: str | Path, out: str | Path | None = None, *, device: str | torch.device = "cpu",
                allow_pickle: bool = False, dataset: str | None = None, data_dir: str | Path | None = None,
                default_dataset: str | None = None) -> ResumePlan:
    """Plan continuing ``source``: a run folder (its latest checkpoint, else whatever
    checkpoint it holds) or a checkpoint file, loaded on ``device``.

    ``out``: where a branch goes (see the module docstring); ``dataset`` / ``data_dir``:
    data asked for instead of the recorded ones; ``default_dataset``: the dataset when the
    checkpoint records none. Raises CheckpointError for an unreadable source and
    ValueError for ``out`` naming the run an older checkpoint would rewind.
    """
    source = Path(source).expanduser()
    if source.is_dir():
        run = RunDir(source)
        ckpt = load_checkpoint(run.latest if run.latest.is_file() else source, device, allow_pickle=allow_pickle)
    else:
        run = None
        ckpt = load_checkpoint(source, device, allow_pickle=allow_pickle)
    return plan_from_checkpoint(ckpt, out, run=run, dataset=dataset, data_dir=data_dir, default_dataset=default_dataset)


def plan_from_checkpoint(ckpt: Checkpoint, out: str | Path | None = None, *, run: RunDir | None = None,
                         dataset: str | None = None, data_dir: str | Path | None = None,
                         default_dataset: str | None = None) -> ResumePlan:
    """:func:`plan_resume` for a checkpoint already loaded (the window's open model: pass a
    private copy in ``ckpt.model``, it is trained in place; ``ckpt.optimizer_state`` may be
    None, the run's latest is then read for its moments as the policy says). ``run``: the
    run folder it came from when the user named the folder; default: the one ``ckpt.path``
    sits in, if any."""
    step, epoch = resume_point(ckpt.train_state)
    run = run if run is not None else RunDir.of_checkpoint(ckpt.path)
    latest_state = run.latest_checkpoint_state() if run is not None else None
    latest_step = resume_point(latest_state)[0] if latest_state is not None else None
    name = ckpt.path.name if ckpt.path is not None else "the model"
    if run is None:
        at_head, reason = False, f"{name} is not in a run folder"
    elif latest_step is not None and latest_step > step:
        at_head = False
        reason = (f"{name} (step {step}) is behind its run's latest checkpoint (step {latest_step}): continuing it "
                  f"in {run.path} would rewind latest and repeat step numbers")
    else:
        at_head, reason = True, ""

    optimizer_state = ckpt.optimizer_state
    if optimizer_state is None and run is not None and latest_step == step:
        optimizer_state = load_optimizer_state(run.latest)
    lr_schedule = ckpt.train_state.get("lr_schedule")
    if lr_schedule is None and latest_state is not None and latest_step == step:
        lr_schedule = latest_state.get("lr_schedule")  # an open model's state may not carry it

    if out is not None:
        run_dir: Path | None = Path(out).expanduser()
        if run is not None and not at_head and _same(run_dir, run.path):
            raise ValueError(f"{reason}; continue it in another folder")
        branched = not (at_head and run is not None and _same(run_dir, run.path))
    elif at_head:
        assert run is not None
        run_dir, branched = run.path, False
    else:
        run_dir, branched = None, True
    train_config = ckpt.train_state.get("train_config")
    return ResumePlan(
        model=ckpt.model, start_step=step, start_epoch=epoch, optimizer_state=optimizer_state, run_dir=run_dir,
        branched=branched,
        dataset=dataset_request(ckpt.model, ckpt.train_state, name=dataset, data_dir=data_dir, default=default_dataset),
        previous_train_config=dict(train_config) if isinstance(train_config, dict) else {},
        checkpoint=ckpt.path, train_state=dict(ckpt.train_state), reason=reason, lr_schedule=lr_schedule,
    )


def _same(a: Path | None, b: Path | None) -> bool:
    """Whether two paths name one file or folder (either may not exist yet)."""
    if a is None or b is None:
        return False
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return False
