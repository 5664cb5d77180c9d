"""Where the window keeps what it remembers: layout, recent files, the last training form.

``$LATENT_EXPLORER_HOME`` (tests and portable installs set it) holds everything in one
folder: ``settings.ini`` and ``runs/``. Without it, settings go where the platform keeps
them (QSettings' native format) and runs under the per-user application data folder
(``~/.local/share/latent-explorer/runs`` on Linux).
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

ORGANIZATION = "latent-explorer"
APPLICATION = "Latent Explorer"
MAX_RECENT = 8


def home_dir() -> Path | None:
    env = os.environ.get("LATENT_EXPLORER_HOME")
    return Path(env).expanduser() if env else None


def settings() -> QSettings:
    """A fresh QSettings each call (cheap), so a changed $LATENT_EXPLORER_HOME is honoured."""
    home = home_dir()
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        return QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def runs_dir() -> Path:
    """Parent folder of the run folders that training from the window writes."""
    home = home_dir()
    if home is not None:
        return home / "runs"
    # the per-user data folder: ~/.local/share/latent-explorer on Linux, ~/Library/Application
    # Support/latent-explorer on macOS, %LOCALAPPDATA%\latent-explorer on Windows
    return Path(platformdirs.user_data_dir("latent-explorer", appauthor=False)) / "runs"


# -- recent files ----------------------------------------------------------------------
def recent_files() -> list[str]:
    value = settings().value("recent_files", [])
    if isinstance(value, str):  # QSettings returns a bare string for a one-element list
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent_file(path: str | Path) -> list[str]:
    path = str(Path(path).expanduser().resolve())
    files = [path] + [p for p in recent_files() if p != path]
    files = files[:MAX_RECENT]
    settings().setValue("recent_files", files)
    return files


def clear_recent_files() -> None:
    settings().setValue("recent_files", [])
