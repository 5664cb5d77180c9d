"""Multi-GPU training under ``torchrun`` (DistributedDataParallel).

    torchrun --nproc_per_node 4 -m explorer.cli train --model vae --dataset mnist --out runs/vae

``torchrun`` sets RANK / WORLD_SIZE / LOCAL_RANK; :func:`init_from_env` joins the process
group (NCCL on CUDA, gloo on CPU) and pins each rank to its GPU. The training loop then
splits every epoch's permutation across ranks and wraps single-optimizer families in DDP;
rank 0 alone writes the run folder.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


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


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
