"""Image grids and PNG files (numpy + Pillow)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (N, H, W, C) uint8."""
    a = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, np.float32)
    a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return a.transpose(0, 2, 3, 1)


def grid(images: torch.Tensor | np.ndarray, ncol: int | None = None, pad: int = 2, pad_value: int = 40) -> np.ndarray:
    """Tile (N, C, H, W) images into one (rows*H, cols*W, C) uint8 array."""
    tiles = to_uint8(images)
    n, h, w, c = tiles.shape
    ncol = ncol or int(math.ceil(math.sqrt(n)))
    nrow = int(math.ceil(n / ncol))
    out = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = tiles[i]
    return out


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Save an (H, W, C) or (H, W) uint8 array as PNG, atomically."""
    import io

    from PIL import Image  # Pillow only when writing images

    from .checkpoint import atomic_write_bytes

    a = array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def load_png(path: str | Path) -> np.ndarray:
    """A PNG as uint8 (H, W) for grey or (H, W, 3) for colour (alpha dropped)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L" if im.mode in ("L", "LA", "1", "I", "I;16") else "RGB"))
