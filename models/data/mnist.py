"""MNIST and Fashion-MNIST: find the four IDX files, download them if allowed, load.

Both datasets use the *same file names*, so downloads go into a per-dataset subfolder of
the cache (``<cache>/mnist/``, ``<cache>/fashion-mnist/``) and a user-supplied data folder
may hold either the files themselves or such a subfolder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from models.io.cache import default_cache_dir

from .base import DataError, Dataset, TensorSplit
from .download import Progress, fetch
from .idx import read_images, read_labels

Kind = Literal["mnist", "fashion-mnist"]

#: (train images, train labels, test images, test labels), as distributed
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: where to download from; a module-level table so tests (and users behind a mirror) can
#: point it elsewhere
BASE_URLS: dict[str, str] = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}

#: md5 of each compressed file, checked after every download
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}

#: the most data an MNIST-style file may declare: 100,000 images of 28 x 28 (MNIST has 60,000
#: + 10,000), so a damaged or hostile file is refused from its header, not after decompressing
MAX_IMAGES_BYTES = 100_000 * 28 * 28
MAX_LABELS_BYTES = 100_000

# Folder names other tools use, so an existing torchvision download is found too.
_ALIASES = {"mnist": ("MNIST",), "fashion-mnist": ("FashionMNIST", "fashion_mnist", "fashion")}


def _locate(folder: Path, name: str) -> Path | None:
    """``folder/name``, or its uncompressed twin (some tools unpack the .gz)."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _candidates(kind: str, data_dir: Path | None, cache: Path) -> list[Path]:
    """Folders that may hold the files, most specific first."""
    dirs: list[Path] = []
    if data_dir is not None:
        dirs += [data_dir, data_dir / kind]
        for alias in _ALIASES[kind]:
            dirs += [data_dir / alias, data_dir / alias / "raw"]
    dirs.append(cache / kind)
    return dirs


def find_files(kind: str, data_dir: Path | None = None) -> list[Path] | None:
    """The four files from the first folder that holds all of them, or None.

    Files are taken from one folder only: mixing folders could pair MNIST images with
    Fashion-MNIST labels, since the names are identical.
    """
    for folder in _candidates(kind, data_dir, default_cache_dir()):
        found = [_locate(folder, name) for name in FILES]
        if all(p is not None for p in found):
            return found  # type: ignore[return-value]
    return None


def load_mnist(
    kind: Kind = "mnist",
    data_dir: str | Path | None = None,
    download: bool = True,
    progress: Progress | None = None,
) -> Dataset:
    """Load MNIST or Fashion-MNIST as uint8 (N, 1, 28, 28) splits with int64 labels.

    Looks in ``data_dir`` (or its ``<kind>/`` subfolder), then in the cache directory; when
    the files are missing and ``download`` is true they are fetched into
    ``<cache>/<kind>/``.  ``progress(bytes_done, bytes_total)`` reports each file's
    download in turn.  Raises :class:`DataError` saying which files are missing and where
    to put them when they can't be found or fetched.
    """
    if kind not in MD5:
        raise DataError(f"unknown MNIST variant {kind!r}; expected one of {', '.join(MD5)}.")
    data_dir = Path(data_dir).expanduser() if data_dir is not None else None
    files = find_files(kind, data_dir)
    downloaded = False
    if files is None:
        target = default_cache_dir() / kind
        if not download:
            raise DataError(_missing_message(kind, data_dir, target))
        files = _download(kind, target, progress)
        downloaded = True
    folder = files[0].parent

    train_x, train_y, test_x, test_y = (read(p, cap) for read, cap, p in
                                        zip((read_images, read_labels) * 2, (MAX_IMAGES_BYTES, MAX_LABELS_BYTES) * 2, files))
    train = _split(train_x, train_y, files[0], files[1])
    test = _split(test_x, test_y, files[2], files[3])
    info = {"source": str(folder), "downloaded": downloaded, "train_size": len(train), "test_size": len(test)}
    return Dataset(kind, train, test, CLASS_NAMES[kind], info)


def _split(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path) -> TensorSplit:
    """Check one split's images and labels agree, and wrap them as tensors."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path} holds images of shape {images.shape[1:]}, not 28x28.")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path} has {labels.shape[0]} labels but {images_path} has {images.shape[0]} "
            "images; the files don't belong together."
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path} contains label {int(labels.max())}; MNIST labels are 0-9.")
    x = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 28, 28), shares the numpy buffer
    y = torch.from_numpy(labels).long()
    return TensorSplit(x, y)


def _download(kind: str, target: Path, progress: Progress | None) -> list[Path]:
    """Fetch every file ``target`` lacks (or holds corrupt) into ``target``."""
    paths = []
    for name in FILES:
        try:  # returns at once when the file is already there with the right md5
            paths.append(fetch(BASE_URLS[kind] + name, target / name, MD5[kind][name], progress))
        except DataError as e:
            raise DataError(
                f"{e}\nTo use {kind} offline, download {', '.join(FILES)} from "
                f"{BASE_URLS[kind]} and put them in {target} (or in a folder you pass "
                "with --data-dir)."
            ) from e
    return paths


def _missing_message(kind: str, data_dir: Path | None, target: Path) -> str:
    """One message that says exactly which files to put where."""
    # Point at the folder the user would fill: the data dir if they gave one.
    folder = data_dir if data_dir is not None else target
    missing = [name for name in FILES if _locate(folder, name) is None]
    looked = f"{data_dir} (and its '{kind}' subfolder) and {target}" if data_dir is not None else str(target)
    return (
        f"{kind} is not available offline: {', '.join(missing)} missing in {folder}.\n"
        f"Download {', '.join(FILES)} from {BASE_URLS[kind]} and put them in {folder}"
        f" -- or use --data-dir to point at another folder that holds them (directly or in a "
        f"'{kind}' subfolder), or allow downloading.\n"
        f"Looked in {looked}."
    )
