"""``latent-explorer render-path`` and ``traverse`` end to end, in-process (Qt-free)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from explorer.cli import main
from models.runs.checkpoint import save_checkpoint
from models.families.registry import build_model


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "vae.safetensors", build_model("vae", latent_dim=4, hidden=32))


def _frames(file) -> list[np.ndarray]:
    with Image.open(file) as im:
        return [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(im)]


def test_render_path_random_then_replay(ckpt, tmp_path):
    p, a, b = tmp_path / "p.json", tmp_path / "p.gif", tmp_path / "q.gif"
    assert main(["render-path", str(ckpt), "--random", "3", "--frames", "12", "--save-path", str(p), "--out", str(a)]) == 0
    saved = json.loads(p.read_text())
    assert saved["version"] == 1 and len(saved["keyframes"]) == 3 and saved["kinds"] == ["slerp", "slerp"]
    assert main(["render-path", str(ckpt), str(p), "--frames", "12", "--out", str(b)]) == 0
    fa, fb = _frames(a), _frames(b)
    assert len(fa) == 12 and fa[0].shape == (28, 28)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
    strip = tmp_path / "s.png"
    assert main(["render-path", str(ckpt), str(p), "--frames", "5", "--kind", "linear", "--out", str(strip)]) == 0
    with Image.open(strip) as im:
        assert im.size == (5 * 30 + 2, 32)


def test_render_path_errors(ckpt, tmp_path, capsys):
    other = save_checkpoint(tmp_path / "six.safetensors", build_model("vae", latent_dim=6, hidden=32))
    p = tmp_path / "p.json"
    assert main(["render-path", str(other), "--random", "2", "--frames", "2", "--save-path", str(p), "--out", str(tmp_path / "x.gif")]) == 0
    assert main(["render-path", str(ckpt), str(p), "--out", str(tmp_path / "y.gif")]) == 2
    assert "z_dim 4" in capsys.readouterr().err


def test_traverse(ckpt, tmp_path):
    out = tmp_path / "t.png"
    assert main(["traverse", str(ckpt), "--dims", "0,2", "--steps", "7", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (7 * 30 + 2, 2 * 30 + 2)
