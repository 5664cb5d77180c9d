"""Atomic file writes: readers see the old file or the new one, never a mix.

The data goes to a temporary file in the same folder (so the final ``os.replace`` is a
rename on one filesystem), is flushed and fsynced, and only then replaces the target; on
any failure the temporary file is removed and the old file stays as it was. A process killed
mid-write cannot remove it: :func:`remove_stale_temp_files` clears such leftovers later.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

#: the temporary files :func:`atomic_write_bytes` makes: ``.<name>.<mkstemp's 8 random characters>.tmp``
TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
#: a temporary file untouched for this long has no live writer (a writer's file grows as it writes)
STALE_AFTER_S = 60.0


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # named to match TEMP_NAME
    try:
        # mkstemp makes the file private (0600); users expect the usual permissions
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temp_files(folder: Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete the temporary files that writers killed mid-write (SIGKILL, power loss) left in
    ``folder``: only names of :data:`TEMP_NAME`'s form, only plain files, and only those
    unmodified for ``older_than_s`` seconds, so another process's write in progress is left
    alone. Returns the files removed; a file that cannot be removed is skipped."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no such folder, or unreadable: nothing to clean
        return removed
    cutoff = time.time() - older_than_s
    for entry in entries:
        if not TEMP_NAME.fullmatch(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed
