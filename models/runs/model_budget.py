"""The model size budget: a model is measured before it is built, and one over the budget
is refused with a message instead of an allocator failure.

A config read from a file (or typed as flags) can declare any width; building it would
allocate first and fail later ("[enforce fail at alloc_cpu.cpp]", or the kernel's OOM
killer). Here the model is built on PyTorch's ``meta`` device first, where tensors have
shapes but no storage (no memory, no random numbers drawn), its parameters and buffers
are counted, and it is refused when

* it has more than :data:`MAX_PARAMETERS` values (2 GB of float32 weights, ~25 times the
  largest family at its defaults), or
* its images have more than :data:`MAX_IMAGE_VALUES` values (channels x height x width), or
* holding it twice over (the file's tensors and the model's) needs more memory than the
  machine has available now.

The meta model's state_dict also gives the shapes a checkpoint's tensors must have, so a
file whose tensors do not fit is refused from its header, before any tensor is read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.families.base import LatentModel, ModelConfig
from models.families.registry import build_model

#: more parameters + buffers than this is refused (512 M float32 values: 2 GB)
MAX_PARAMETERS = 2**29
#: values of one image (C x H x W): RGB 1024 x 1024
MAX_IMAGE_VALUES = 3 * 1024 * 1024
BYTES_PER_VALUE = 4


class ModelTooLarge(ValueError):
    """A model declared larger than the budget (or the machine) allows; the message says by how much."""


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GB"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux ``MemAvailable``); None elsewhere."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def meta_model(family: str, config: ModelConfig | dict[str, Any] | None = None, **overrides: Any) -> LatentModel:
    """``build_model(family, config, **overrides)`` on the meta device: shapes only, no storage."""
    with torch.device("meta"):
        return build_model(family, config, **overrides)


def model_values(model: torch.nn.Module) -> int:
    """Parameters + buffers of ``model`` (works on the meta device)."""
    return sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())


def check_budget(model: LatentModel, name: str | Path = "the model") -> int:
    """Refuse ``model`` (a meta model, usually) when over the budget; returns its value count.
    ``name`` starts the message (a checkpoint's file name)."""
    label = Path(name).name if isinstance(name, Path) else name
    c, h, w = (int(v) for v in model.config.image_shape)
    if c * h * w > MAX_IMAGE_VALUES:
        raise ModelTooLarge(f"{label}: declares {c} x {h} x {w} images ({c * h * w:,} values each), over the "
                            f"{MAX_IMAGE_VALUES:,} a model may work on")
    n = model_values(model)
    if n > MAX_PARAMETERS:
        raise ModelTooLarge(f"{label}: declares a model of {n:,} parameters ({_gb(n * BYTES_PER_VALUE)}), over the "
                            f"budget of {MAX_PARAMETERS:,} ({_gb(MAX_PARAMETERS * BYTES_PER_VALUE)}); not built")
    need = 2 * n * BYTES_PER_VALUE
    free = available_memory()
    if free is not None and need > free:
        raise ModelTooLarge(f"{label}: the model needs about {_gb(need)} of memory to load and this machine has "
                            f"{_gb(free)} available; not built")
    return n


def build_within_budget(family: str, config: ModelConfig | dict[str, Any] | None = None, name: str | Path = "the model",
                        **overrides: Any) -> LatentModel:
    """``build_model`` for a config that came from outside (a file, flags): measured on
    the meta device first and refused with :class:`ModelTooLarge` when over the budget."""
    measured = meta_model(family, config, **overrides)
    check_budget(measured, name)
    return build_model(family, measured.config)


def expected_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of ``model`` (a meta model: no storage is touched)."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def shape_mismatch(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> str | None:
    """Why tensors of shapes ``found`` cannot load into a model of ``expected``; None when they can."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        return "; ".join(parts)
    for k, shape in expected.items():
        if tuple(found[k]) != shape:
            return f"{k} is {list(found[k])} in the file, the config makes it {list(shape)}"
    return None


def config_shapes(family: str, config: ModelConfig) -> dict[str, tuple[int, ...]] | None:
    """The state_dict shapes of ``family`` at ``config`` (built on the meta device); None when
    that config does not build."""
    try:
        return expected_shapes(meta_model(family, config))
    except Exception:  # noqa: BLE001 - a config that does not build fits nothing
        return None
