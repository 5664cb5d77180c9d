"""``decode``, ``encode`` and ``export`` on models made elsewhere, through the CLI's main():
the arrays written are the original modules' outputs (1e-5 for state dicts, 1e-4 for ONNX),
and an exported folder opens again as the same model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from explorer.cli import main
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint


def _z(tmp_path, n, d, seed=0, name="z.npy"):
    z = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    np.save(tmp_path / name, z)
    return tmp_path / name, z


def _decode(model, z_file, out, *flags):
    assert main(["decode", str(model), "--z", str(z_file), "--out", str(out), *flags]) == 0
    x = np.load(out)
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    return x


def test_decode_and_encode_an_examples_vae_state_dict(examples_vae, vae_pth, tmp_path):
    z_file, z = _z(tmp_path, 7, 20)
    x = _decode(vae_pth, z_file, tmp_path / "x.npy", "--allow-pickle")
    with torch.no_grad():
        want = examples_vae.decode(torch.from_numpy(z)).view(7, 1, 28, 28).numpy()
    assert x.shape == (7, 1, 28, 28) and np.abs(x - want).max() <= 1e-5

    codes_file = tmp_path / "codes.npy"
    assert main(["encode", str(vae_pth), "--allow-pickle", "--images", str(tmp_path / "x.npy"),
                 "--out", str(codes_file)]) == 0
    codes = np.load(codes_file)
    with torch.no_grad():
        mu = examples_vae.encode(torch.from_numpy(x).view(7, 784))[0].numpy()
    assert codes.dtype == np.float32 and codes.shape == (7, 20) and np.abs(codes - mu).max() <= 1e-5


def test_a_safetensors_state_dict_needs_no_allow(examples_vae, tmp_path):
    save_file(examples_vae.state_dict(), str(tmp_path / "vae.safetensors"))
    z_file, z = _z(tmp_path, 3, 20)
    x = _decode(tmp_path / "vae.safetensors", z_file, tmp_path / "x.npy")
    with torch.no_grad():
        assert np.abs(x - examples_vae.decode(torch.from_numpy(z)).view(3, 1, 28, 28).numpy()).max() <= 1e-5


def test_image_shape_gives_an_examples_vae_its_images(examples_vae, vae_pth, tmp_path):
    z_file, z = _z(tmp_path, 2, 20)
    x = _decode(vae_pth, z_file, tmp_path / "x.npy", "--allow-pickle", "--image-shape", "1,16,49")
    with torch.no_grad():
        assert x.shape == (2, 1, 16, 49)
        assert np.abs(x - examples_vae.decode(torch.from_numpy(z)).view(2, 1, 16, 49).numpy()).max() <= 1e-5


def test_decode_a_dcgan_generator_state_dict(small_generator, netg_pth, tmp_path):
    z_file, z = _z(tmp_path, 5, 16)
    x = _decode(netg_pth, z_file, tmp_path / "x.npy", "--allow-pickle")
    with torch.no_grad():
        want = ((small_generator(torch.from_numpy(z)[:, :, None, None]) + 1) / 2).numpy()  # Tanh's [-1, 1] to [0, 1]
    assert x.shape == (5, 1, 64, 64) and np.abs(x - want).max() <= 1e-5


def test_an_onnx_folder_decodes_and_encodes_within_1e_4(examples_vae, vae_onnx_folder, tmp_path):
    z_file, z = _z(tmp_path, 6, 20)
    x = _decode(vae_onnx_folder, z_file, tmp_path / "x.npy")
    with torch.no_grad():
        want = examples_vae.decode(torch.from_numpy(z)).view(6, 1, 28, 28).numpy()
        mu = examples_vae.encode(torch.from_numpy(want).view(6, 784))[0].numpy()
    assert np.abs(x - want).max() <= 1e-4
    np.save(tmp_path / "want.npy", want)
    assert main(["encode", str(vae_onnx_folder / "manifest.json"), "--images", str(tmp_path / "want.npy"),
                 "--out", str(tmp_path / "codes.npy")]) == 0
    assert np.abs(np.load(tmp_path / "codes.npy") - mu).max() <= 1e-4


def test_an_adapter_decodes_with_the_code_allow(adapter, adapter_decoder, tmp_path):
    z_file, z = _z(tmp_path, 4, 3)
    x = _decode(adapter, z_file, tmp_path / "x.npy", "--allow-code")
    with torch.no_grad():
        assert np.abs(x - adapter_decoder(torch.from_numpy(z)).numpy()).max() <= 1e-6


def test_a_bare_state_dict_of_an_app_family_opens_with_family_and_config(tmp_path):
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 3, "hidden": 16}).eval()
    save_file(model.state_dict(), str(tmp_path / "weights.safetensors"))  # weights only, as other tools export
    (tmp_path / "config.json").write_text(json.dumps({"latent_dim": 3, "hidden": 16}))
    z_file, z = _z(tmp_path, 4, 3)
    for config in ('{"latent_dim": 3, "hidden": 16}', str(tmp_path / "config.json")):
        x = _decode(tmp_path / "weights.safetensors", z_file, tmp_path / "x.npy", "--family", "vae", "--config", config)
        with torch.no_grad():
            assert np.abs(x - model.decode(torch.from_numpy(z)).numpy()).max() <= 1e-6


def test_an_mlp_autoencoders_bare_state_dict_opens_with_the_family_alone(tmp_path, capsys):
    """Its shapes tell the config; a non-square image needs --image-shape (read as square, its
    value count fits no square: not opened, and the message says the family's config)."""
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 3, "hidden": 16, "mlp_layers": 2, "image_shape": (3, 32, 16)}).eval()
    path = tmp_path / "weights.safetensors"
    save_file(model.state_dict(), str(path))
    z_file, z = _z(tmp_path, 4, 3)
    assert main(["decode", str(path), "--z", str(z_file), "--out", str(tmp_path / "y.npy"), "--family", "vae"]) == 2
    assert "weights.safetensors" in capsys.readouterr().err
    x = _decode(path, z_file, tmp_path / "x.npy", "--family", "vae", "--image-shape", "3,32,16")
    with torch.no_grad():
        assert np.abs(x - model.decode(torch.from_numpy(z)).numpy().reshape(x.shape)).max() <= 1e-6
    assert x.shape[-3:] == (3, 32, 16)


