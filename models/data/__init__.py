"""Dataset sources behind one entry point, :func:`load_dataset`.

Every source returns a :class:`Dataset` whose splits hand out float batches on the
device of the index tensor (see :mod:`models.data.base`).  All failures a user can fix
(missing files, no network, an empty folder, a bad option) raise :class:`DataError`
with a message that says what to do.
"""
from __future__ import annotations

from pathlib import Path

from .base import DataError, Dataset, Split, TensorSplit
from .download import Progress


__all__ = [
    "DATASETS", "DataError", "Dataset", "Split", "TensorSplit", "load_dataset",
]

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "shapes", "folder")

# Spellings people type for the same dataset.
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fashion": "fashion-mnist",
            "dsprites": "shapes"}


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    progress: Progress | None = None,
    image_size: int | None = None,
    channels: int = 1,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`).

    ``data_dir``: where MNIST-style files live (default: the cache dir), or the image
    folder for ``"folder"`` (required there).  ``download``/``progress`` apply to the
    MNIST variants.  ``image_size``: 28 for the MNIST variants, 64 (default) or 28 for
    shapes, anything (default 64) for a folder.  ``channels`` (1 or 3) applies to
    folders; the built-in datasets are greyscale.
    """
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}.")
    if key != "folder" and channels != 1:
        raise DataError(f"{key} is greyscale (1 channel); channels={channels} only applies to image folders.")

    # Imports are local so loading one source doesn't import the others' dependencies.
    if key in ("mnist", "fashion-mnist"):
        if image_size not in (None, 28):
            raise DataError(f"{key} images are 28x28; image size {image_size} is not available.")
        from .mnist import load_mnist

        return load_mnist(key, data_dir, download=download, progress=progress)  # type: ignore[arg-type]
    if key == "shapes":
        from .shapes import load_shapes

        return load_shapes(size=64 if image_size is None else image_size)
    if data_dir is None:
        raise DataError("the 'folder' dataset needs a folder of images: pass it as the data directory (--data-dir).")
    from .folder import load_folder

    return load_folder(data_dir, size=64 if image_size is None else image_size, channels=channels)
