"""Image files in and out: the one reader every image the app opens goes through, grids, PNG.

Reading is where a user's files meet the app, so it is strict: Pillow would otherwise pick a
decoder from the file's *content*, and for PostScript/EPS that decoder runs Ghostscript, a
full interpreter, whatever the file is called. Only the formats below are ever tried; any
other file is "not a supported image" before a byte of it is decoded. Files that are not
regular files (FIFOs, devices) are refused before they are opened, since reading one can
block forever, and an image whose header declares more pixels than :data:`MAX_PIXELS` is
refused before it is decoded.
"""
from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from models.io.atomic import atomic_write_bytes
from models.io.files import FileRefused, open_regular

#: Pillow format names the app decodes; nothing else is tried, whatever a file contains.
SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
#: file-name suffixes offered in file dialogs and accepted when dropped
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: a larger image is refused from its header: 64 M pixels is a 8000 x 8000 photo
MAX_PIXELS = 64 * 1024 * 1024
#: a larger file is refused before it is opened
MAX_FILE_BYTES = 512 * 1024 * 1024


class ImageReadError(FileRefused):
    """An image file could not be read; the message names the file and the reason, ``path`` is the whole path.

    Messages start with the file's name, not its path, so that the reason still fits in
    the window's status bar."""


@contextmanager
def open_image(path: str | Path, draft: tuple[str, tuple[int, int]] | None = None) -> Iterator["Image.Image"]:  # noqa: F821
    """Open ``path`` as a Pillow image in one of :data:`SUPPORTED_FORMATS`, or raise ``ImageReadError``.

    The image is fully decoded inside (``load()``), so a truncated file fails here rather
    than later in whatever converts it. ``draft`` = (mode, size) lets the JPEG decoder
    downscale by 2/4/8 while decoding (never below ``size``): much faster for photos."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    with open_regular(path, "image file", MAX_FILE_BYTES, ImageReadError) as f:
        try:
            with warnings.catch_warnings():
                # Pillow only warns below twice its own bomb limit; ours is an error at MAX_PIXELS.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(f, formats=SUPPORTED_FORMATS)
        except UnidentifiedImageError:
            raise ImageReadError(path, f"not a supported image (the app reads "
                                       f"{', '.join(SUPPORTED_FORMATS)})") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageReadError(path, f"declares too many pixels (over {MAX_PIXELS:,}); not read") from None
        except OSError as e:
            raise ImageReadError(path, f"cannot be read as an image: {e}") from None
        with img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageReadError(path, f"is {w} x {h} pixels (over {MAX_PIXELS:,}); not read")
            try:
                if draft is not None:
                    img.draft(*draft)
                img.load()
            except Exception as e:  # noqa: BLE001 - each decoder raises its own types for a bad file
                raise ImageReadError(path, f"the image data is damaged or truncated ({e})") from None
            yield img


def _to_8bit(img: "Image.Image") -> "Image.Image":  # noqa: F821
    """16- and 32-bit greyscale scaled to 8 bits (Pillow's own conversion clips them to white)."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        a = np.asarray(img).astype(np.float64)
        if img.mode == "F":
            top = 1.0 if a.size and float(np.nanmax(a)) <= 1.0 else 255.0
        elif img.mode.startswith("I;16"):
            top = 65535.0
        else:  # 32-bit integer: a 16-bit PNG opens this way; 8-bit data stays as it is
            peak = float(a.max()) if a.size else 0.0
            top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else float(2**32 - 1)
        a = np.clip(np.nan_to_num(a) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L")
    return img


def read_image(path: str | Path, size: int | tuple[int, int], channels: int) -> np.ndarray:
    """An image file prepared as the folder dataset prepares its images: uint8 (channels, H, W).

    EXIF rotation applied, transparency onto black (the datasets' background), the largest
    centred crop of the target's aspect ratio resized with LANCZOS: the same pixels whether
    the image is part of a training folder or dropped on the window."""
    from PIL import Image, ImageOps

    h, w = (size, size) if isinstance(size, int) else size
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    mode = "L" if channels == 1 else "RGB"
    with open_image(path, draft=(mode, (w, h))) as img:
        try:
            img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF
        except Exception:  # noqa: BLE001 - a malformed EXIF block: keep the stored orientation
            pass
        img = _to_8bit(img)
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
        img = img.convert(mode)
        iw, ih = img.size
        # Crop the centred box of the target's aspect ratio and resize it in one resampling step.
        scale = min(iw / w, ih / h)
        cw, ch = max(1, round(w * scale)), max(1, round(h * scale))
        left, top = (iw - cw) // 2, (ih - ch) // 2
        img = img.resize((w, h), Image.Resampling.LANCZOS, box=(left, top, left + cw, top + ch),
                         reducing_gap=3.0)
        arr = np.asarray(img, dtype=np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.array(arr, order="C")  # a writable copy: Pillow's buffer is read-only


def read_image_tensor(path: str | Path, image_shape: tuple[int, int, int],
                      invert_light: bool = False) -> tuple[torch.Tensor, bool]:
    """An image file as a model reads it: (1, C, H, W) floats in [0, 1], prepared by :func:`read_image`.

    The built-in datasets are light strokes on black; a scan of ink on paper is the
    opposite, so with ``invert_light`` a mostly-light greyscale image is inverted (the
    returned flag says whether it was)."""
    c, h, w = image_shape
    x = torch.from_numpy(read_image(path, (h, w), c)).float().div_(255.0)[None]
    inverted = bool(invert_light and c == 1 and float(x.mean()) > 0.5)
    if inverted:
        x = 1.0 - x
    return x, inverted


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (N, H, W, C) uint8."""
    a = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, np.float32)
    a = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return a.transpose(0, 2, 3, 1)


def to_display(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """One (C, H, W) image in [0, 1] -> a fresh uint8 (H, W) grey or (H, W, C) array, as views show it."""
    a = to_uint8(image[None])[0]  # (H, W, C)
    return a[..., 0].copy() if a.shape[2] == 1 else np.ascontiguousarray(a)


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
    from PIL import Image  # Pillow only when writing images

    a = array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def load_png(path: str | Path) -> np.ndarray:
    """An image file (the app's own sample grids) as uint8 (H, W) grey or (H, W, 3) colour."""
    with open_image(path) as im:
        im = _to_8bit(im)
        return np.asarray(im.convert("L" if im.mode in ("L", "LA", "1") else "RGB"))
