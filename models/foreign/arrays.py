"""Latents and images as arrays: checked, decoded and encoded in batches, read and written
as ``.npy``, for any model (the app's families and foreign ones alike).

This is what a script talks to a model through (``decode`` / ``encode`` commands, the
notebook API): latents are float32 ``N x d`` in the model's flat layout, images float32
``N x C x H x W`` in [0, 1]. Every check says in one line what was expected and what came
(:class:`ArrayRefused`, a ValueError), before anything runs or is written.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from models.families.base import LatentModel
from models.io.atomic import atomic_write_bytes
from models.io.files import FileRefused, check_regular_file, check_size, open_regular

#: latents or images a .npy may hold (8 GB of float32 would not fit most machines twice)
MAX_NPY_BYTES = 4 * 2**30
#: rows decoded or encoded at once: bounded memory whatever N is
BATCH = 256
#: how far outside [0, 1] an image value may be before it is refused (rounding of [0, 1] data)
IMAGE_SLACK = 1e-4


class ArrayRefused(ValueError):
    """Latents or images that are not what the model takes; the message says what was expected."""


def _dims(shape: tuple[int, ...]) -> str:
    return " x ".join(str(s) for s in shape)


def check_latents(model: LatentModel, z: np.ndarray | torch.Tensor, what: str = "latents") -> torch.Tensor:
    """``z`` (N x d, or one latent of d) as a float32 CPU tensor (N, d), or ArrayRefused."""
    d = model.latent_spec.input_dim
    t = _as_tensor(z, what)
    if t.dim() == 1:
        t = t[None]
    if t.dim() != 2 or t.shape[1] != d:
        raise ArrayRefused(f"{what} must be N x {d} (this model's latent has {d} values); got {_dims(tuple(t.shape))}")
    _finite(t, what)
    return t


def check_images(model: LatentModel, x: np.ndarray | torch.Tensor, what: str = "images") -> torch.Tensor:
    """``x`` (N x C x H x W in [0, 1], or one C x H x W image) as a float32 CPU tensor, or ArrayRefused."""
    shape = tuple(int(v) for v in model.config.image_shape)
    t = _as_tensor(x, what)
    if t.dim() == 3:
        t = t[None]
    if t.dim() != 4 or tuple(t.shape[1:]) != shape:
        raise ArrayRefused(f"{what} must be N x {_dims(shape)} (this model's images); got {_dims(tuple(t.shape))}")
    _finite(t, what)
    if t.numel() and (float(t.min()) < -IMAGE_SLACK or float(t.max()) > 1 + IMAGE_SLACK):
        raise ArrayRefused(f"{what} must be in [0, 1]; they span {float(t.min()):g} .. {float(t.max()):g}"
                           + (" (8-bit images: divide by 255)" if float(t.max()) > 1.5 else ""))
    return t.clamp(0.0, 1.0)


def _as_tensor(a: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        t = a.detach()
    else:
        arr = np.asarray(a)
        if arr.dtype.kind not in "fiub":
            raise ArrayRefused(f"{what} must be numbers; got an array of {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if t.is_complex():
        raise ArrayRefused(f"{what} must be real numbers; got {t.dtype}")
    return t.to("cpu", torch.float32)


def _finite(t: torch.Tensor, what: str) -> None:
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise ArrayRefused(f"{what} hold NaN or infinite values (first in row {row})")


@torch.no_grad()
def decode_array(model: LatentModel, z: np.ndarray | torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """Images (N, C, H, W) float32 in [0, 1] on the CPU for the latents ``z`` (checked)."""
    t = check_latents(model, z)
    device = model.device
    parts = [model.decode(t[i:i + batch].to(device)).float().clamp(0.0, 1.0).cpu() for i in range(0, len(t), batch)]
    return torch.cat(parts) if parts else torch.zeros(0, *model.config.image_shape)


@torch.no_grad()
def encode_array(model: LatentModel, x: np.ndarray | torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """The encoder's mean codes (N, d) float32 on the CPU for the images ``x`` (checked);
    ArrayRefused for a model without an encoder."""
    if not model.latent_spec.has_encoder:
        raise ArrayRefused(f"{getattr(model, 'describe', lambda: model.family)()} has no encoder: it cannot map images "
                           "to latents")
    t = check_images(model, x)
    device = model.device
    parts = [model.encode(t[i:i + batch].to(device)).float().cpu() for i in range(0, len(t), batch)]
    return torch.cat(parts) if parts else torch.zeros(0, model.latent_spec.input_dim)


def read_npy(path: str | Path, what: str = "array", max_bytes: int = MAX_NPY_BYTES) -> np.ndarray:
    """A numeric ``.npy`` file (no pickled objects), bounded; FileRefused naming the file."""
    path = Path(path)
    st = check_regular_file(path, f"{what} file")
    check_size(path, st.st_size, max_bytes, f"{what} file")
    with open_regular(path, f"{what} file", max_bytes) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)  # the header only: bounded
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"format version {version[0]}.{version[1]} is not read")
        except (ValueError, EOFError, SyntaxError) as e:
            raise FileRefused(path, f"is not a .npy file ({str(e).splitlines()[0][:120]})") from None
        if dtype.hasobject or dtype.kind not in "fiub":
            raise FileRefused(path, f"holds {dtype} values; a {what} file holds numbers")
        if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > st.st_size:
            raise FileRefused(path, "is truncated (its header declares more values than it holds)")
        f.seek(0)
        try:
            return np.load(f, allow_pickle=False)
        except (ValueError, EOFError, OSError) as e:
            raise FileRefused(path, f"cannot be read as a .npy file: {str(e).splitlines()[0][:120]}") from None


def write_npy(path: str | Path, array: np.ndarray | torch.Tensor) -> Path:
    """Write ``array`` as float32 ``.npy``, atomically (a reader never sees half a file)."""
    path = Path(path)
    a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype=np.float32), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
    return path
