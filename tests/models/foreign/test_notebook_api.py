"""``models.load``: the README's notebook example runs on numpy and torch, for the app's own
runs and for models made elsewhere."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import models
from models.families.registry import build_model
from models.foreign.arrays import ArrayRefused
from models.runs.checkpoint import save_checkpoint


def readme_example(path, **allow):
    """The README's ten lines (numpy)."""
    import models

    m = models.load(path, **allow)                       # a run folder, checkpoint, .pth, .onnx, adapter...
    z = m.sample_latents(2, seed=0)                      # (2, d) float32, from the model's prior
    frames = m.decode(m.interpolate(z[0], z[1], steps=8))  # (8, C, H, W) in [0, 1]
    images = m.sample(16, seed=1)                        # 16 samples, repeatable
    codes = m.encode(frames) if m.has_encoder else None  # the encoder's mean codes
    return m, z, frames, images, codes


@pytest.fixture
def own_checkpoint(tmp_path):
    model = build_model("vae", {"latent_dim": 3, "hidden": 16}).eval()
    return save_checkpoint(tmp_path / "vae.safetensors", model, {"step": 5}), model


def test_the_readme_example_on_an_own_checkpoint(own_checkpoint):
    path, model = own_checkpoint
    m, z, frames, images, codes = readme_example(path)
    assert isinstance(frames, np.ndarray) and frames.dtype == np.float32 and frames.shape == (8, 1, 28, 28)
    assert images.shape == (16, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert codes.shape == (8, 3) and isinstance(codes, np.ndarray)
    with torch.no_grad():
        want = model.decode(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(frames[[0, -1]], want, atol=1e-6)  # the path's ends are the two latents
    assert m.train_state["step"] == 5 and m.latent_dim == 3


def test_the_readme_example_on_a_foreign_state_dict(examples_vae, tmp_path):
    torch.save(examples_vae.state_dict(), tmp_path / "vae.pth")
    m, _, frames, images, codes = readme_example(tmp_path / "vae.pth", allow_pickle=True)
    with torch.no_grad():
        mu = examples_vae.encode(torch.from_numpy(frames).view(-1, 784))[0].numpy()
    np.testing.assert_allclose(codes, mu, atol=1e-5)
    np.testing.assert_array_equal(m.sample(16, seed=1), images)  # the seed repeats the samples


def test_torch_in_torch_out(own_checkpoint):
    path, model = own_checkpoint
    m = models.load(path)
    z = torch.randn(4, 3)
    x = m.decode(z)
    assert isinstance(x, torch.Tensor) and x.shape == (4, 1, 28, 28) and x.device == z.device
    with torch.no_grad():
        assert torch.allclose(x, model.decode(z), atol=1e-6)
    path_t = m.interpolate(z[0], z[1], steps=5, kind="lerp")
    assert isinstance(path_t, torch.Tensor) and path_t.shape == (5, 3)
    assert torch.allclose(path_t[2], (z[0] + z[1]) / 2, atol=1e-6)
    assert isinstance(m.encode(x), torch.Tensor)
    one = m.decode(z[0].numpy())  # a single latent is one row
    assert one.shape == (1, 1, 28, 28)


def test_bad_inputs_say_what_was_expected(own_checkpoint, small_generator, tmp_path):
    m = models.load(own_checkpoint[0])
    with pytest.raises(ArrayRefused, match="N x 3 .*got 2 x 4"):
        m.decode(np.zeros((2, 4), np.float32))
    with pytest.raises(ArrayRefused, match="NaN"):
        m.decode(np.array([[0.0, np.nan, 0.0]]))
    with pytest.raises(ArrayRefused, match=r"in \[0, 1\].*divide by 255"):
        m.encode(np.full((1, 1, 28, 28), 255.0))
    with pytest.raises(ArrayRefused, match="kind must be"):
        m.interpolate(np.zeros(3), np.ones(3), kind="cubic")
    torch.save(small_generator.state_dict(), tmp_path / "netG.pth")
    gan = models.load(tmp_path / "netG.pth", allow_pickle=True)
    assert not gan.has_encoder
    with pytest.raises(ArrayRefused, match="has no encoder"):
        gan.encode(np.zeros((1, 1, 64, 64), np.float32))


def test_importing_models_stays_cheap():
    code = "import sys, models; print(sorted(m for m in ('torch', 'numpy', 'onnxruntime') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_the_gpu_tensors_come_back_where_they_came_from(examples_vae, tmp_path):
    torch.save(examples_vae.state_dict(), tmp_path / "vae.pth")
    m = models.load(tmp_path / "vae.pth", allow_pickle=True, device="cuda")
    assert m.model.device.type == "cuda"
    z = torch.randn(3, 20, device="cuda")
    x = m.decode(z)
    assert x.device == z.device
    with torch.no_grad():
        want = examples_vae.cuda().decode(z).view(-1, 1, 28, 28)
    assert (x - want).abs().max() <= 1e-5
    assert isinstance(m.decode(z.cpu().numpy()), np.ndarray)
    assert m.encode(x).device == z.device
    if __import__("importlib").util.find_spec("onnxruntime") is not None:
        from models.foreign.export import export_onnx

        export_onnx(m.model, tmp_path / "exp")  # a CUDA model exports from a CPU copy
        onnx_model = models.load(tmp_path / "exp", device="cuda")  # runs on the CPU, answers on the tensor's device
        assert (onnx_model.decode(z) - want).abs().max() <= 1e-4 and onnx_model.decode(z).device == z.device
