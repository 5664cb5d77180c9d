"""Where the bundled assets (demo checkpoints, icons) are.

A source checkout or editable install has them in ``assets/`` beside the packages; a
regular install puts them under ``<prefix>/share/latent-explorer/assets`` (pyproject's
data-files).
"""
from __future__ import annotations

import sys
from pathlib import Path


def assets_dir() -> Path:
    beside = Path(__file__).resolve().parents[1] / "assets"
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "latent-explorer" / "assets"


DEMO_DIR = assets_dir() / "demo"
ICON = assets_dir() / "icons" / "latent-explorer.png"
