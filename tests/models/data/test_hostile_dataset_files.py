"""Hostile dataset and cache files: gzip bombs refused from their header, FIFOs never
opened for reading, a cached classifier that is not one ignored before its tensors are read."""
from __future__ import annotations

import gzip
import os
import struct

import pytest
import torch

from models.data import idx as idx_module
from models.data.base import DataError
from models.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, read_images


def idx_bytes(magic: int, dims: tuple[int, ...], data: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + data


def with_isize(data: bytes, isize: int) -> bytes:
    """A gzip file whose ISIZE trailer (its last 4 bytes) says ``isize``."""
    return data[:-4] + (isize % 2**32).to_bytes(4, "little")


@pytest.mark.parametrize("isize", [2**32 - 1, idx_module.MAX_IDX_BYTES + 1000])
def test_a_gzip_whose_trailer_promises_too_much_is_refused_before_decompressing(tmp_path, isize, monkeypatch):
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(with_isize(gzip.compress(idx_bytes(IMAGES_MAGIC, (1, 28, 28), bytes(784))), isize))
    monkeypatch.setattr(idx_module.gzip, "GzipFile", lambda *a, **k: pytest.fail("decompression started"))
    with pytest.raises(DataError, match=f"unpacks to {isize:,} bytes by its gzip trailer"):
        read_images(bomb)


def test_a_real_bomb_behind_a_modest_trailer_stops_at_what_the_header_declares(tmp_path):
    """32 MB of zeros compress to ~32 KB; the header declares 784 bytes: reading stops at 785."""
    payload = idx_bytes(IMAGES_MAGIC, (1, 28, 28), bytes(32 * 2**20))
    bomb = tmp_path / "b.gz"
    bomb.write_bytes(with_isize(gzip.compress(payload, compresslevel=9), 784 + 16))
    with pytest.raises(DataError, match="more data than its header declares"):
        read_images(bomb)


@pytest.mark.parametrize("dims,cap,match", [
    # within what the file could hold, over the cap (a gzip's trailer says so first)
    ((1000, 28, 28), 100_000, "declares 784,000 bytes of data|unpacks to 784,016 bytes"),
    ((2**31, 2**31, 2), 10**12, "truncated"),  # more than the file could ever unpack to
])
def test_a_header_declaring_more_than_the_cap_is_refused_from_the_header(tmp_path, dims, cap, match):
    for name, data in (("raw", idx_bytes(IMAGES_MAGIC, dims, bytes(784_000))),
                       ("c.gz", gzip.compress(idx_bytes(IMAGES_MAGIC, dims, bytes(784_000))))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError, match=match):
            read_idx(path, IMAGES_MAGIC, max_bytes=cap)


def test_mnist_files_have_mnist_sized_caps():
    from models.data import mnist

    assert mnist.MAX_IMAGES_BYTES >= 60_000 * 28 * 28 and mnist.MAX_LABELS_BYTES >= 60_000
    assert mnist.MAX_IMAGES_BYTES < idx_module.MAX_IDX_BYTES


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"])
def test_a_fifo_named_like_an_mnist_file_is_refused_at_once(tmp_path, name, finishes):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="is not a regular file"):
        finishes(lambda: read_idx(fifo, LABELS_MAGIC))


def test_a_folder_named_like_an_mnist_file_is_refused(tmp_path):
    (tmp_path / "x.gz").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        read_idx(tmp_path / "x.gz")


def _tiny_dataset():
    from models.data.base import Dataset, TensorSplit

    imgs = torch.zeros(20, 1, 8, 8, dtype=torch.uint8)
    labels = torch.arange(20) % 2
    return Dataset("tiny", TensorSplit(imgs, labels), TensorSplit(imgs, labels), class_names=("a", "b"))


@pytest.mark.parametrize("make", ["fifo", "foreign-shapes", "garbage"])
def test_a_bad_classifier_cache_is_ignored_without_blocking_or_reading_its_tensors(tmp_path, make, finishes):
    from safetensors.torch import save_file

    from models.metrics import classifier as clf_module

    path = tmp_path / "cache.safetensors"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "garbage":
        path.write_bytes(b"\x00" * 64)
    else:  # the right metadata, a huge tensor of the wrong shape
        save_file({"w": torch.zeros(1000, 1000)}, str(path),
                  metadata={"format": clf_module.FORMAT, "dataset": "tiny", "num_classes": "2", "test_accuracy": "1"})
    assert finishes(lambda: clf_module._load_cached(path, _tiny_dataset(), 2, torch.device("cpu"))) is None
