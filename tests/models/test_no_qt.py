"""models/ must never import Qt or explorer: it runs on headless GPU boxes without PySide6."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import models

FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "explorer")


def test_importing_every_models_module_imports_no_qt():
    names = [m.name for m in pkgutil.walk_packages(models.__path__, "models.")]
    assert "models.training.loop" in names and "models.families.vae" in names
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(models.__file__).parents[1])
    assert out.stdout.strip() == "", f"models imported {out.stdout.strip()}"


def test_headless_cli_imports_no_qt():
    code = "import sys, explorer.cli.entry as c; c.build_parser(); print(','.join(m for m in sys.modules if m.startswith(('PySide6','pyqtgraph'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
