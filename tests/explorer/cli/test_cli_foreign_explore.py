"""``sample``, ``traverse``, ``render-path`` and ``eval`` on models made elsewhere: the same
commands that explore the app's own runs open a foreign state dict, an ONNX folder or an
adapter file, and draw with the original weights."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from explorer.cli import main
from models.foreign.open import open_model


def test_sample_a_dcgan_state_dict_draws_with_its_weights(small_generator, netg_pth, tmp_path):
    out = tmp_path / "s.npy"
    assert main(["sample", str(netg_pth), "--allow-pickle", "--n", "6", "--seed", "3", "--out", str(out)]) == 0
    x = np.load(out)
    z = open_model(netg_pth, allow_pickle=True).model.sample_latents(6, torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = ((small_generator(z[:, :, None, None]) + 1) / 2).numpy()
    assert x.shape == (6, 1, 64, 64) and np.abs(x - want).max() <= 1e-5
    grid = tmp_path / "s.png"
    assert main(["sample", str(netg_pth), "--allow-pickle", "--n", "4", "--out", str(grid)]) == 0
    assert Image.open(grid).size[0] > 64


def test_traverse_and_render_path_on_a_dcgan_state_dict(netg_pth, tmp_path):
    t = tmp_path / "t.png"
    assert main(["traverse", str(netg_pth), "--allow-pickle", "--dims", "0,5,15", "--steps", "4", "--out", str(t)]) == 0
    with Image.open(t) as im:
        assert im.size == (4 * 66 + 2, 3 * 66 + 2)  # 64-pixel cells, one row per dimension
    gif = tmp_path / "p.gif"
    assert main(["render-path", str(netg_pth), "--allow-pickle", "--random", "3", "--frames", "6",
                 "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.size == (64, 64)


def test_traverse_an_adapter_with_allow_code(adapter, tmp_path):
    t = tmp_path / "t.png"
    assert main(["traverse", str(adapter), "--allow-code", "--steps", "5", "--out", str(t)]) == 0
    with Image.open(t) as im:
        assert im.size[1] > im.size[0] / 5 * 2  # three rows, one per latent dimension: taller than two


def test_sample_an_onnx_folder(examples_vae, vae_onnx_folder, tmp_path):
    out = tmp_path / "s.npy"
    assert main(["sample", str(vae_onnx_folder), "--n", "3", "--out", str(out)]) == 0
    z = open_model(vae_onnx_folder).model.sample_latents(3, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert np.abs(np.load(out) - examples_vae.decode(z).view(3, 1, 28, 28).numpy()).max() <= 1e-4


def test_eval_on_a_foreign_model_needs_a_dataset(vae_pth, capsys):
    assert main(["eval", str(vae_pth), "--allow-pickle"]) == 2
    err = capsys.readouterr().err
    assert "made elsewhere and records no dataset" in err and "--dataset" in err and len(err.splitlines()) == 1


def test_eval_on_a_foreign_vae_with_a_dataset_scores_it(vae_pth, capsys):
    assert main(["eval", str(vae_pth), "--allow-pickle", "--dataset", "shapes", "--no-download", "--n", "0",
                 "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["dataset"] == "shapes" and result["latent_dim"] == 20 and np.isfinite(result["recon_mse"])