def test_decode_and_encode_our_own_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 3, "hidden": 16}).eval()
    path = save_checkpoint(tmp_path / "vae.safetensors", model, {"step": 1})
    z_file, z = _z(tmp_path, 4, 3)
    x = _decode(path, z_file, tmp_path / "x.npy")
    with torch.no_grad():
        assert np.abs(x - model.decode(torch.from_numpy(z)).numpy()).max() <= 1e-6
        mu = model.encode(torch.from_numpy(x)).numpy()
    assert main(["encode", str(path), "--images", str(tmp_path / "x.npy"), "--out", str(tmp_path / "c.npy")]) == 0
    assert np.abs(np.load(tmp_path / "c.npy") - mu).max() <= 1e-6


def test_an_onnx_decoder_of_unknown_range_takes_output_range(onnx_export, tmp_path, capsys):
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Unflatten(1, (1, 4, 4))).eval()
    path = onnx_export(linear, torch.zeros(2, 4), tmp_path / "linear.onnx")
    z_file, z = _z(tmp_path, 3, 4)
    out = tmp_path / "x.npy"
    assert main(["decode", str(path), "--z", str(z_file), "--out", str(out)]) == 2
    assert "output range" in capsys.readouterr().err and not out.exists()
    x = _decode(path, z_file, out, "--output-range", "-4", "4")
    with torch.no_grad():
        want = ((linear(torch.from_numpy(z)) + 4) / 8).clamp(0, 1).numpy()
    assert np.abs(x - want).max() <= 1e-4


@pytest.mark.parametrize("source", ["vae_pth", "netg_pth"])
def test_export_then_reopen_gives_the_same_images(source, request, tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    path = request.getfixturevalue(source)
    folder = tmp_path / "export"
    assert main(["export", str(path), "--allow-pickle", "--format", "onnx", "--out", str(folder)]) == 0
    out = capsys.readouterr().out
    has_encoder = source == "vae_pth"
    assert (folder / "decoder.onnx").is_file() and (folder / "manifest.json").is_file()
    assert (folder / "encoder.onnx").is_file() == has_encoder
    assert f"wrote {folder / 'decoder.onnx'}" in out and "max abs difference decoder" in out
    assert json.loads((folder / "manifest.json").read_text())["version"] == 1

    d = 20 if has_encoder else 16
    z_file, _ = _z(tmp_path, 5, d)
    original = _decode(path, z_file, tmp_path / "a.npy", "--allow-pickle")
    exported = _decode(folder, z_file, tmp_path / "b.npy")
    assert np.abs(original - exported).max() <= 1e-4
    if has_encoder:
        for model, name in ((path, "ca.npy"), (folder, "cb.npy")):
            assert main(["encode", str(model), "--allow-pickle", "--images", str(tmp_path / "a.npy"),
                         "--out", str(tmp_path / name)]) == 0
        assert np.abs(np.load(tmp_path / "ca.npy") - np.load(tmp_path / "cb.npy")).max() <= 1e-4
