"""The config a bare MLP autoencoder state dict tells by its shapes (image size, width, latent
size, depth): given only when a model of that config has exactly the file's shapes, so the
user need not type them and a hint never fails to load."""
from __future__ import annotations

import pytest
import torch

from models.families.registry import build_model
from models.foreign.config_hints import config_hints
from models.foreign.family_weights import guess_configs, load_family_weights


def _shapes(model) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("family,config", [
    ("vae", dict(image_shape=(3, 32, 32), hidden=48, latent_dim=6, mlp_layers=3)),
    ("beta-vae", dict(image_shape=(1, 64, 64), hidden=40, latent_dim=10, mlp_layers=2)),
    ("ae", dict(image_shape=(1, 28, 28), hidden=24, latent_dim=3)),
    ("aae", dict(image_shape=(1, 16, 16), hidden=20, latent_dim=2)),
])
def test_the_shapes_tell_an_mlp_autoencoders_config_and_it_opens_without_one(tmp_path, family, config):
    made = build_model(family, **config).eval()
    hints = config_hints(family, _shapes(made))
    assert hints == {"arch": "mlp", "image_shape": list(config["image_shape"]), "hidden": config["hidden"],
                     "latent_dim": config["latent_dim"], "mlp_layers": config.get("mlp_layers", 1)}
    opened = load_family_weights(made.state_dict(), tmp_path / "w.safetensors", family)  # no config given
    z = torch.randn(3, config["latent_dim"])
    assert torch.equal(opened.decode(z), made.decode(z))


def test_no_hint_when_the_shapes_say_nothing_certain():
    vae = build_model("vae", hidden=32, latent_dim=4)
    shapes = _shapes(vae)
    assert config_hints("vae", {**shapes, "decoder.net.2.weight": (700, 32)}) == {}  # 700 outputs: no such net
    assert config_hints("vae", {**shapes, "encoder.net.1.weight": (32, 783)}) == {}  # 783 inputs: not an image
    del shapes["to_latent.bias"]
    assert config_hints("vae", shapes) == {}  # a name missing: it would not load
    assert config_hints("vae", _shapes(build_model("vae", arch="conv", hidden=32, latent_dim=4))) == {}
    assert config_hints("dcgan", _shapes(build_model("dcgan"))) == {}  # not an MLP autoencoder
    assert config_hints("no-such-family", {}) == {}


def test_guess_configs_gives_each_matching_family_its_hints(tmp_path):
    from safetensors.torch import save_file

    made = build_model("vae", image_shape=(1, 32, 32), hidden=16, latent_dim=5, mlp_layers=2)
    path = tmp_path / "exported.safetensors"
    save_file({k: v.contiguous() for k, v in made.state_dict().items()}, str(path))
    matches, hints = guess_configs(path)
    assert matches[0] == "vae" and hints["vae"]["latent_dim"] == 5 and hints["vae"]["image_shape"] == [1, 32, 32]
    assert "ae" in matches and "ae" not in hints  # an AE has these names, but no AE has these shapes


def test_opened_without_a_family_the_message_says_the_family_alone_is_enough(tmp_path):
    from safetensors.torch import save_file

    from models.foreign.errors import ForeignModelError
    from models.foreign.open import open_model

    path = tmp_path / "exported.safetensors"
    save_file({k: v.contiguous() for k, v in build_model("vae", hidden=16, latent_dim=3).state_dict().items()},
              str(path))
    with pytest.raises(ForeignModelError, match=r"--family vae: its config is read from the shapes"):
        open_model(path)
    assert open_model(path, family="vae").model.config.latent_dim == 3


def test_an_image_shape_given_replaces_the_square_reading():
    from models.foreign.config_hints import hinted_config

    made = build_model("vae", image_shape=(3, 32, 16), hidden=16, latent_dim=2)  # 1,536 values: no square
    shapes = _shapes(made)
    assert config_hints("vae", shapes) == {}
    assert config_hints("vae", shapes, image_shape=(3, 32, 16))["image_shape"] == [3, 32, 16]
    assert hinted_config("vae", shapes, image_shape=(1, 28, 28)) is None  # 784 values: not this net
    rgb = _shapes(build_model("vae", image_shape=(3, 64, 48), hidden=16, latent_dim=2))  # as many as 1 x 96 x 96
    assert config_hints("vae", rgb)["image_shape"] == [1, 96, 96]  # read as square, as the window says
    assert hinted_config("vae", rgb, image_shape=(3, 64, 48)).image_shape == (3, 64, 48)


def test_no_hint_for_a_model_over_the_size_budget(monkeypatch):
    from models.runs import model_budget

    shapes = _shapes(build_model("vae", hidden=64, latent_dim=4))
    assert config_hints("vae", shapes)
    monkeypatch.setattr(model_budget, "MAX_PARAMETERS", 1000)
    assert config_hints("vae", shapes) == {}


def test_a_family_depth_with_one_shape_off_is_said_as_a_shape_not_as_names(tmp_path):
    """Names of a three-layer VAE with one tensor of another shape: no hint fits, so the load
    falls back to the config whose names fit (that depth) and says which shape differs."""
    from models.foreign.errors import ForeignModelError

    state = build_model("vae", hidden=16, latent_dim=3, mlp_layers=3).state_dict()
    state["decoder.net.2.bias"] = torch.zeros(15)
    with pytest.raises(ForeignModelError) as refused:
        load_family_weights(state, tmp_path / "w.safetensors", "vae")
    assert "of another shape" in str(refused.value) and "missing" not in str(refused.value)

