"""Where downloads are cached: the environment override, then each platform's cache folder."""
from __future__ import annotations

from pathlib import Path

import platformdirs
import platformdirs.macos
import platformdirs.unix
import platformdirs.windows

from models.io.cache import default_cache_dir


def as_platform(monkeypatch, name: str, dirs: type) -> None:
    """Act as platform ``name``: platformdirs picks its folder class once, at import, so the
    class it would pick there is swapped in along with ``sys.platform``."""
    monkeypatch.setattr("sys.platform", name)
    monkeypatch.setattr(platformdirs, "PlatformDirs", dirs)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("LATENT_EXPLORER_DATA")
    as_platform(monkeypatch, "linux", platformdirs.unix.Unix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "latent-explorer"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, per the XDG spec
    assert default_cache_dir() == Path.home() / ".cache" / "latent-explorer"
    as_platform(monkeypatch, "darwin", platformdirs.macos.MacOS)
    assert default_cache_dir() == Path.home() / "Library" / "Caches" / "latent-explorer"
    as_platform(monkeypatch, "win32", platformdirs.windows.Windows)
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    # off Windows there is no shell API to ask for the folder: answer as it would
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", lambda csidl: {"CSIDL_LOCAL_APPDATA": str(tmp_path / "local")}[csidl])
    assert default_cache_dir() == tmp_path / "local" / "latent-explorer"


def test_the_linux_default_is_the_home_cache_folder(monkeypatch):
    """Datasets already downloaded to ~/.cache/latent-explorer keep being found there."""
    monkeypatch.delenv("LATENT_EXPLORER_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    as_platform(monkeypatch, "linux", platformdirs.unix.Unix)
    assert default_cache_dir() == Path.home() / ".cache" / "latent-explorer"
