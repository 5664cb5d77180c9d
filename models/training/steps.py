"""One training step, and the choice of how ``train`` runs it.

A stepper has ``run(idx)`` (one optimisation step on the train images ``idx``),
``read_and_reset(n)`` (the mean of every loss term over the last ``n`` steps) and ``name``,
the path actually taken, which the loop reports: "cuda graph", "eager", "eager (DDP)", or
"eager (CUDA graph capture failed: <error>)". Every stepper accumulates the loss terms on
the device; ``read_and_reset`` is its one host sync, called only when the loop logs.

The eager step is here; the step captured whole in a CUDA graph is
:mod:`models.training.capture`. :func:`make_step` picks one; :func:`set_group_lr` changes
a learning rate in a way both honour. :func:`gather` is the one way any of them (and
validation) reads a batch: the images, or for a class-conditional family (images, labels),
whose labels :func:`check_labels` checks once before the first step.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from models.data.base import DataError, Split
from models.families.base import LatentModel
from models.training.distributed import average_gradients_across_ranks

if TYPE_CHECKING:  # the loop imports this module, so its config is named for type checkers only
    from models.training.loop import TrainConfig


def gather(model: LatentModel, split: Split, idx: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The batch ``model`` trains or validates on at ``idx``: the images (B, C, H, W), or for
    a class-conditional family the pair (images, labels (B,)), both on ``idx.device`` and
    gathered without a host read (a captured step gathers them inside its graph)."""
    images = split.batch(idx)
    if not getattr(model, "conditional", False):
        return images
    return images, split.batch_labels(idx)


def check_labels(model: LatentModel, split: Split, what: str = "training", ranges: bool = True) -> None:
    """DataError, before any step, when a class-conditional ``model`` cannot learn from
    ``split``: no labels, or (with ``ranges``: one host read of their range) labels outside
    its classes."""
    if not getattr(model, "conditional", False):
        return
    labels = split.labels
    if labels is None or len(labels) != len(split):
        raise DataError(f"{model.family} is class-conditional: it learns from labelled images, and the {what} images "
                        "have no class labels (an image folder has them when each class is a subfolder)")
    if not ranges or len(labels) == 0:
        return
    k = model.latent_spec.categorical[0]
    lo, hi = (int(v) for v in torch.stack([labels.min(), labels.max()]).tolist())
    if lo < 0 or hi >= k:
        raise DataError(f"the {what} labels run from {lo} to {hi}, but this {model.family} model has {k} classes "
                        f"(0 to {k - 1}): it was built for other data")


class EagerStep:
    """Gather a batch, run the model's training step, add its terms to device accumulators."""

    def __init__(self, model: LatentModel, optimizers: dict, split, step_model: torch.nn.Module | None = None,
                 name: str | None = None) -> None:
        self.model, self.optimizers, self.split = model, optimizers, split
        self.acc: dict[str, torch.Tensor] = {}
        self.step_model = step_model  # a DDP wrapper, when distributed
        self.name = name or ("eager (DDP)" if step_model is not None else "eager")

    def run(self, idx: torch.Tensor) -> None:
        x = gather(self.model, self.split, idx)
        if self.step_model is not None:
            (opt,) = self.optimizers.values()
            opt.zero_grad(set_to_none=True)
            terms = self.step_model(x)
            terms["total"].backward()
            opt.step()
            terms = {k: v.detach() for k, v in terms.items()}
        else:
            terms = self.model.training_step(x, self.optimizers)
        self.model.on_train_step_end()
        for k, v in terms.items():
            if k in self.acc:
                self.acc[k] += v
            else:
                self.acc[k] = v.clone().float()

    def read_and_reset(self, n: int) -> dict[str, float]:
        vals = {k: float(v) / n for k, v in self.acc.items()}  # the one host sync per log
        for v in self.acc.values():
            v.zero_()
        return vals


def set_group_lr(group: dict[str, Any], value: float) -> None:
    """Set a param group's learning rate between steps. A captured step's rate is a device
    tensor its optimizer kernel reads at every replay, so it is filled in place (no sync:
    the fill is queued like any kernel); a Python float is simply replaced."""
    lr = group["lr"]
    if torch.is_tensor(lr):
        lr.fill_(value)
    else:
        group["lr"] = float(value)


def make_step(model: LatentModel, optimizers: dict, split, cfg: TrainConfig, world: int) -> EagerStep:
    """The step ``train`` runs: DDP-wrapped for one optimizer over several ranks, eager with
    gradients averaged across ranks for several optimizers, captured in a CUDA graph when
    ``cfg`` (``fast="auto"``) and the model (``graph_capturable``) allow it on a CUDA device
    and the train split holds at least one batch, else eager. A capture that fails warns and
    falls back to eager (see :func:`models.training.capture.capture_or_eager`). A
    class-conditional model's labels are checked first (:func:`check_labels`)."""
    check_labels(model, split)
    if world > 1 and len(optimizers) == 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        return EagerStep(model, optimizers, split, step_model=DDP(model))
    if world > 1:
        average_gradients_across_ranks(model, optimizers)
        return EagerStep(model, optimizers, split)
    # a split smaller than one batch has no fixed-size batch for the graph's static index
    if (cfg.fast == "auto" and model.device.type == "cuda" and model.graph_capturable
            and len(split) >= cfg.batch_size):
        # imported here: the captured step builds on EagerStep, so it imports this module
        from models.training import capture

        return capture.capture_or_eager(model, optimizers, split, cfg.batch_size,
                                        tensor_lr=cfg.lr_decay != "none")
    return EagerStep(model, optimizers, split)
