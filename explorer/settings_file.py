"""Whether the settings file can be read, checked before Qt reads it.

QSettings reads its file in its constructor and trusts it: a FIFO there blocks the app
before its window exists, a folder or an unreadable file silently loses every change, and
a huge or binary file is read whole. So the file is looked at first (:func:`usable_file`):

* missing, or a small text file of ``key=value`` lines and ``[sections]``: used as it is;
* too large, binary, or not an ini file: moved aside to ``settings.ini.corrupt`` (then
  ``.corrupt-2``…), so the user's file is kept, never overwritten, and the app starts with
  its defaults in a fresh file;
* a folder, a FIFO or device, or a file that cannot be read: left alone, and this session's
  settings go to a private temporary file instead (they are not kept).

Each case is said once per file (:func:`take_notices`, or the handler the window sets),
in words: which file, what is wrong with it and what the app did instead.
"""
from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable

#: a settings file over this size is not read (the app's own is a few kB)
MAX_SETTINGS_BYTES = 1024 * 1024

#: the file each checked file maps to, by the stat it had when checked
_checked: dict[Path, tuple[tuple[int, int, int], Path]] = {}
_session_files: dict[Path, Path] = {}
_said: set[str] = set()  # file and text of what was said
_pending: list[str] = []
_handler: Callable[[str], None] | None = None


# -- notices -----------------------------------------------------------------------------
def notice(text: str, file: Path | None = None) -> None:
    """Say ``text`` about settings ``file`` once per process: to the handler if one is set,
    else kept for :func:`take_notices`."""
    key = f"{file}\n{text}"
    if key in _said:
        return
    _said.add(key)
    if _handler is not None:
        try:
            _handler(text)
            return
        except RuntimeError:  # the window it went to is gone
            pass
    _pending.append(text)


def take_notices() -> list[str]:
    """What was said while no handler was set (and forget it)."""
    out = list(_pending)
    _pending.clear()
    return out


def set_notice_handler(handler: Callable[[str], None] | None) -> Callable[[str], None] | None:
    """Route notices to ``handler`` (None: keep them for :func:`take_notices`); returns the previous one."""
    global _handler
    previous, _handler = _handler, handler
    return previous


# -- the file ------------------------------------------------------------------------------
def usable_file(path: Path) -> Path:
    """The file QSettings may read for ``path``: ``path`` itself, or a session-only stand-in."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _creatable(path)
    except OSError as e:
        return _session_file(path, _os_words(e))
    signature = (st.st_ino, st.st_size, st.st_mtime_ns)
    known = _checked.get(path)
    if known is not None and known[0] == signature:
        return known[1]
    if stat.S_ISDIR(st.st_mode):
        return _session_file(path, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        return _session_file(path, "is not a regular file (a pipe or device)")
    if st.st_size > MAX_SETTINGS_BYTES:
        return _set_aside(path, f"is {st.st_size / 2**20:.0f} MB, far more than settings take")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SETTINGS_BYTES + 1)
    except OSError as e:
        return _session_file(path, _os_words(e))
    problem = ini_problem(data)
    if problem is not None:
        return _set_aside(path, problem)
    _checked[path] = (signature, path)
    return path


def ini_problem(data: bytes) -> str | None:
    """Why ``data`` is not a settings file QSettings wrote, or None."""
    if len(data) > MAX_SETTINGS_BYTES:
        return "is larger than settings take"
    if b"\0" in data:
        return "holds binary data"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not text"
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in ";#" or (line[0] == "[" and line[-1] == "]") or "=" in line:
            continue
        return f"has a line ({n}) that is not a setting"
    return None


def _creatable(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return _session_file(path, f"cannot be made (its folder: {_os_reason(e)})")
    return path


def _set_aside(path: Path, reason: str) -> Path:
    """Move the user's unreadable file out of the way (kept, not overwritten)."""
    backup = path.with_name(path.name + ".corrupt")
    n = 1
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.corrupt-{n}")
    try:
        path.rename(backup)
    except OSError as e:
        return _session_file(path, f"{reason}, and could not be moved aside ({_os_reason(e)})")
    notice(f"Settings ignored, the defaults used: {path.name} {reason}. The file is kept as {backup.name} "
           f"in {path.parent}.")
    return path


def _session_file(path: Path, reason: str) -> Path:
    """A private stand-in file for this session, the user's own left as it is."""
    notice(f"Settings ignored, the defaults used: {path} {reason}; changes made now are not kept.")
    stand_in = _session_files.get(path)
    if stand_in is None:
        folder = Path(tempfile.mkdtemp(prefix="latent-explorer-settings-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        stand_in = _session_files[path] = folder / "settings.ini"
    return stand_in


def _os_reason(e: OSError) -> str:
    from .errors import os_error_words

    return os_error_words(e)


def _os_words(e: OSError) -> str:
    from .errors import os_error_words

    return ("is not readable: permission denied" if isinstance(e, PermissionError)
            else f"cannot be read: {os_error_words(e)}")
