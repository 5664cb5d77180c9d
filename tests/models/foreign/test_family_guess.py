"""Which of the app's families a bare state dict is: the guess a window preselects before it
asks the user for the config (names from a safetensors header alone, a pickle only with the
allow, the likeliest family first)."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from models.families.registry import build_model
from models.foreign.errors import ForeignModelError
from models.foreign.family_weights import file_shapes, guess_families


def _save(tensors, path):
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def test_a_vae_of_another_config_is_guessed_vae_first_from_either_format(tmp_path):
    sd = build_model("vae", latent_dim=4, hidden=32).state_dict()
    assert guess_families(_save(sd, tmp_path / "v.safetensors"))[0] == "vae"
    torch.save(sd, tmp_path / "v.pth")
    assert guess_families(tmp_path / "v.pth", allow_pickle=True)[0] == "vae"
    with pytest.raises(ForeignModelError, match="pickle-based"):  # never unpickled without the allow
        guess_families(tmp_path / "v.pth")


def test_the_shapes_of_a_default_config_decide_between_families_with_the_same_names(tmp_path):
    # an AE at its defaults has a VAE's tensor names; its shapes are the AE defaults' only
    assert guess_families(_save(build_model("ae").state_dict(), tmp_path / "ae.safetensors"))[0] == "ae"
    assert guess_families(_save(build_model("dcgan", z_dim=8).state_dict(), tmp_path / "g.safetensors")) == ["dcgan"]


def test_a_wrapped_or_unknown_dict_and_the_header_only_read(tmp_path):
    sd = build_model("vae", latent_dim=3, hidden=16).state_dict()
    wrapped = _save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "dp.safetensors")
    assert guess_families(wrapped)[0] == "vae"  # DataParallel's prefix is no other family
    assert file_shapes(wrapped)["to_latent.weight"] == (6, 16)
    assert guess_families(_save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "r.safetensors")) == []
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    with pytest.raises(ForeignModelError, match="broken.safetensors"):
        guess_families(broken)


def test_a_beta_vae_of_the_one_layer_net_it_had_before_is_still_offered_and_loads(tmp_path):
    """The beta-VAE's default became a deeper MLP; a bare state dict of the earlier
    one-layer default is still a beta-VAE to guess, and opens as that net."""
    from models.foreign.family_weights import load_family_weights

    old = build_model("beta-vae", mlp_layers=1)
    path = _save(old.state_dict(), tmp_path / "bvae.safetensors")
    assert "beta-vae" in guess_families(path)
    assert guess_families(_save(build_model("beta-vae").state_dict(), tmp_path / "new.safetensors"))[0] == "beta-vae"
    model = load_family_weights(old.state_dict(), path, "beta-vae")
    assert model.config.mlp_layers == 1
    z = torch.randn(2, old.latent_spec.z_dim)
    assert torch.equal(model.decode(z), old.eval().decode(z))


@pytest.mark.parametrize("family,layers", [("vae", 3), ("beta-vae", 1), ("ae", 2)])
def test_a_bare_mlp_of_another_depth_is_still_its_family_and_opens_at_that_depth(tmp_path, family, layers):
    """The tensor names count an MLP's layers: a VAE exported with three layers a side is a
    VAE to guess (not "no family matches"), and opens without the user typing the depth."""
    from models.foreign.family_weights import load_family_weights

    made = build_model(family, mlp_layers=layers).eval()
    path = _save(made.state_dict(), tmp_path / f"{family}.safetensors")
    assert family in guess_families(path)
    model = load_family_weights(made.state_dict(), path, family)
    assert model.config.mlp_layers == layers
    z = torch.randn(2, made.latent_spec.z_dim)
    assert torch.equal(model.decode(z), made.decode(z))
