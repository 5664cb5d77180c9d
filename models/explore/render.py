"""Decoding latents to images and exporting them: batched eval-mode decoding, a path's
frames, animated GIFs and single-row PNG strips.

Everything rendered is held in memory until it is written (a GIF's frames are compared with
each other as they are encoded), so what may be asked for is bounded: at most
:data:`MAX_IMAGES` images and :data:`MAX_OUTPUT_BYTES` of pixels in one output, checked by
:func:`check_output_size` before anything is decoded."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from models.explore.latent_paths import LatentPath
from models.families.base import LatentModel
from models.io.atomic import atomic_write_bytes
from models.io.images import grid, save_png, to_uint8

#: images in one output (GIF frames, sample grid, traversal cells, .npy samples)
MAX_IMAGES = 100_000
#: the pixels of one output, as float32 values: 1 GB
MAX_OUTPUT_BYTES = 2**30


class OutputTooLarge(ValueError):
    """An output asked for is over the bounds above; the message says what to ask for instead."""


def check_output_size(count: int, image_shape: Sequence[int], what: str = "images", bytes_per_value: int = 4) -> None:
    """Refuse ``count`` images of ``image_shape`` (C, H, W) when over :data:`MAX_IMAGES` or
    :data:`MAX_OUTPUT_BYTES`; ``what`` names them in the message ("frames", "samples")."""
    if count > MAX_IMAGES:
        raise OutputTooLarge(f"{count:,} {what} is too many: at most {MAX_IMAGES:,} in one output")
    per_image = int(np.prod([int(v) for v in image_shape])) * bytes_per_value
    if count * per_image > MAX_OUTPUT_BYTES:
        most = max(1, MAX_OUTPUT_BYTES // max(1, per_image))
        raise OutputTooLarge(f"{count:,} {what} of {' x '.join(str(int(v)) for v in image_shape)} would take "
                             f"{count * per_image / 2**30:.1f} GB; at most {most:,} fit in one output")


class eval_mode:
    """Decode in eval mode (batch norm with running stats, so a frame never depends on
    its batch-mates), restoring the previous mode after. Do not use on a model that is
    being trained in another thread; the GUI renders with its snapshot copy."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model, self.was_training = model, model.training

    def __enter__(self) -> None:
        if self.was_training:
            self.model.eval()

    def __exit__(self, *exc: Any) -> None:
        if self.was_training:
            self.model.train()


@torch.no_grad()
def decode_batched(model: LatentModel, flat: torch.Tensor | np.ndarray, batch: int = 256) -> torch.Tensor:
    """Decode (N, D) latents in batches, eval mode, no grad -> (N, C, H, W) on the CPU."""
    flat = torch.as_tensor(np.asarray(flat, np.float32) if not isinstance(flat, torch.Tensor) else flat, dtype=torch.float32)
    device = model.device
    with eval_mode(model):
        out = [model.decode(flat[a : a + batch].to(device)).float().clamp(0, 1).cpu() for a in range(0, flat.shape[0], batch)]
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def render_frames(model: LatentModel, path: LatentPath, n: int, batch: int = 256) -> list[np.ndarray]:
    """Decode ``path.frames(n)``: a list of n (H, W, C) uint8 images (each batch turned into
    uint8 as it is decoded, so only one batch is ever held as floats). Raises
    :class:`OutputTooLarge` for an ``n`` over the bounds."""
    if path.dim != model.latent_spec.input_dim:
        raise ValueError(f"the path's latents have {path.dim} values, the {model.family} model takes {model.latent_spec.input_dim}")
    check_output_size(n, model.config.image_shape, "frames")
    flat = torch.from_numpy(path.frames(n))
    frames: list[np.ndarray] = []
    for a in range(0, n, batch):
        frames.extend(to_uint8(decode_batched(model, flat[a : a + batch], batch)))
    return frames


def _pil_frame(frame: np.ndarray):
    from PIL import Image

    a = np.asarray(frame, np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    return Image.fromarray(a, "L" if a.ndim == 2 else "RGB")


def save_gif(frames: Sequence[np.ndarray], file: str | Path, fps: float = 12.0, loop: bool = True,
             pingpong: bool = False) -> Path:
    """Animated GIF of (H, W, C) uint8 frames (grey as "L"), written atomically.

    ``loop``: repeat forever (GIF loop=0), else play once. ``pingpong``: append the frames
    backwards without repeating either end. Pillow merges consecutive identical frames
    into one longer frame, so a still stretch reads back as fewer frames.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to write")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if pingpong and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    h, w = frames[0].shape[:2]
    check_output_size(len(frames), (frames[0].size // (h * w), h, w), "frames")
    images = [_pil_frame(f) for f in frames]
    kwargs: dict[str, Any] = {"save_all": True, "append_images": images[1:], "duration": max(1, round(1000.0 / fps))}
    if loop:
        kwargs["loop"] = 0
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", **kwargs)
    atomic_write_bytes(Path(file), buf.getvalue())
    return Path(file)


def save_strip(frames: Sequence[np.ndarray], file: str | Path, pad: int = 2) -> Path:
    """All frames in one row as a PNG (the padding of :func:`models.io.images.grid`)."""
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to write")
    return save_png(strip(frames, pad), file)


def strip(frames: Sequence[np.ndarray], pad: int = 2) -> np.ndarray:
    """(H, W, C) uint8 frames -> one (H + 2 pad, n (W + pad) + pad, C) row."""
    stack = np.stack([np.asarray(f, np.uint8).reshape(f.shape[0], f.shape[1], -1) for f in frames])
    return grid(stack.transpose(0, 3, 1, 2).astype(np.float32) / 255.0, ncol=len(frames), pad=pad)

