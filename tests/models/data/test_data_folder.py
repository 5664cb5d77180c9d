"""Image-folder datasets built from a few generated files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.data import DataError, load_dataset
from models.data.folder import load_folder


def save(path: Path, size=(20, 20), mode="L", colour=200) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


@pytest.fixture()
def flat(tmp_path) -> Path:
    save(tmp_path / "a.png")
    save(tmp_path / "b.PNG", (40, 30), "RGB", (255, 0, 0))
    save(tmp_path / "nested" / "c.jpg", (16, 16), "RGB", (0, 0, 255))
    # Non-square: a white bar in the middle of a wide black image survives the centre crop.
    wide = np.zeros((10, 50), np.uint8)
    wide[:, 20:30] = 255
    Image.fromarray(wide).save(tmp_path / "wide.jpeg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def test_loads_flat_folder(flat):
    ds = load_folder(flat, size=8, test_fraction=0.25)
    assert ds.image_shape == (1, 8, 8)
    assert len(ds.train) + len(ds.test) == 4 and len(ds.test) == 1
    assert ds.info["skipped"] == 1 and ds.info["skipped_files"] == ["broken.png"]
    assert ds.train.labels is None and ds.class_names == ()
    assert ds.train.images.dtype == torch.uint8


def test_resize_crop_and_channels(flat):
    ds = load_folder(flat, size=10, channels=3, test_fraction=0.0)
    assert ds.image_shape == (3, 10, 10) and len(ds.train) == 4 and len(ds.test) == 0
    images = ds.train.images  # sorted by name: a.png, b.PNG, nested/c.jpg, wide.jpeg
    assert torch.equal(images[1, :, 5, 5], torch.tensor([255, 0, 0], dtype=torch.uint8))
    assert images[2, 2, 5, 5] > 200 and images[2, 0, 5, 5] < 50  # blue
    grey_wide = load_folder(flat, size=10, test_fraction=0.0).train.images[3, 0]
    # The 10x50 image's centre 10x10 is columns 20..29: all white.
    assert grey_wide.float().mean() > 200


def test_subfolder_labels(tmp_path):
    for cls, n in (("cats", 3), ("dogs", 2)):
        for i in range(n):
            save(tmp_path / cls / f"{i}.png", colour=50 * i)
    save(tmp_path / "dogs" / "deeper" / "x.jpg")
    (tmp_path / "empty_class").mkdir()
    ds = load_dataset("folder", tmp_path, image_size=4)
    assert ds.class_names == ("cats", "dogs")
    labels = torch.cat([ds.train.labels, ds.test.labels])
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert ds.info["skipped"] == 0


def test_split_is_seeded(tmp_path):
    for i in range(10):
        save(tmp_path / f"{i}.png", colour=i * 20)
    a = load_folder(tmp_path, size=4, seed=3)
    b = load_folder(tmp_path, size=4, seed=3)
    assert len(a.test) == 1 and torch.equal(a.test.images, b.test.images)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no PNG or JPEG"):
        load_folder(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_folder(tmp_path / "nope")
    (tmp_path / "bad.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="could be read"):
        load_folder(tmp_path)
    with pytest.raises(DataError, match="needs a folder"):
        load_dataset("folder")


def test_unknown_dataset_lists_names():
    with pytest.raises(DataError, match="mnist, fashion-mnist, shapes, folder"):
        load_dataset("cifar")
