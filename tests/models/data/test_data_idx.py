"""IDX parsing and MNIST loading, against the real files where available."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from models.data import DataError
from models.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, read_images, read_labels
from models.data.mnist import load_mnist

MNIST_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"real MNIST files not found in {MNIST_DIR}",
)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(magic: int, dims: tuple[int, ...], data: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + data


@pytest.fixture(scope="module")
def real_mnist():
    """The real dataset, loaded once for all tests in this module (~1 s)."""
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST files not found in {MNIST_DIR}")
    return load_mnist("mnist", data_dir=MNIST_DIR, download=False)


@needs_mnist
def test_real_labels_parse():
    train = read_labels(MNIST_DIR / "train-labels-idx1-ubyte.gz")
    test = read_labels(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    assert train.shape == (60000,) and test.shape == (10000,)
    assert np.bincount(train).tolist() == TRAIN_COUNTS
    assert np.bincount(test).tolist() == TEST_COUNTS


def test_load_real_mnist(real_mnist):
    ds = real_mnist
    assert ds.name == "mnist"
    assert ds.image_shape == (1, 28, 28)
    assert len(ds.train) == 60000 and len(ds.test) == 10000
    assert ds.train.images.dtype == torch.uint8
    assert ds.train.labels.dtype == torch.int64
    assert torch.bincount(ds.train.labels).tolist() == TRAIN_COUNTS
    assert torch.bincount(ds.test.labels).tolist() == TEST_COUNTS
    assert ds.class_names == tuple("0123456789")
    b = ds.train.batch(torch.arange(8))
    assert b.shape == (8, 1, 28, 28) and b.dtype == torch.float32
    assert 0.0 <= b.min() and b.max() <= 1.0 and b.max() > 0.9


def test_finds_dataset_subfolder(tmp_path, monkeypatch):
    """data_dir/<kind>/ is accepted as well as data_dir itself (and the uncompressed names)."""
    from models.data.mnist import FILES, find_files

    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "cache"))
    sub = tmp_path / "fashion-mnist"
    sub.mkdir()
    for name in FILES:
        (sub / name.removesuffix(".gz")).write_bytes(b"")
    assert find_files("mnist", tmp_path) is None
    found = find_files("fashion-mnist", tmp_path)
    assert found is not None and [p.parent for p in found] == [sub] * 4


def test_roundtrip_small(tmp_path):
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "i.gz").write_bytes(gzip.compress(idx_bytes(IMAGES_MAGIC, (2, 3, 4), imgs.tobytes())))
    (tmp_path / "l").write_bytes(idx_bytes(LABELS_MAGIC, (2,), b"\x07\x01"))
    assert np.array_equal(read_images(tmp_path / "i.gz"), imgs)
    assert read_labels(tmp_path / "l").tolist() == [7, 1]  # raw (uncompressed) works too


@pytest.mark.parametrize(
    "content, match",
    [
        (idx_bytes(LABELS_MAGIC, (2, 3, 4), bytes(24)), "magic"),  # labels where images expected
        (idx_bytes(0x00000D03, (2, 3, 4), bytes(24)), "unsigned-byte"),  # float IDX
        (b"\x89PNG\r\n\x1a\n" + bytes(30), "not an unsigned-byte IDX"),
        (idx_bytes(IMAGES_MAGIC, (2, 3, 4), bytes(23)), "truncated"),
        (idx_bytes(IMAGES_MAGIC, (2, 3, 4), bytes(25)), "more data"),
        (idx_bytes(IMAGES_MAGIC, (2, 3, 4), b"")[:10], "header is incomplete"),
        (b"\x00\x00", "only 2 bytes"),
        (idx_bytes(IMAGES_MAGIC, (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), bytes(8)), "truncated"),
    ],
)
def test_bad_files(tmp_path, content, match):
    for name, data in (("raw", content), ("c.gz", gzip.compress(content))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError, match=match) as err:
            read_images(path)
        assert str(path) in str(err.value)


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(idx_bytes(IMAGES_MAGIC, (50, 28, 28), bytes(range(256)) * 153 + bytes(32)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good[: len(good) // 2])
    garbled = tmp_path / "garbled.gz"
    garbled.write_bytes(good[:20] + bytes(len(good) - 20))
    for path in (cut, garbled):
        with pytest.raises(DataError, match=str(path.name)):
            read_images(path)
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")


def test_mismatched_files(tmp_path):
    """Images and labels of different lengths are refused, naming both files."""
    from models.data.mnist import FILES

    for name in FILES:
        n = 3 if name.startswith("train-labels") else 2
        if "images" in name:
            data = idx_bytes(IMAGES_MAGIC, (2, 28, 28), bytes(2 * 784))
        else:
            data = idx_bytes(LABELS_MAGIC, (n,), bytes(n))
        (tmp_path / name).write_bytes(gzip.compress(data))
    with pytest.raises(DataError, match="don't belong together"):
        load_mnist("mnist", tmp_path, download=False)
