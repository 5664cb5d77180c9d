"""The MLP's depth (``mlp_layers``): the beta-VAE's four layers a side, the one-layer nets saved
before the field, and its bounds wherever a depth is read."""
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from explorer.cli import main
from models.families.registry import build_model
from models.runs.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "beta_vae_mlp"


def _dense_widths(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_the_beta_vae_has_four_layers_a_side_and_ten_latents_and_the_vae_stays_the_classic_example():
    beta = build_model("beta-vae", image_shape=(1, 28, 28))
    assert _dense_widths(beta.encoder) == [(784, 400)] + [(400, 400)] * 3
    assert _dense_widths(beta.decoder) == [(10, 400)] + [(400, 400)] * 3 + [(400, 784)]
    plain = build_model("vae", image_shape=(1, 28, 28))
    assert _dense_widths(plain.encoder) == [(784, 400)] and _dense_widths(plain.decoder) == [(20, 400), (400, 784)]
    deep = build_model("ae", image_shape=(1, 28, 28), mlp_layers=3, hidden=32, latent_dim=4)
    assert _dense_widths(deep.decoder) == [(4, 32), (32, 32), (32, 32), (32, 784)]
    x = torch.rand(5, 1, 28, 28)
    assert deep.decode(deep.encode(x)).shape == x.shape


def test_a_beta_vae_saved_before_the_field_opens_as_the_one_layer_net_it_was():
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert "mlp_layers" not in expected["model_config"]
    model = load_checkpoint(FIXTURE / "beta-vae-mlp.safetensors").model.eval()
    assert model.config.mlp_layers == 1
    assert _dense_widths(model.decoder) == [(3, 16), (16, 256)]
    z = torch.tensor(expected["latents"])
    with torch.no_grad():
        x = model.decode(z)
        mu, _ = model.encode_stats(x)
    assert x.double().flatten(1).sum(1).tolist() == pytest.approx(expected["decoded"], abs=1e-6)
    assert torch.allclose(mu, torch.tensor(expected["encoded_mu"]), atol=1e-6)


def test_a_deeper_net_round_trips_through_a_checkpoint(tmp_path):
    model = build_model("beta-vae", image_shape=(1, 16, 16), latent_dim=3, hidden=8, mlp_layers=3).eval()
    back = load_checkpoint(save_checkpoint(tmp_path / "m.safetensors", model)).model.eval()
    assert back.config.mlp_layers == 3
    z = torch.randn(2, 3)
    assert torch.equal(back.decode(z), model.decode(z))


@pytest.mark.parametrize("layers", [0, 9, 2**31 - 1])
def test_a_depth_out_of_bounds_is_refused_before_any_layer_is_built(layers, tmp_path, capsys):
    """A mistyped flag or a tampered checkpoint would otherwise build dense layers for hours."""
    with pytest.raises(ValueError, match="mlp_layers must be 1 to 8"):
        build_model("vae", image_shape=(1, 16, 16), mlp_layers=layers)
    path = save_checkpoint(tmp_path / "v.safetensors", build_model("beta-vae", image_shape=(1, 16, 16), hidden=8,
                                                                        mlp_layers=2), {"step": 1})
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    raw = path.read_bytes()
    header = raw[8:8 + header_len].decode()
    tampered = header.replace('\\"mlp_layers\\": 2', f'\\"mlp_layers\\": {layers}')
    assert tampered != header
    padded = tampered.encode().ljust(header_len) if len(tampered) <= header_len else tampered.encode()
    path.write_bytes(len(padded).to_bytes(8, "little") + padded + raw[8 + header_len:])
    with pytest.raises(CheckpointError, match="mlp_layers"):
        load_checkpoint(path)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--model", "beta-vae", "--mlp-layers", str(layers), "--steps", "1", "--out", str(tmp_path / "r")])
    assert exit_.value.code == 2 and "--mlp-layers" in capsys.readouterr().err
