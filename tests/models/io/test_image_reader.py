"""The one image reader: only the supported formats are decoded, whatever a file contains."""
from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.data.folder import load_folder
from models.io.images import ImageReadError, load_png, open_image, read_image, read_image_tensor

# A PostScript program that would write a file if an interpreter ever ran it, and one that
# never ends: Pillow's EPS plugin hands either to Ghostscript when it identifies the content.
EPS_WRITES = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(pwned) (w) file closefile\nshowpage\n"
EPS_LOOPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\n"
POSTSCRIPT_NAMES = ["sample.png", "photo.jpg", "photo.jpeg", "scan.tif", "pic.bmp", "anim.gif", "x.webp", "noext"]


@pytest.fixture()
def no_subprocess(monkeypatch):
    """Any attempt to start a process (Ghostscript included) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a process was started while reading an image: {args[:1]}")

    for name in ("Popen", "check_call", "run", "call", "check_output"):
        monkeypatch.setattr(subprocess, name, refuse)


def write_png16(path: Path, arr: np.ndarray, color_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB)."""
    h = arr.shape[0]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", arr.shape[1], h, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_the_fixture_is_postscript_that_pillow_would_hand_to_ghostscript(tmp_path):
    path = tmp_path / "sample.png"
    path.write_bytes(EPS_WRITES)
    with Image.open(path) as im:  # unrestricted Pillow: identified by content, not name
        assert im.format == "EPS"


@pytest.mark.parametrize("payload", [EPS_WRITES, EPS_LOOPS], ids=["writes", "loops"])
@pytest.mark.parametrize("name", POSTSCRIPT_NAMES)
def test_postscript_under_any_name_is_refused_before_decoding(tmp_path, no_subprocess, monkeypatch, name, payload):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(ImageReadError, match="not a supported image") as err:
        read_image(path, 16, 1)
    assert str(err.value).startswith(name) and err.value.path == path
    with pytest.raises(ImageReadError):
        read_image_tensor(path, (3, 16, 16))
    with pytest.raises(ImageReadError):
        load_png(path)  # a run folder's samples/*.png
    assert not (tmp_path / "pwned").exists()


def test_a_folder_dataset_skips_postscript_and_reads_the_rest(tmp_path, no_subprocess):
    Image.new("L", (20, 20), 200).save(tmp_path / "real.png")
    (tmp_path / "evil.png").write_bytes(EPS_WRITES)
    (tmp_path / "evil.jpg").write_bytes(EPS_LOOPS)
    ds = load_folder(tmp_path, size=8, test_fraction=0.0)
    assert len(ds.train) == 1 and sorted(ds.info["skipped_files"]) == ["evil.jpg", "evil.png"]


@pytest.mark.parametrize("kind", ["fifo", "folder", "missing"])
def test_non_regular_files_are_refused_without_blocking(tmp_path, kind):
    path = tmp_path / "x.png"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer comes
    elif kind == "folder":
        path.mkdir()
    with pytest.raises(ImageReadError, match="x.png"):
        read_image(path, 8, 1)


def test_truncated_and_oversized_images_get_one_clear_error(tmp_path, monkeypatch):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="cut.png"):
        read_image(cut, 8, 1)
    import models.io.images as images

    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageReadError, match="too many pixels|pixels"):
        read_image(good, 8, 1)


def test_16_bit_greyscale_and_rgb_pngs_scale_to_8_bits(tmp_path):
    grey = np.full((8, 8), 20000, np.uint16)  # 20000 / 65535 of full scale = 78 / 255
    write_png16(tmp_path / "g16.png", grey, 0)
    rgb = np.full((8, 8, 3), 20000, np.uint16)
    write_png16(tmp_path / "rgb16.png", rgb, 2)
    for name in ("g16.png", "rgb16.png"):
        for channels in (1, 3):
            arr = read_image(tmp_path / name, 8, channels)
            assert arr.shape == (channels, 8, 8)
            assert np.all(np.abs(arr.astype(int) - 78) <= 1), (name, channels, arr.max())
    assert abs(int(load_png(tmp_path / "g16.png").max()) - 78) <= 1


def test_dropped_images_are_prepared_as_the_folder_dataset_prepares_them(tmp_path):
    """A wide photo is centre-cropped, not squashed, just as in training data."""
    wide = np.zeros((20, 60), np.uint8)
    wide[:, 25:35] = 255  # a bright bar in the middle of a wide black image
    Image.fromarray(wide).save(tmp_path / "wide.png")
    ds = load_folder(tmp_path, size=10, test_fraction=0.0)
    x, inverted = read_image_tensor(tmp_path / "wide.png", (1, 10, 10))
    assert not inverted
    assert np.array_equal(np.round(x[0].numpy() * 255).astype(np.uint8), ds.train.images[0].numpy())


def test_open_image_reads_every_supported_format(tmp_path):
    for fmt, suffix in [("PNG", ".png"), ("JPEG", ".jpg"), ("BMP", ".bmp"), ("GIF", ".gif"),
                        ("WEBP", ".webp"), ("TIFF", ".tif")]:
        path = tmp_path / f"img{suffix}"
        Image.new("RGB", (12, 10), (200, 100, 50)).save(path, format=fmt)
        with open_image(path) as im:
            assert im.size == (12, 10) and im.format == fmt
