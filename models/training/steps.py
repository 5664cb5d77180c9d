"""One training step, eager or captured in a CUDA graph, and the choice between them.

Both accumulate every loss term on the device; :meth:`EagerStep.read_and_reset` is the one
host sync, called only when the loop logs. The captured step (CUDA only, one optimizer,
constant learning rate) replays the whole step - batch gather, forward, backward,
optimizer step, loss accumulation - as one graph: the same maths with far fewer launches.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from models.families.base import LatentModel
from models.training.distributed import average_gradients_across_ranks

if TYPE_CHECKING:  # the loop imports this module, so its config is named for type checkers only
    from models.training.loop import TrainConfig


class EagerStep:
    """Gather a batch, run the model's training step, add its terms to device accumulators."""

    def __init__(self, model: LatentModel, optimizers: dict, split, step_model: torch.nn.Module | None = None) -> None:
        self.model, self.optimizers, self.split = model, optimizers, split
        self.acc: dict[str, torch.Tensor] = {}
        self.step_model = step_model  # a DDP wrapper, when distributed

    def run(self, idx: torch.Tensor) -> None:
        x = self.split.batch(idx)
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


class GraphStep(EagerStep):
    """The whole step in one CUDA graph. Weights and optimizer state are restored after the
    warm-up iterations, so the captured run starts exactly where the eager one would."""

    def __init__(self, model: LatentModel, optimizers: dict, split, batch_size: int) -> None:
        super().__init__(model, optimizers, split)
        device = model.device
        self.static_idx = torch.zeros(batch_size, dtype=torch.long, device=device)
        params = [p for p in model.parameters()]
        saved_params = [p.detach().clone() for p in params]
        saved_buffers = [b.detach().clone() for b in model.buffers()]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: lets cuBLAS/optimizer allocate their state
            for _ in range(3):
                warm_terms = self.model.training_step(split.batch(self.static_idx), optimizers)
        torch.cuda.current_stream().wait_stream(side)
        # accumulators live outside the graph's memory pool and are only added to inside it
        # (allocating them during capture would re-zero them at every replay)
        self.acc = {k: torch.zeros((), device=device) for k in warm_terms}
        for p, s in zip(params, saved_params):
            p.data.copy_(s)
        for b, s in zip(model.buffers(), saved_buffers):
            b.copy_(s)
        for opt in optimizers.values():
            for st in opt.state.values():
                for v in st.values():
                    if torch.is_tensor(v):
                        v.zero_()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            terms = self.model.training_step(split.batch(self.static_idx), optimizers)
            for k, v in terms.items():
                self.acc[k] += v.float()

    def run(self, idx: torch.Tensor) -> None:
        self.static_idx.copy_(idx, non_blocking=True)
        self.graph.replay()
        self.model.on_train_step_end()


def make_step(model: LatentModel, optimizers: dict, split, cfg: TrainConfig, world: int) -> EagerStep:
    """The step ``train`` runs: DDP-wrapped for one optimizer over several ranks, eager with
    gradients averaged across ranks for several optimizers, captured in a CUDA graph when
    ``cfg`` and the model allow it, else eager."""
    device = model.device
    if world > 1 and len(optimizers) == 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        return EagerStep(model, optimizers, split, step_model=DDP(model))
    if world > 1:
        average_gradients_across_ranks(model, optimizers)
        return EagerStep(model, optimizers, split)
    # a decaying rate is a Python float the captured optimizer kernel would never see again
    if (cfg.fast == "auto" and device.type == "cuda" and model.graph_capturable and len(optimizers) == 1
            and cfg.lr_decay == "none"):
        try:
            return GraphStep(model, optimizers, split, cfg.batch_size)
        except RuntimeError:  # some op could not be captured: the eager path gives the same maths
            torch.cuda.synchronize()
    return EagerStep(model, optimizers, split)
