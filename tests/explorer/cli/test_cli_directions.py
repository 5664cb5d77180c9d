"""``latent-explorer traverse --directions pca``: rows are principal directions, in-process (Qt-free)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.cli import main
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint


@pytest.fixture
def dcgan(tmp_path):
    torch.manual_seed(0)
    model = build_model("dcgan", fc_hidden=64, g_channels=8, d_channels=8)
    return save_checkpoint(tmp_path / "dcgan.safetensors", model)


def _pixels(file) -> np.ndarray:
    with Image.open(file) as im:
        return np.asarray(im.convert("L"))


def test_rows_are_components_and_columns_are_steps(dcgan, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["traverse", str(dcgan), "--directions", "pca", "--components", "3", "--steps", "5",
                 "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (5 * 30 + 2, 3 * 30 + 2)  # 28 px tiles, 2 px padding
    err = capsys.readouterr().err
    assert "PCA of layer" in err and "rows explain" in err
    grid = _pixels(out)
    # along each row the image changes (a direction moves the point), and rows differ
    first_row = [grid[2:30, 2 + 30 * c : 30 + 30 * c] for c in range(5)]
    assert not np.array_equal(first_row[0], first_row[-1])
    # the same command draws the same grid
    again = tmp_path / "again.png"
    assert main(["traverse", str(dcgan), "--directions", "pca", "--components", "3", "--steps", "5",
                 "--out", str(again)]) == 0
    np.testing.assert_array_equal(_pixels(again), grid)


def test_default_is_ten_components_and_capped_at_z(dcgan, tmp_path):
    out = tmp_path / "ten.png"
    assert main(["traverse", str(dcgan), "--directions", "pca", "--steps", "2", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (2 * 30 + 2, 10 * 30 + 2)
    vae = save_checkpoint(tmp_path / "vae.safetensors", build_model("vae", latent_dim=4, hidden=32))
    out = tmp_path / "four.png"
    assert main(["traverse", str(vae), "--directions", "pca", "--steps", "3", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (3 * 30 + 2, 4 * 30 + 2)  # a 4-dim latent has 4 directions


@pytest.mark.parametrize("argv, message", [
    (["--components", "3"], "--components goes with --directions pca"),
    (["--directions", "pca", "--dims", "0,1"], "--dims and --directions"),
])
def test_flags_that_do_not_go_together(dcgan, tmp_path, capsys, argv, message):
    assert main(["traverse", str(dcgan), *argv, "--out", str(tmp_path / "x.png")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--directions", "ica"], "invalid choice: 'ica'"),
    (["--directions", "pca", "--components", "0"], "argument --components: must be a positive integer, got '0'"),
])
def test_bad_flag_values_are_usage_errors(dcgan, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(["traverse", str(dcgan), *argv, "--out", str(tmp_path / "x.png")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("fixture, rows, side, source", [
    ("netg_pth", 4, 64, "PCA of layer decoder_net.main.2"),  # the examples DCGAN: its first ConvT + BN + ReLU
    ("vae_pth", 3, 28, "PCA of the decoded images"),  # the examples VAE's ReLUs are functions: no layer to hook
])
def test_models_made_elsewhere(request, tmp_path, capsys, fixture, rows, side, source):
    out = tmp_path / "grid.png"
    assert main(["traverse", str(request.getfixturevalue(fixture)), "--allow-pickle", "--directions", "pca",
                 "--components", str(rows), "--steps", "3", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (3 * (side + 2) + 2, rows * (side + 2) + 2)
    assert source in capsys.readouterr().err
