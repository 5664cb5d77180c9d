"""Where the window keeps what it remembers: layout, recent files, the last training form,
the family and config last given for a bare state dict of one of the app's families.

``$LATENT_EXPLORER_HOME`` (tests and portable installs set it) holds everything in one
folder: ``settings.ini`` and ``runs/``. Without it, settings go where the platform keeps
them (QSettings' native format) and runs under the per-user application data folder
(``~/.local/share/latent-explorer/runs`` on Linux).

Settings are a file the user (or a crash) may have left in any state, so nothing read from
it is trusted: the file itself is checked before Qt reads it (:mod:`.settings_file`: a
FIFO, a folder, a huge or binary file never stop the app from starting), and every value
is read through a typed reader here (:func:`read_text`, :func:`read_int`,
:func:`read_float`, :func:`read_bytes`, :func:`read_text_list`) that gives the default,
and says so once, for a value of the wrong type or out of range.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import platformdirs
from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from .settings_file import notice, usable_file

ORGANIZATION = "latent-explorer"
APPLICATION = "Latent Explorer"
MAX_RECENT = 8
#: a longer text value is not a setting this app wrote (paths are far shorter)
MAX_TEXT = 4096

T = TypeVar("T")


def home_dir() -> Path | None:
    env = os.environ.get("LATENT_EXPLORER_HOME")
    return Path(env).expanduser() if env else None


def settings_path() -> Path | None:
    """The settings file, where settings are a file: under ``$LATENT_EXPLORER_HOME``, else
    the native ini file of Linux and the other Unixes. None on macOS and Windows, whose
    native settings (a plist, the registry) are the system's to read."""
    home = home_dir()
    if home is not None:
        return home / "settings.ini"
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        return None
    config = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    return Path(config) / ORGANIZATION / f"{APPLICATION}.conf"


def settings() -> QSettings:
    """A fresh QSettings each call (cheap), so a changed $LATENT_EXPLORER_HOME is honoured;
    on a file that was checked first (see :mod:`.settings_file`)."""
    path = settings_path()
    if path is None:
        return QSettings(ORGANIZATION, APPLICATION)
    return QSettings(str(usable_file(path)), QSettings.Format.IniFormat)


def runs_dir() -> Path:
    """Parent folder of the run folders that training from the window writes."""
    home = home_dir()
    if home is not None:
        return home / "runs"
    # the per-user data folder: ~/.local/share/latent-explorer on Linux, ~/Library/Application
    # Support/latent-explorer on macOS, %LOCALAPPDATA%\latent-explorer on Windows
    return Path(platformdirs.user_data_dir("latent-explorer", appauthor=False)) / "runs"


# -- typed readers -------------------------------------------------------------------------
_MISSING = object()


def _raw(key: str, store: QSettings | None) -> Any:
    s = store if store is not None else settings()
    return s.value(key, _MISSING)


def _ignored(key: str, expected: str, value: Any) -> None:
    notice(f"Ignored the setting {key}: expected {expected}, found {_shown(value)}.", settings_path())


def _shown(value: Any) -> str:
    """A found value in a user's words (no Qt type names)."""
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "…"
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, QByteArray):
        return "binary data"
    return "a value of another kind"


def _read(key: str, default: T, store: QSettings | None, parse: Callable[[Any], T | None], expected: str) -> T:
    """The setting ``key`` as ``parse`` reads it; the default when it is missing or ``parse``
    says None (then said once: ignored, expected ``expected``)."""
    value = _raw(key, store)
    if value is _MISSING or value is None:
        return default
    parsed = parse(value)
    if parsed is None:
        _ignored(key, expected, value)
        return default
    return parsed


def read_text(key: str, default: str = "", store: QSettings | None = None) -> str:
    def parse(value: Any) -> str | None:
        return value if isinstance(value, str) and len(value) <= MAX_TEXT and "\0" not in value else None

    return _read(key, default, store, parse, "a text")


def read_int(key: str, default: int, lo: int, hi: int, store: QSettings | None = None) -> int:
    def parse(value: Any) -> int | None:
        try:
            number = int(value) if isinstance(value, str) and len(value) < 30 else value
        except ValueError:
            return None
        return number if isinstance(number, int) and not isinstance(number, bool) and lo <= number <= hi else None

    return _read(key, default, store, parse, f"a whole number from {lo} to {hi}")


def read_float(key: str, default: float, lo: float, hi: float, store: QSettings | None = None) -> float:
    def parse(value: Any) -> float | None:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            return None
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return None
        return number if math.isfinite(number) and lo <= number <= hi else None

    return _read(key, default, store, parse, f"a number from {lo:g} to {hi:g}")


def read_bytes(key: str, store: QSettings | None = None) -> QByteArray | None:
    """A saved blob (window geometry and dock layout), None when there is none or it is not one."""
    blob = _read(key, None, store, lambda v: v if isinstance(v, QByteArray) else None, "saved window data")
    return blob if blob is not None and not blob.isEmpty() else None


def read_text_list(key: str, most: int, store: QSettings | None = None) -> list[str]:
    """A list of texts (QSettings gives a bare text for a list of one); wrong entries are left out."""
    value = _raw(key, store)
    if value is _MISSING or value is None or value == "":
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        _ignored(key, "a list of texts", value)
        return []
    good = [v for v in items if isinstance(v, str) and v and len(v) <= MAX_TEXT and "\0" not in v]
    if len(good) != len(items):
        _ignored(key, "a list of texts", value)
    return good[:most]


# -- recent files ----------------------------------------------------------------------
def recent_files() -> list[str]:
    return read_text_list("recent_files", MAX_RECENT)


def add_recent_file(path: str | Path) -> list[str]:
    path = str(Path(path).expanduser().resolve())
    files = [path] + [p for p in recent_files() if p != path]
    files = files[:MAX_RECENT]
    settings().setValue("recent_files", files)
    return files


def clear_recent_files() -> None:
    settings().setValue("recent_files", [])


# -- the family and config last given for a bare state dict --------------------------------
def family_weights_answers() -> list[dict[str, Any]]:
    """The answers the family dialog was last given, newest first: ``{"path", "family",
    "config"}`` each (texts and a dict; the caller validates the config against the family).
    An entry that is not one is left out, and said once."""
    entries = read_text_list("family_weights_answers", MAX_RECENT)
    answers = []
    for text in entries:
        try:
            entry = json.loads(text)
        except ValueError:
            entry = None
        ok = isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("family"), str) \
            and isinstance(entry.get("config"), dict)
        if not ok:
            _ignored("family_weights_answers", "a path, a family and its config", text)
            continue
        answers.append({"path": entry["path"], "family": entry["family"], "config": entry["config"]})
    return answers


def add_family_weights_answer(path: str | Path, family: str, config: dict[str, Any]) -> None:
    """Remember ``family`` and ``config`` for the state dict at ``path`` (the newest answer
    first, at most MAX_RECENT files; one too long to store is not kept)."""
    path = str(Path(path).expanduser().resolve())
    text = json.dumps({"path": path, "family": family, "config": config}, sort_keys=True)
    kept = [json.dumps(a, sort_keys=True) for a in family_weights_answers() if a["path"] != path]
    settings().setValue("family_weights_answers", ([text] if len(text) <= MAX_TEXT else []) + kept[:MAX_RECENT - 1])
