"""Opening the files a user hands the app: regular files only, of bounded size, with one
message naming the file and the problem when one cannot be read.

Every reader of a user's file comes through here (checkpoints, run folders, path files,
images, dataset files, caches), so the same things are refused the same way:

* a path that is not a regular file (a FIFO, a device, a socket, a folder) is refused from
  its ``stat``, before it is opened: opening a FIFO for reading blocks until a writer
  comes, forever, and not even Ctrl+C ends that wait. The file is then opened with
  ``O_NONBLOCK`` and checked once more, so one swapped in between cannot block either;
* a file over the size its kind may have is refused before it is read;
* a file that exists but cannot be read says so ("not readable: permission denied"),
  never "No such file or directory".
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

#: size caps per kind of file (bytes): far above what the app writes, far below a machine's memory
MAX_JSON_BYTES = 64 * 2**20          # config.json, eval.json, settings and session files
MAX_PATH_FILE_BYTES = 256 * 2**20    # a latent path: 100,000 keyframes of a 100-value latent
MAX_METRICS_BYTES = 256 * 2**20      # metrics.jsonl: only this much of its end is read

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


class FileRefused(ValueError):
    """A file the app will not read, or could not; the message is ``"<name>: <reason>"``.

    ``path`` is the whole path, ``reason`` the part after the name. The message starts with
    the file's name, not its path, so that it still fits in the window's status bar."""

    def __init__(self, path: str | Path, reason: str) -> None:
        path = Path(path)
        super().__init__(f"{path.name or path}: {reason}")
        self.path = path
        self.reason = reason


def describe_os_error(e: OSError, what: str = "file") -> str:
    """What went wrong with a file, in the user's words (no errno numbers)."""
    if isinstance(e, FileNotFoundError):
        return f"no such {what}"
    if isinstance(e, PermissionError):
        return f"the {what} is not readable: permission denied"
    if isinstance(e, IsADirectoryError):
        return f"is a folder, not {_a(what)}"
    if e.errno == errno.ENOSPC:
        return "the disk is full"
    if e.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    if e.errno == errno.ELOOP:
        return "the path has too many symbolic links (a loop?)"
    return f"the {what} cannot be read: {e.strerror or e}"


def _check_mode(path: Path, st: os.stat_result, what: str, error: type[FileRefused]) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise error(path, f"is a folder, not a{'n' if what[:1] in 'aeiou' else ''} {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(path, "is not a regular file (a pipe or device), so it is not read")


def check_regular_file(path: str | Path, what: str = "file", error: type[FileRefused] = FileRefused) -> os.stat_result:
    """``os.stat`` of ``path`` if it is a regular file, else ``error(path, reason)``.

    ``what`` names the kind in messages ("image file", "checkpoint"); ``error`` is the
    caller's subclass of :class:`FileRefused` (ImageReadError for images)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise error(path, describe_os_error(e, what)) from None
    _check_mode(path, st, what, error)
    return st


def _size_text(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n:,} bytes"


def check_size(path: Path, size: int, max_bytes: int | None, what: str, error: type[FileRefused] = FileRefused) -> None:
    """Refuse a ``size``-byte file over ``max_bytes`` (None: no cap)."""
    if max_bytes is not None and size > max_bytes:
        raise error(path, f"is {_size_text(size)}; {_a(what)} over {_size_text(max_bytes)} is not read")


@contextmanager
def open_regular(path: str | Path, what: str = "file", max_bytes: int | None = None,
                 error: type[FileRefused] = FileRefused) -> Iterator[BinaryIO]:
    """``path`` open for binary reading if it is a regular file of at most ``max_bytes``,
    else ``error`` naming the file (see the module docstring)."""
    path = Path(path)
    st = check_regular_file(path, what, error)
    check_size(path, st.st_size, max_bytes, what, error)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise error(path, describe_os_error(e, what)) from None
    try:
        _check_mode(path, os.fstat(fd), what, error)  # the same file as the stat, or refused
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def read_bytes(path: str | Path, what: str = "file", max_bytes: int | None = MAX_JSON_BYTES,
               error: type[FileRefused] = FileRefused) -> bytes:
    """The whole of a regular file of at most ``max_bytes`` (one that grew past it while
    being read is refused too)."""
    path = Path(path)
    with open_regular(path, what, max_bytes, error) as f:
        try:
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
        except OSError as e:
            raise error(path, describe_os_error(e, what)) from None
    check_size(path, len(data), max_bytes, what, error)
    return data


def read_text(path: str | Path, what: str = "file", max_bytes: int | None = MAX_JSON_BYTES,
              error: type[FileRefused] = FileRefused) -> str:
    """A regular UTF-8 text file of at most ``max_bytes``, decoded."""
    data = read_bytes(path, what, max_bytes, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(Path(path), f"is not a text file (not UTF-8), so it is no {what}") from None


def _a(what: str) -> str:
    """``what`` with its indefinite article: "an ONNX model", "a checkpoint"."""
    return f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"
