"""A dataset from a folder of the user's own PNG/JPEG images.

Every image is decoded once with Pillow, resized so its shorter side is ``size``,
centre-cropped to a square and stored as uint8.  Real-world folders contain junk
(truncated downloads, files with a misleading extension), so a file that fails to decode
is skipped and reported in ``info`` instead of aborting the whole load.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from models.io.images import ImageReadError, read_image
from .base import DataError, Dataset, TensorSplit

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})


def list_images(root: Path) -> list[Path]:
    """All PNG/JPEG files under ``root`` (recursive, case-insensitive), in a stable order.

    Sorted so that labels and the seeded train/test split don't depend on the order the
    filesystem happens to list files in.  Hidden files and folders (``.DS_Store``-style
    and ``._name`` resource forks) are skipped.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in EXTENSIONS:
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def load_folder(
    path: str | Path,
    size: int = 64,
    channels: int = 1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> Dataset:
    """All images under ``path`` as a dataset of uint8 (N, channels, size, size) splits.

    An image anywhere below a top-level subfolder is labelled by that subfolder
    (``class_names`` = sorted subfolder names); when any image sits directly in ``path``
    the data is unlabelled.  ``info["skipped"]`` counts unreadable files and
    ``info["skipped_files"]`` names them.  A seeded ``test_fraction`` of the images is
    held out as the test split.
    """
    root = Path(path).expanduser()
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (greyscale) or 3 (RGB), not {channels}.")
    if size < 1:
        raise DataError(f"image size must be positive, not {size}.")
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"test_fraction must be in [0, 1), not {test_fraction}.")
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder.")
    files = list_images(root)
    if not files:
        raise DataError(f"no PNG or JPEG images found in {root} (searched subfolders too).")

    images: list[np.ndarray] = []
    kept: list[Path] = []
    skipped: list[str] = []
    for file in files:
        try:
            images.append(read_image(file, size, channels))
            kept.append(file)
        except ImageReadError:
            skipped.append(file.relative_to(root).as_posix())
    if not images:
        raise DataError(f"none of the {len(files)} image files in {root} could be read.")

    labels, class_names = _labels(root, kept)
    x = torch.from_numpy(np.stack(images))
    # Seeded split on the CPU so the same folder gives the same split everywhere.
    n = len(images)
    n_test = round(n * test_fraction)
    if test_fraction > 0 and n > 1:
        n_test = min(max(n_test, 1), n - 1)  # keep at least one image on each side
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    test_idx, train_idx = perm[:n_test].sort().values, perm[n_test:].sort().values

    def split(idx: torch.Tensor) -> TensorSplit:
        return TensorSplit(x[idx], labels[idx] if labels is not None else None)

    info = {
        "path": str(root),
        "skipped": len(skipped),
        "skipped_files": skipped,
        "train_size": int(train_idx.shape[0]),
        "test_size": int(test_idx.shape[0]),
    }
    return Dataset("folder", split(train_idx), split(test_idx), class_names, info)


def _labels(root: Path, files: list[Path]) -> tuple[torch.Tensor | None, tuple[str, ...]]:
    """Labels from the top-level subfolder of each file, or (None, ()) if any is at the root."""
    tops = [p.relative_to(root).parts for p in files]
    if any(len(parts) == 1 for parts in tops):
        return None, ()
    class_names = tuple(sorted({parts[0] for parts in tops}))
    index = {name: i for i, name in enumerate(class_names)}
    return torch.tensor([index[parts[0]] for parts in tops], dtype=torch.int64), class_names
