"""Latents and images as arrays: checked, decoded and encoded in batches, read and written
as ``.npy``, for any model (the app's families and foreign ones alike).

This is what a script talks to a model through (``decode`` / ``encode`` commands, the
notebook API): latents are float32 ``N x d`` in the model's flat layout, images float32
``N x C x H x W`` in [0, 1]. Every check says in one line what was expected and what came
(:class:`ArrayRefused`, a ValueError), before anything runs or is written: numbers only (no
object, string or ragged arrays), dense tensors with values (no meta or sparse ones), and no
more rows than this machine's memory holds, in and out. A model that gives NaN or infinite
values is reported (:class:`BadOutput`) with the first row that did, not returned.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch

from models.families.base import LatentModel
from models.io.atomic import atomic_write_bytes
from models.io.files import FileRefused, check_regular_file, check_size, open_regular
from models.runs.model_budget import available_memory

#: latents or images a .npy may hold (8 GB of float32 would not fit most machines twice)
MAX_NPY_BYTES = 4 * 2**30
#: rows decoded or encoded at once: bounded memory whatever N is
BATCH = 256
#: how far outside [0, 1] an image value may be before it is refused (rounding of [0, 1] data)
IMAGE_SLACK = 1e-4


class ArrayRefused(ValueError):
    """Latents or images that are not what the model takes; the message says what was expected."""


class BadOutput(ValueError):
    """The model gave values that are no images or codes (NaN, infinities); nothing is returned."""


def _dims(shape: tuple[int, ...]) -> str:
    return " x ".join(str(s) for s in shape) if shape else "a single number"


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


def check_memory(n_values: int, what: str) -> None:
    """Refuse making ``n_values`` float32 values when they would not fit this machine's memory twice."""
    free = available_memory()
    if free is not None and 2 * 4 * n_values > free:
        raise ArrayRefused(f"{what} would take {4 * n_values / 2**30:.1f} GB and this machine has {free / 2**30:.1f} GB "
                           "available; give fewer at a time")


def _as_tensor(a: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        if a.device.type == "meta":
            raise ArrayRefused(f"{what} are a meta tensor: it has a shape but no values")
        if a.layout != torch.strided or a.is_nested:
            raise ArrayRefused(f"{what} must be a dense tensor; got a {a.layout} one")
        if a.is_complex() or a.is_quantized:
            raise ArrayRefused(f"{what} must be real numbers; got {a.dtype}")
        check_memory(a.numel(), what)
        return a.detach().to("cpu", torch.float32)
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError):  # a ragged list: numpy cannot make one array of it
        raise ArrayRefused(f"{what} must be a rectangular array of numbers (rows of one length)") from None
    if arr.dtype.kind not in "fiub":
        raise ArrayRefused(f"{what} must be numbers; got an array of {arr.dtype}")
    check_memory(arr.size, what)  # before the float32 copy: a broadcast view claims more than it stores
    with np.errstate(over="ignore"):  # values past float32's range become inf, refused by _finite
        return torch.from_numpy(np.array(arr, dtype=np.float32, order="C", copy=True))


def _finite(t: torch.Tensor, what: str) -> None:
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0]) if t.dim() else 0
        raise ArrayRefused(f"{what} hold NaN or infinite values (first in row {row})")


def _checked_output(out: torch.Tensor, at: int, what: str) -> torch.Tensor:
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        row = at + int(bad.reshape(len(out), -1).any(1).nonzero()[0, 0])
        raise BadOutput(f"the model gave NaN or infinite {what} (first for row {row}), so none are returned; "
                        "its weights may hold NaN, or that input overflows it")
    return out


@torch.no_grad()
def decode_array(model: LatentModel, z: np.ndarray | torch.Tensor, batch: int = BATCH) -> torch.Tensor:
    """Images (N, C, H, W) float32 in [0, 1] on the CPU for the latents ``z`` (checked);
    BadOutput when the model decodes some to NaN."""
    t = check_latents(model, z)
    check_memory(len(t) * math.prod(int(v) for v in model.config.image_shape), f"{len(t):,} decoded images")
    device = model.device
    parts = [_checked_output(model.decode(t[i:i + batch].to(device)).float().cpu(), i, "images").clamp(0.0, 1.0)
             for i in range(0, len(t), batch)]
    return torch.cat(parts) if parts else torch.zeros(0, *model.config.image_shape)


@torch.no_grad()
def encode_array(model: LatentModel, x: np.ndarray | torch.Tensor, batch: int = BATCH,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
    """The encoder's mean codes (N, d) float32 on the CPU for the images ``x`` (checked);
    ``labels`` (N,) int64: a class-conditional encoder's classes of the images (None: it
    infers them). ArrayRefused for a model without an encoder or labels it cannot take,
    BadOutput when it gives NaN."""
    if not model.latent_spec.has_encoder:
        raise ArrayRefused(f"{getattr(model, 'describe', lambda: model.family)()} has no encoder: it cannot map images "
                           "to latents")
    t = check_images(model, x)
    if labels is not None:
        if not getattr(model, "conditional", False) or len(labels) != len(t):
            raise ArrayRefused(f"labels go with a class-conditional model's images, one per image; got {len(labels)} "
                               f"for {len(t)} images of a {model.family}")
        k = model.latent_spec.categorical[0]
        if labels.dtype != torch.int64 or (len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < k):
            raise ArrayRefused(f"labels must be int64 classes 0 to {k - 1}")
    device = model.device

    def codes(i: int) -> torch.Tensor:
        x_i = t[i:i + batch].to(device)
        return model.encode(x_i) if labels is None else model.encode(x_i, labels[i:i + batch].to(device))

    parts = [_checked_output(codes(i).float().cpu(), i, "codes") for i in range(0, len(t), batch)]
    return torch.cat(parts) if parts else torch.zeros(0, model.latent_spec.input_dim)


def _article(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


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
            raise FileRefused(path, f"holds {dtype} values; {_article(what)} file holds numbers")
        if any(int(s) < 0 for s in shape):
            raise FileRefused(path, f"is not a .npy file (its header declares a negative size: {shape})")
        # Python integers: numpy's int64 product of (2**32, 2**32) wraps to 0 and would pass
        if math.prod(int(s) for s in shape) * dtype.itemsize > st.st_size:
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
