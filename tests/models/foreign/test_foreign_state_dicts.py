"""PyTorch state dicts made elsewhere open as models that decode (and encode) exactly as the
modules that made them."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from models.families.registry import build_model
from models.foreign.errors import ForeignModelError
from models.foreign.open import open_foreign, open_model
from models.foreign.protocol import ForeignModel


def _save_pth(module: torch.nn.Module, path):
    torch.save(module.state_dict(), path)  # what the examples' scripts do
    return path


def test_examples_vae_pth_decodes_and_encodes_like_the_module(examples_vae, tmp_path):
    path = _save_pth(examples_vae, tmp_path / "vae.pth")
    model = open_foreign(path, allow_pickle=True)
    assert isinstance(model, ForeignModel)
    assert model.latent_spec.input_dim == 20 and model.latent_spec.has_encoder
    assert tuple(model.config.image_shape) == (1, 28, 28)
    z = torch.randn(7, 20)
    with torch.no_grad():
        want = examples_vae.decode(z).view(-1, 1, 28, 28)
        got = model.decode(z)
        x = torch.rand(5, 1, 28, 28)
        mu, logvar = examples_vae.encode(x.view(-1, 784))
        assert (got - want).abs().max() <= 1e-5
        assert (model.encode(x) - mu).abs().max() <= 1e-5  # fc21's mean, not a sample
        got_mu, got_logvar = model.encode_stats(x)
        assert (got_mu - mu).abs().max() <= 1e-5
        assert (got_logvar - logvar).abs().max() <= 1e-5
    assert model.has_kl


def test_examples_vae_safetensors_needs_no_allow(examples_vae, tmp_path):
    path = tmp_path / "vae.safetensors"
    save_file(examples_vae.state_dict(), str(path))
    ckpt = open_model(path)
    z = torch.randn(3, 20)
    with torch.no_grad():
        assert (ckpt.model.decode(z) - examples_vae.decode(z).view(-1, 1, 28, 28)).abs().max() <= 1e-5
    assert ckpt.train_state == {} and ckpt.path == path


def test_a_pth_without_the_allow_is_refused_saying_how_to_allow(examples_vae, tmp_path):
    path = _save_pth(examples_vae, tmp_path / "vae.pth")
    with pytest.raises(ForeignModelError) as info:
        open_model(path)
    text = str(info.value)
    assert text.startswith("vae.pth: ") and "--allow-pickle" in text and "run code" in text


def test_examples_dcgan_generator_at_the_scripts_defaults(ex, tmp_path):
    netG = ex.Generator()  # nz 100, ngf 64, nc 3: the script's defaults
    netG.apply(ex.weights_init)
    netG.eval()
    path = _save_pth(netG, tmp_path / "netG_epoch_24.pth")
    model = open_foreign(path, allow_pickle=True)
    assert model.latent_spec.input_dim == 100 and not model.latent_spec.has_encoder
    assert tuple(model.config.image_shape) == (3, 64, 64)
    z = torch.randn(2, 100)
    with torch.no_grad():
        want = (netG(z.view(2, 100, 1, 1)) + 1) / 2
        assert (model.decode(z) - want).abs().max() <= 1e-5


def test_dcgan_sizes_are_read_from_the_shapes(small_generator, tmp_path):
    path = tmp_path / "g.safetensors"
    save_file(small_generator.state_dict(), str(path))
    model = open_foreign(path)
    assert model.latent_spec.input_dim == 16 and tuple(model.config.image_shape) == (1, 64, 64)
    assert "ngf 4" in model.describe()
    z = torch.randn(3, 16)
    with torch.no_grad():
        assert (model.decode(z) - (small_generator(z[:, :, None, None]) + 1) / 2).abs().max() <= 1e-5


def test_wrapped_state_dicts_are_unwrapped(small_generator, tmp_path):
    """DataParallel's module. prefix, and the state dict under a key beside other entries."""
    sd = {f"module.{k}": v for k, v in small_generator.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "netG": sd, "optimizer": {"lr": 0.0002}}, path)
    model = open_foreign(path, allow_pickle=True)
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert (model.decode(z) - (small_generator(z[:, :, None, None]) + 1) / 2).abs().max() <= 1e-5


