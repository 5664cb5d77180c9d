"""Reading a ``torch.save`` file (``.pth`` / ``.pt``) with bounded memory, running no code.

``torch.load(weights_only=True)`` already refuses every global but tensors and plain
containers, so a payload that would run code is never executed. What it does not bound is
how much memory a small file can make it use, so before it runs:

* **a zip archive** (what ``torch.save`` writes since PyTorch 1.6): its directory is read
  from the end of the file, and the archive refused when it has more entries than a state
  dict of :data:`~models.foreign.state_dicts.MAX_TENSORS` tensors would, when its entries
  unpack to much more than the file's size (a zip bomb: ``torch.save`` stores them
  uncompressed), or when its pickle (``data.pkl``: names, shapes, containers) is over
  :data:`MAX_PICKLE_BYTES`;
* **a legacy file** (a bare pickle stream; the format of PyTorch before 1.6 and of
  ``_use_new_zipfile_serialization=False``): its leading pickles are scanned opcode by
  opcode, building nothing, and the file refused when they run past
  :data:`MAX_PICKLE_BYTES`.

The file is opened once (non-blocking, re-checked to be a regular file) and that handle is
what ``torch.load`` reads, so a file swapped for a FIFO after the check cannot block.
"""
from __future__ import annotations

import io
import pickletools
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import torch

from models.foreign.errors import ForeignModelError
from models.io.files import FileRefused, open_regular
from models.runs.model_budget import available_memory

#: the pickled part of a state dict (names, shapes, storage keys) is kilobytes; this much
#: of pickle can build at most ~0.5 GB of Python objects, and is scanned in about 2 s
MAX_PICKLE_BYTES = 8 * 2**20
#: the pickles that lead a legacy file: magic number, protocol, system info, the object, storage keys
LEGACY_PICKLES = 5
#: room in a zip's directory per entry (its name and extra fields); torch's take about 100 bytes
DIRECTORY_BYTES_PER_ENTRY = 1024
#: entries of a torch.save archive besides one per storage (version, byteorder, data.pkl, ...)
OTHER_ENTRIES = 16
#: what an archive may unpack to beyond its own size (torch.save stores every entry uncompressed)
UNPACK_SLACK = 2 * 2**20

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def load_pth(path: Path, size: int, max_entries: int) -> Any:
    """What ``torch.load(weights_only=True)`` makes of the ``size``-byte file ``path``,
    after the checks above; ForeignModelError naming the file otherwise."""
    try:
        with open_regular(path, "PyTorch file") as f:
            if f.read(4) == b"PK\x03\x04":  # how torch.load itself tells an archive from a legacy file
                _check_archive(path, f, size, max_entries)
            else:
                _check_legacy(path, f, size)
            f.seek(0)
            with warnings.catch_warnings():
                # "Detected pickle protocol 4": a note to torch's developers, not to the user
                warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
                return torch.load(f, map_location="cpu", weights_only=True)
    except FileRefused as e:
        raise ForeignModelError(path, e.reason) from None
    except ForeignModelError:
        raise
    except Exception as e:  # UnpicklingError, RuntimeError (bad records), EOFError (truncated), ...
        raise ForeignModelError(path, why_unreadable(e)) from None


def why_unreadable(e: Exception) -> str:
    """What ``torch.load``'s error ``e`` means for the user."""
    import re

    text = str(e)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return (f"holds Python objects besides tensors (it names {found.group(1)}), and building them could run code, "
                "so it is refused even with the pickle allow. If it is a whole model saved with torch.save(model), "
                "save model.state_dict() instead.")
    if "Weights only load failed" in text:
        return "uses pickle features that a tensors-only reader refuses (it may hold code), so it was not read"
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return f"could not be read as a PyTorch file (corrupt or truncated?): {first[:200]}"


def _unreadable(path: Path, why: str) -> ForeignModelError:
    return ForeignModelError(path, f"could not be read as a PyTorch file (corrupt or truncated?): {why}")


def _mb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"


