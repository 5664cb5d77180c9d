"""Reader for the IDX format used by MNIST and Fashion-MNIST.

An IDX file is a big-endian header -- a 4-byte magic ``0x00 0x00 <type> <ndim>`` then
``ndim`` 32-bit dimension sizes -- followed by the raw values.  MNIST uses only the
unsigned-byte type (0x08): magic 0x00000803 for (N, rows, cols) images and 0x00000801
for (N,) labels.  Files may be gzip-compressed (as distributed) or raw.

Everything that can go wrong with a downloaded or hand-copied file (wrong file, cut-off
download, corrupt gzip stream) becomes a :class:`DataError` naming the file, so the user
sees what to replace instead of a numpy traceback.

Memory stays bounded whatever a file claims: only regular files are opened (a FIFO would
block forever), a file whose header declares more than ``max_bytes`` of data is refused
from its header, and so is a gzip file whose trailer (ISIZE: the unpacked size, modulo
4 GiB) promises more, before a byte is decompressed. Reading stops one byte past what the
header declares, so a gzip bomb behind a modest header is cut off there.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from models.io.files import FileRefused, open_regular

from .base import DataError

#: magic numbers of the two MNIST layouts (unsigned bytes, 3 or 1 dimensions)
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

#: the most data an IDX file may declare (MNIST's training images are 47 MB)
MAX_IDX_BYTES = 256 * 2**20
#: the most a deflate stream can unpack to per compressed byte (its format's limit, ~1032)
_DEFLATE_RATIO = 1032

_GZIP_SIGNATURE = b"\x1f\x8b"
_CHUNK = 1 << 22


@contextmanager
def _open(path: Path, max_bytes: int) -> Iterator[tuple[BinaryIO, int]]:
    """``path`` open for reading, gzip decompressed transparently, and the most data it can
    hold (for a gzip file: what its size allows after decompression).

    We sniff the gzip signature rather than trust the ``.gz`` suffix: browsers and some
    tools silently decompress (or fail to) while keeping the original name. A gzip file's
    ISIZE trailer over ``max_bytes`` (plus a header) is refused before decompressing."""
    try:
        with open_regular(path, "dataset file") as raw:
            size = raw.seek(0, os.SEEK_END)
            raw.seek(0)
            if raw.read(2) != _GZIP_SIGNATURE:
                raw.seek(0)
                yield raw, size
                return
            raw.seek(max(0, size - 4))
            isize = int.from_bytes(raw.read(4), "little")
            if isize > max_bytes + 64:
                raise DataError(f"{path} unpacks to {isize:,} bytes by its gzip trailer, more than an IDX file "
                                f"read here may hold ({max_bytes:,}); the file is corrupt or not an MNIST file.")
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                yield f, size * _DEFLATE_RATIO  # type: ignore[misc]
    except FileRefused as e:
        if e.reason.startswith("no such"):
            raise DataError(f"{path} does not exist.") from None
        raise DataError(f"could not read {path}: {e.reason}") from None


def _read_exact(f: BinaryIO, n: int) -> bytearray:
    """Read up to ``n`` bytes in chunks.

    Chunked on purpose: a corrupt header can claim gigabytes, and ``f.read(n)`` would try to
    allocate all of it up front.  Here memory stays bounded by the data actually present.
    A bytearray keeps the resulting numpy array writable (torch warns on read-only arrays).
    """
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def read_idx(path: str | Path, magic: int | None = None, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Parse an unsigned-byte IDX file into a uint8 array of the shape in its header.

    ``magic``, when given, is the magic number the file must have (``IMAGES_MAGIC`` or
    ``LABELS_MAGIC``); ``max_bytes`` the most data it may declare. Raises
    :class:`DataError` for a missing, truncated, oversized, corrupt or wrong-kind file.
    """
    path = Path(path)
    try:
        with _open(path, max_bytes) as (f, holds):
            header = f.read(4)
            if len(header) < 4:
                raise DataError(f"{path} is not an IDX file: it is only {len(header)} bytes long.")
            zero, dtype, ndim = struct.unpack(">HBB", header)
            if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
                raise DataError(
                    f"{path} is not an unsigned-byte IDX file (magic 0x{header.hex()}); "
                    "the file is probably corrupt or not an MNIST file."
                )
            found = struct.unpack(">I", header)[0]
            if magic is not None and found != magic:
                raise DataError(
                    f"{path} has magic 0x{found:08x} but 0x{magic:08x} was expected "
                    f"({_kind(magic)} file); was it swapped with another file?"
                )
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise DataError(f"{path} is truncated: its header is incomplete.")
            dims = struct.unpack(f">{ndim}I", dims_raw)
            if any(d == 0 for d in dims):
                raise DataError(f"{path} declares an empty array of shape {dims}.")
            expected = math.prod(dims)  # Python ints: a corrupt header cannot overflow
            if expected > holds:
                raise DataError(
                    f"{path} is truncated: header promises {expected} bytes of data for shape "
                    f"{dims} but the file is too short to hold them. Delete it and download it again."
                )
            if expected > max_bytes:
                raise DataError(f"{path} declares {expected:,} bytes of data (shape {dims}), more than an IDX "
                                f"file read here may hold ({max_bytes:,}); the file is corrupt or not an MNIST file.")
            # Read one byte more than needed so trailing junk is detected too.
            data = _read_exact(f, expected + 1)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except (OSError, EOFError, zlib.error) as e:
        # BadGzipFile is an OSError; a cut-off gzip stream raises EOFError.
        raise DataError(f"could not read {path}: {e}. The file is corrupt or incomplete; "
                        "delete it and download it again.") from e
    if len(data) < expected:
        raise DataError(
            f"{path} is truncated: header promises {expected} bytes of data for shape "
            f"{dims} but only {len(data)} are present. Delete it and download it again."
        )
    if len(data) > expected:
        raise DataError(f"{path} has more data than its header declares (shape {dims}); the file is corrupt.")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _kind(magic: int) -> str:
    return {IMAGES_MAGIC: "an images", LABELS_MAGIC: "a labels"}.get(magic, "an IDX")


def read_images(path: str | Path, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """(N, rows, cols) uint8 images from an IDX images file (magic 0x00000803)."""
    return read_idx(path, IMAGES_MAGIC, max_bytes)


def read_labels(path: str | Path, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """(N,) uint8 labels from an IDX labels file (magic 0x00000801)."""
    return read_idx(path, LABELS_MAGIC, max_bytes)