def test_the_dcgan_discriminator_is_named_as_such(ex, tmp_path):
    path = _save_pth(ex.Discriminator(), tmp_path / "netD_epoch_1.pth")
    with pytest.raises(ForeignModelError, match="discriminator.*generator"):
        open_foreign(path, allow_pickle=True)


def test_a_state_dict_matching_nothing_lists_what_it_holds(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    path = tmp_path / "mystery.safetensors"
    save_file(net.state_dict(), str(path))
    with pytest.raises(ForeignModelError) as info:
        open_foreign(path)
    text = str(info.value)
    assert text.startswith("mystery.safetensors: ")
    assert "4 tensors" in text and "0.weight [5, 8]" in text
    assert "examples VAE" in text and "DCGAN generator" in text and "family" in text


def test_a_vae_with_a_wrong_shape_says_which_tensor(examples_vae, tmp_path):
    sd = examples_vae.state_dict()
    sd["fc3.weight"] = torch.zeros(400, 10)
    path = tmp_path / "bad.safetensors"
    save_file(sd, str(path))
    with pytest.raises(ForeignModelError, match=r"fc3.weight is \[400, 10\]"):
        open_foreign(path)


def test_an_apps_family_state_dict_opens_with_its_family_and_config(tmp_path):
    config = {"latent_dim": 3, "hidden": 16}
    vae = build_model("vae", config).eval()
    path = tmp_path / "weights.safetensors"
    save_file(vae.state_dict(), str(path))  # weights only, as another tool exports them
    ckpt = open_model(path, family="vae", config=config)
    assert ckpt.model.family == "vae"
    z = torch.randn(4, 3)
    with torch.no_grad():
        assert (ckpt.model.decode(z) - vae.decode(z)).abs().max() <= 1e-6


def test_a_family_state_dict_of_another_config_lists_what_does_not_fit(tmp_path):
    vae = build_model("vae", {"latent_dim": 3, "hidden": 16})
    path = tmp_path / "weights.safetensors"
    save_file(vae.state_dict(), str(path))
    with pytest.raises(ForeignModelError, match=r"of another shape .*\[.*16.*\]"):
        open_model(path, family="vae", config={"latent_dim": 3, "hidden": 32})
    with pytest.raises(ForeignModelError, match=r"missing \(.*\); \d+ unexpected \("):
        open_model(path, family="dcgan", config={"z_dim": 3})
    with pytest.raises(ForeignModelError, match="latent_dim"):
        open_model(path, family="vae", config={"latent_dim": "three"})


def test_a_family_state_dict_opened_without_its_family_says_which_to_name(tmp_path):
    vae = build_model("vae", {"latent_dim": 3, "hidden": 16})
    path = tmp_path / "weights.safetensors"
    save_file(vae.state_dict(), str(path))
    with pytest.raises(ForeignModelError, match=r"tensor names of the app's .*\bvae\b.* family; name the family"):
        open_model(path)


def test_a_lightning_style_checkpoint_is_unwrapped(examples_vae, tmp_path):
    """PyTorch Lightning saves {"state_dict": {"model.fc1.weight": ...}, ...} in a .ckpt."""
    sd = {f"model.{k}": v for k, v in examples_vae.state_dict().items()}
    path = tmp_path / "epoch=9.ckpt"
    torch.save({"epoch": 9, "global_step": 100, "state_dict": sd, "hyper_parameters": {"lr": 1e-3}}, path)
    model = open_model(path, allow_pickle=True).model
    z = torch.randn(2, 20)
    with torch.no_grad():
        assert (model.decode(z) - examples_vae.decode(z).view(-1, 1, 28, 28)).abs().max() <= 1e-5
