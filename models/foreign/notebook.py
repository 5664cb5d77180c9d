"""The notebook API: ``models.load(path)`` and the :class:`LoadedModel` it returns.

Anything the app opens (a run folder, a checkpoint, a foreign state dict, ONNX, an adapter)
gives one object that decodes, encodes, samples and interpolates on numpy arrays and torch
tensors alike: numpy in, numpy out; a tensor in, a tensor out on the tensor's device::

    import models
    m = models.load("runs/vae-mnist")             # or "netG_epoch_24.pth", allow_pickle=True
    z = m.sample_latents(2, seed=0)               # (2, d) numpy
    frames = m.decode(m.interpolate(z[0], z[1], steps=8))   # (8, C, H, W) in [0, 1]
    codes = m.encode(frames)                      # when m.has_encoder
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from models.families.base import LatentModel, ModelConfig
from models.foreign.arrays import (
    ArrayRefused,
    check_latents,
    check_memory,
    decode_array,
    encode_array,
)
from models.latent import LatentSpec
from models.runs.checkpoint import Checkpoint

Array = TypeVar("Array", np.ndarray, torch.Tensor)

#: the most latents one call makes (sample_latents' n, interpolate's steps), whatever the memory
MAX_ROWS = 10_000_000


def _count(value: Any, name: str, least: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not least <= value <= MAX_ROWS:
        raise ArrayRefused(f"{name} must be an integer from {least} to {MAX_ROWS:,}; got {value!r}")
    return int(value)


def _like(result: torch.Tensor, template: Any) -> Any:
    """``result`` as ``template`` came: a tensor on its device, else a float32 numpy array."""
    if isinstance(template, torch.Tensor):
        return result.to(template.device)
    return result.numpy()


class LoadedModel:
    """A model opened for scripts and notebooks (see the module docstring)."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        #: the LatentModel itself (what the window explores)
        self.model: LatentModel = checkpoint.model.eval()

    # -- what it is -------------------------------------------------------------------------
    @property
    def latent_spec(self) -> LatentSpec:
        return self.model.latent_spec

    @property
    def latent_dim(self) -> int:
        """Width of the flat latent ``decode`` takes."""
        return self.model.latent_spec.input_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.model.config.image_shape)  # type: ignore[return-value]

    @property
    def has_encoder(self) -> bool:
        return self.model.latent_spec.has_encoder

    @property
    def source(self) -> Path | None:
        return self.checkpoint.path

    @property
    def train_state(self) -> dict[str, Any]:
        return self.checkpoint.train_state

    def __repr__(self) -> str:
        describe = getattr(self.model, "describe", None)
        what = describe() if callable(describe) else self.model.family
        enc = ", with an encoder" if self.has_encoder else ""
        return f"<LoadedModel {what}: latent {self.latent_dim}, images {self.image_shape}{enc}>"

    def to(self, device: str | torch.device) -> LoadedModel:
        """Move the model (an ONNX model stays on the CPU); returns self."""
        self.model.to(device)
        return self

    # -- decoding, encoding, sampling ---------------------------------------------------------
    def decode(self, z: Array) -> Array:
        """Latents (N, d) or one (d,) -> images (N, C, H, W) float32 in [0, 1]."""
        return _like(decode_array(self.model, z), z)

    def encode(self, x: Array) -> Array:
        """Images (N, C, H, W) or one (C, H, W) in [0, 1] -> the encoder's mean codes (N, d).
        ArrayRefused (a ValueError) when the model has no encoder (see ``has_encoder``)."""
        return _like(encode_array(self.model, x), x)

    def sample_latents(self, n: int, seed: int | None = None, truncation: float | None = None) -> np.ndarray:
        """``n`` latents from the model's prior, (n, d) float32 numpy; ``seed`` repeats them."""
        n = _count(n, "n", 0)
        check_memory(n * self.latent_dim, f"{n:,} latents")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)
                                 or not -2**63 <= seed < 2**64):
            raise ArrayRefused(f"seed must be an integer (64 bits at most) or None; got {seed!r}")
        if truncation is not None and (isinstance(truncation, bool) or not isinstance(truncation, (int, float))
                                       or not 0 < truncation < float("inf")):
            raise ArrayRefused(f"truncation must be a positive number or None; got {truncation!r}")
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        with torch.no_grad():
            return self.model.sample_latents(n, generator, "cpu", truncation).float().numpy()

    def sample(self, n: int, seed: int | None = None, truncation: float | None = None) -> np.ndarray:
        """``n`` images decoded from prior samples, (n, C, H, W) float32 numpy in [0, 1]."""
        return self.decode(self.sample_latents(n, seed, truncation))

    def interpolate(self, a: Array, b: Array, steps: int = 8, kind: Literal["slerp", "lerp"] = "slerp") -> Array:
        """``steps`` latents from ``a`` to ``b`` (both ends included), (steps, d), like ``a``.
        ``slerp`` keeps the typical radius of a Gaussian prior; ``lerp`` is the straight line."""
        from models.explore.interpolation import lerp, slerp

        if kind not in ("slerp", "lerp"):
            raise ArrayRefused(f"kind must be 'slerp' or 'lerp'; got {kind!r}")
        steps = _count(steps, "steps", 2)
        check_memory(steps * self.latent_dim, f"{steps:,} steps")
        ends = [check_latents(self.model, v, name) for v, name in ((a, "a"), (b, "b"))]
        if any(len(e) != 1 for e in ends):
            raise ArrayRefused("interpolate takes one latent for a and one for b")
        path = (slerp if kind == "slerp" else lerp)(ends[0][0], ends[1][0], np.linspace(0.0, 1.0, steps))
        return _like(path.float(), a)


def load(path: str | Path, allow_pickle: bool = False, allow_code: bool = False, *,
         device: str | torch.device = "cpu", family: str | None = None,
         config: ModelConfig | Mapping[str, Any] | None = None, output_range: tuple[float, float] | None = None,
         image_shape: tuple[int, int, int] | None = None) -> LoadedModel:
    """Open anything the app opens (see :func:`models.foreign.open.open_model`)."""
    from models.foreign.open import open_model

    return LoadedModel(open_model(path, device, allow_pickle=allow_pickle, allow_code=allow_code, family=family,
                                  config=config, output_range=output_range, image_shape=image_shape))
