"""Which device training and evaluation run on, and how to name it for users."""
from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" picks CUDA, then MPS, then CPU; a forced device that is missing is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA GPU is available (use --device auto or cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("--device mps was asked for but Apple MPS is not available (use --device auto or cpu)")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise RuntimeError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    return torch.device(name)


def device_description(device: torch.device) -> str:
    """``device`` for status lines: the GPU's name, "Apple MPS", or the CPU and its threads."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"
