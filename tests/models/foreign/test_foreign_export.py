"""Export to ONNX: the folder opens again as the same model (decodes within 1e-4)."""
from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from models.families.registry import build_model
from models.foreign.errors import ForeignModelError
from models.foreign.export import export_onnx
from models.foreign.open import open_foreign, open_model
from models.foreign.protocol import ForeignModel

TINY = {
    "vae": {"latent_dim": 4, "hidden": 32},
    "dcgan": {"z_dim": 8, "g_channels": 8, "d_channels": 8, "fc_hidden": 32},
    "infogan": {"z_dim": 5, "categorical": (4,), "continuous": 2, "fc_hidden": 32, "q_hidden": 16, "channels": 8},
}


def _decoded(model, z):
    with torch.no_grad():
        return model.decode(z)


def _randomise_norms(model):
    """Running statistics that are not the defaults, so an export that ran batch norm on
    batch statistics (training mode) would differ."""
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize("family", list(TINY))
def test_an_apps_family_round_trips(family, tmp_path):
    model = build_model(family, TINY[family]).eval()
    _randomise_norms(model)
    result = export_onnx(model, tmp_path / "export")
    assert result["max_abs_diff"]["decoder"] <= 1e-4
    reopened = open_model(tmp_path / "export").model
    assert isinstance(reopened, ForeignModel)
    assert reopened.latent_spec.to_dict() == model.latent_spec.to_dict()
    assert tuple(reopened.config.image_shape) == tuple(model.config.image_shape)
    z = model.sample_latents(11, torch.Generator().manual_seed(3))  # another batch size than the export's
    assert (_decoded(reopened, z) - _decoded(model, z)).abs().max() <= 1e-4
    if model.latent_spec.has_encoder:
        x = torch.rand(6, *model.config.image_shape)
        with torch.no_grad():
            assert (reopened.encode(x) - model.encode(x)).abs().max() <= 1e-4
            assert (reopened.encode_stats(x)[1] - model.encode_stats(x)[1]).abs().max() <= 1e-4
        assert reopened.has_kl
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["decoder"] == "decoder.onnx"
    assert ("encoder" in manifest) == model.latent_spec.has_encoder


def test_infogan_keeps_its_codes(tmp_path):
    model = build_model("infogan", TINY["infogan"]).eval()
    export_onnx(model, tmp_path)
    spec = open_model(tmp_path).model.latent_spec
    assert spec.categorical == (4,) and spec.continuous == 2 and spec.z_dim == 5 and not spec.has_encoder


def test_foreign_models_export_too(examples_vae, small_generator, ex, tmp_path):
    torch.save(examples_vae.state_dict(), tmp_path / "vae.pth")
    vae = open_foreign(tmp_path / "vae.pth", allow_pickle=True)
    export_onnx(vae, tmp_path / "vae")
    again = open_model(tmp_path / "vae").model
    z = torch.randn(4, 20)
    assert (_decoded(again, z) - examples_vae.decode(z).view(-1, 1, 28, 28)).abs().max() <= 1e-4
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert (again.encode(x) - examples_vae.encode(x.view(-1, 784))[0]).abs().max() <= 1e-4
    # an ONNX model exports its graphs as they are, with a manifest
    graph = ex.export_graph(small_generator, torch.zeros(2, 16, 1, 1), tmp_path / "netG.onnx")
    export_onnx(open_model(graph).model, tmp_path / "netG")
    assert (tmp_path / "netG" / "decoder.onnx").read_bytes() == graph.read_bytes()
    z = torch.randn(2, 16)
    with torch.no_grad():
        want = (small_generator(z[:, :, None, None]) + 1) / 2
    assert (_decoded(open_model(tmp_path / "netG").model, z) - want).abs().max() <= 1e-4


def test_an_export_that_does_not_reproduce_the_model_writes_nothing(tmp_path, monkeypatch):
    from models.foreign import export

    model = build_model("vae", TINY["vae"]).eval()
    monkeypatch.setattr(export, "_compare", lambda m, e: {"decoder": 0.5, "encoder": None})
    with pytest.raises(ForeignModelError, match="differ from the model by up to 0.5"):
        export_onnx(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()