def _directory(path: Path, f: BinaryIO, size: int) -> tuple[int, int]:
    """(entries, directory bytes) from the zip's end record (zip64's where it has one),
    read without parsing the directory itself."""
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise _unreadable(path, "the zip archive's end record is missing")
    entries, cd_size = struct.unpack("<HI", tail[at + 10:at + 16])
    if entries != 0xFFFF and cd_size != 0xFFFFFFFF:
        return entries, cd_size
    end = size - tail_len + at
    f.seek(max(0, end - 20))
    locator = f.read(20)
    if len(locator) != 20 or not locator.startswith(_ZIP64_LOCATOR):
        raise _unreadable(path, "the zip archive's zip64 locator is missing")
    (offset,) = struct.unpack("<Q", locator[8:16])
    if offset > size - 56:
        raise _unreadable(path, "the zip archive's zip64 end record is past its end")
    f.seek(offset)
    record = f.read(56)
    if not record.startswith(_ZIP64_EOCD):
        raise _unreadable(path, "the zip archive's zip64 end record is missing")
    entries64, cd_size64 = struct.unpack("<QQ", record[32:48])
    return entries64, cd_size64


def _check_archive(path: Path, f: BinaryIO, size: int, max_entries: int) -> None:
    most = max_entries + OTHER_ENTRIES
    entries, cd_size = _directory(path, f, size)
    if entries > most or cd_size > most * DIRECTORY_BYTES_PER_ENTRY:
        raise ForeignModelError(path, f"is an archive of {entries:,} entries ({_mb(cd_size)} of directory); a state "
                                      f"dict of at most {max_entries:,} tensors has at most {most:,}; not read")
    f.seek(0)
    try:
        infos = zipfile.ZipFile(f).infolist()  # the directory only: bounded by the check above
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise _unreadable(path, f"its zip directory: {str(e)[:120]}") from None
    if len(infos) > most:
        raise ForeignModelError(path, f"is an archive of {len(infos):,} entries; a state dict of at most "
                                      f"{max_entries:,} tensors has at most {most:,}; not read")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > 2 * size + UNPACK_SLACK:
        raise ForeignModelError(path, f"would unpack to {_mb(unpacked)} from a file of {_mb(size)} (torch.save stores "
                                      "its tensors uncompressed; this looks like a zip bomb); not read")
    free = available_memory()
    if free is not None and 2 * unpacked > free:
        raise ForeignModelError(path, f"unpacks to {_mb(unpacked)} and this machine has {_mb(free)} available; not read")
    for info in infos:
        if info.filename.rsplit("/", 1)[-1] == "data.pkl" and info.file_size > MAX_PICKLE_BYTES:
            raise ForeignModelError(path, f"its pickle (data.pkl) is {_mb(info.file_size)}, over the "
                                          f"{_mb(MAX_PICKLE_BYTES)} read (a state dict's is a few kilobytes); not read")


def _check_legacy(path: Path, f: BinaryIO, size: int) -> None:
    free = available_memory()
    if free is not None and 2 * size > free:
        raise ForeignModelError(path, f"is {_mb(size)} and this machine has {_mb(free)} available; not read")
    f.seek(0)
    head = f.read(MAX_PICKLE_BYTES + 1)
    limit = min(len(head), MAX_PICKLE_BYTES)
    window = io.BytesIO(head[:limit])
    for _ in range(LEGACY_PICKLES):  # torch.load unpickles these; the raw storages follow them
        try:
            for op, _arg, _pos in pickletools.genops(window):  # reads opcodes, builds nothing
                if op.name == "STOP":
                    break
        except (ValueError, EOFError, struct.error, UnicodeDecodeError):
            if len(head) > limit and window.tell() >= limit:
                raise ForeignModelError(path, f"holds a pickle over the {_mb(MAX_PICKLE_BYTES)} read (a state dict's is "
                                              "a few kilobytes besides its tensors); not read") from None
            return  # not a pickle, or a truncated one: torch.load says which
        if window.tell() >= len(head):
            return  # the file ends here
