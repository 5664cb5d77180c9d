"""Where the window keeps its runs: one folder under $LATENT_EXPLORER_HOME, else the platform's."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from explorer import settings


def test_runs_go_under_latent_explorer_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_HOME", str(tmp_path / "portable"))
    assert settings.runs_dir() == tmp_path / "portable" / "runs"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux location")
def test_without_a_home_runs_stay_where_earlier_versions_wrote_them(monkeypatch, tmp_path):
    monkeypatch.delenv("LATENT_EXPLORER_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings.runs_dir() == Path(tmp_path) / ".local" / "share" / "latent-explorer" / "runs"
