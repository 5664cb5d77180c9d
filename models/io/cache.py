"""The per-user folder the engine caches downloads in: datasets and the sample-quality
classifiers trained on them.

``$LATENT_EXPLORER_DATA`` wins when set (shared machines, CI, a bigger disk). Otherwise it
is the platform's per-user cache folder as platformdirs names it, plus ``latent-explorer``:
``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux (a relative ``XDG_CACHE_HOME`` is ignored, as
the XDG spec says), ``~/Library/Caches`` on macOS, the local application-data folder
(``%LOCALAPPDATA%``) on Windows.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "latent-explorer"


def default_cache_dir() -> Path:
    """The per-user directory datasets are downloaded into.

    ``$LATENT_EXPLORER_DATA`` wins when set (shared machines, CI, a bigger disk); otherwise
    the platform's conventional per-user cache location.
    """
    env = os.environ.get("LATENT_EXPLORER_DATA")
    if env:
        return Path(env).expanduser()
    # No author folder and no "Cache" level on Windows: %LOCALAPPDATA%\latent-explorer,
    # the same one-level name as on the other platforms.
    return Path(platformdirs.PlatformDirs(APP_NAME, appauthor=False, opinion=False).user_cache_dir)
