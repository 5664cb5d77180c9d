"""Downloading dataset files safely.

The guarantee :func:`fetch` gives: after it returns, ``dest`` holds exactly the bytes with
the expected checksum; if it raises, nothing was written at ``dest``.  A download is
streamed into a temporary file *in the same directory* (so the final ``os.replace`` is an
atomic rename on the same filesystem) and only renamed once its md5 matches.  A killed
process can at worst leave a ``*.part`` file behind, never a half-written dataset file
that a later run would trust.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from models.io.files import FileRefused, open_regular

from .base import DataError


#: ``progress(bytes_done, bytes_total)``; ``bytes_total`` is 0 when the server doesn't say
Progress = Callable[[int, int], None]

_CHUNK = 1 << 16
_USER_AGENT = "latent-explorer"


def md5sum(path: str | Path) -> str:
    """Hex md5 digest of a file, read in chunks so large files don't load into memory."""
    h = hashlib.md5()
    with open_regular(path, "dataset file") as f:  # a FIFO planted in the cache never blocks
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_md5(path: str | Path, md5: str) -> bool:
    """True when ``path`` exists and its md5 is ``md5`` (case-insensitive)."""
    try:
        return md5sum(path) == md5.lower()
    except (OSError, FileRefused):
        return False


def fetch(url: str, dest: str | Path, md5: str, progress: Progress | None = None, *, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest``, verified against ``md5``; returns ``dest``.

    Returns at once when ``dest`` already has the right checksum.  ``progress`` is called
    with ``(bytes_done, bytes_total)`` as data arrives; an exception raised from it aborts
    the download (a cancel button can use that) and propagates unchanged.  Network errors,
    truncated transfers and checksum mismatches raise :class:`DataError`; in every failure
    case no file is left at ``dest`` and the temporary file is removed.
    """
    dest = Path(dest)
    if check_md5(dest, md5):
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise DataError(f"cannot write to {dest.parent}: {e}") from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream(url, out, progress, timeout)
        if digest != md5.lower():
            raise DataError(
                f"the download of {url} is corrupt (md5 {digest}, expected {md5}). "
                "Try again later, or download the file by hand and place it at "
                f"{dest}."
            )
        os.replace(tmp, dest)
    finally:
        # After a successful os.replace the temp name no longer exists; otherwise this is
        # the cleanup of a failed or aborted download.
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:  # pragma: no cover - e.g. Windows holding the file open
            pass
    return dest


def _stream(url: str, out, progress: Progress | None, timeout: float) -> str:
    """Copy ``url`` into ``out``; returns the md5 of what was received."""
    h = hashlib.md5()
    done = 0
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0)
            if progress is not None:
                progress(0, total)
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as e:
        raise DataError(f"could not download {url}: HTTP {e.code} {e.reason}.") from e
    except urllib.error.URLError as e:
        raise DataError(f"could not download {url}: {e.reason}. Are you offline?") from e
    except (http.client.HTTPException, OSError) as e:
        # IncompleteRead (connection closed early), timeouts, resets, a full disk.
        raise DataError(f"the download of {url} failed after {done} bytes: {e!r}.") from e
    if total and done != total:
        raise DataError(f"the download of {url} is incomplete: got {done} of {total} bytes.")
    return h.hexdigest()
