"""Multi-GPU training under ``torchrun``: joining the process group, this process's rank,
and keeping the ranks' weights equal.

    torchrun --nproc_per_node 4 -m explorer.cli train --model vae --dataset mnist --out runs/vae

``torchrun`` sets RANK / WORLD_SIZE / LOCAL_RANK; :func:`init_from_env` joins the process
group (NCCL on CUDA, gloo on CPU) and pins each rank to its GPU. The training loop then
splits every epoch's permutation across ranks and wraps single-optimizer families in DDP;
rank 0 alone writes the run folder. Families with several optimizers, which one DDP wrapper
cannot serve, average their gradients across ranks instead
(:func:`average_gradients_across_ranks`).

The ranks must leave the loop together: one that stopped or raised alone would leave the
others waiting in the next step's collective forever. :func:`any_rank` lets them agree on a
flag (a stop, a diverged loss) at the same log step, and :func:`gather_from_ranks` shares
what each one has to say about it (which loss diverged, where rank 0's checkpoint is).
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

from models.families.base import LatentModel


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device_name: str = "auto") -> tuple[int, int, str]:
    """Join the process group if launched by torchrun. Returns (rank, world, device name)."""
    world = world_size_from_env()
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return (dist.get_rank() if dist.is_initialized() else 0), max(world, 1), device_name
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device_name = f"cuda:{local_rank}"
    elif device_name == "auto":
        device_name = "cpu"
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), device_name


def shutdown(synchronize: bool = False) -> None:
    """Leave the process group. With ``synchronize`` (a run that ended normally on every rank)
    the ranks first meet at a barrier: a rank that tore its group down while another was still
    finishing the last collective could abort the other ("terminate called without an active
    exception" in gloo)."""
    if dist.is_available() and dist.is_initialized():
        if synchronize and dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) when not launched by torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def any_rank(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true on any rank. A collective: every rank calls it at the same
    point (the tensor lives on ``device``, where the process group's backend reduces)."""
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_from_ranks(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable, small), in rank order. A collective, like :func:`any_rank`;
    the loop calls it only once something went wrong, so its cost (pickling, two transfers)
    never lands on a healthy step."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def average_gradients_across_ranks(model: LatentModel, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Data parallelism for families with several optimizers (GANs, the AAE), which one DDP
    wrapper cannot serve: each step of D, G or Q updates a different part of the model with
    its own backward passes. Start every rank from rank 0's weights, then, just before each
    optimizer steps, replace its parameters' gradients by their mean over the ranks (one
    flattened all-reduce per optimizer step), so the ranks stay identical, as under DDP.
    Batch-norm running statistics stay per rank; rank 0's are the ones checkpoints keep."""
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    world = dist.get_world_size()
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast(t, 0)

    def average(optimizer: torch.optim.Optimizer, *_: Any) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= world
        for g, mean in zip(grads, _unflatten_dense_tensors(flat, grads)):
            g.copy_(mean)

    for opt in optimizers.values():
        opt.register_step_pre_hook(average)
