"""ONNX decoders (exported with torch.onnx as a user would, or written by hand) open as models;
graphs that are not decoders get one clear line."""
from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper

from models.foreign.errors import ForeignModelError
from models.foreign.open import open_model


class _VAEDecoder(nn.Module):
    """The examples VAE's decode as images, the way one exports it (view to N x 1 x 28 x 28)."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z).view(-1, 1, 28, 28)


def test_an_exported_examples_vae_decoder_opens_within_1e_4(examples_vae, ex, tmp_path):
    path = ex.export_graph(_VAEDecoder(examples_vae).eval(), torch.zeros(2, 20), tmp_path / "vae_decoder.onnx")
    model = open_model(path).model
    assert model.config.output_range == (0.0, 1.0)  # read from the Sigmoid behind the Reshape
    assert not model.latent_spec.has_encoder and model.latent_spec.input_dim == 20
    z = torch.randn(5, 20)
    with torch.no_grad():
        assert (model.decode(z) - examples_vae.decode(z).view(-1, 1, 28, 28)).abs().max() <= 1e-4


def test_an_exported_dcgan_generator_opens_within_1e_4(small_generator, ex, tmp_path):
    path = ex.export_graph(small_generator, torch.zeros(2, 16, 1, 1), tmp_path / "netG.onnx")
    model = open_model(path).model
    assert model.config.output_range == (-1.0, 1.0)  # Tanh
    assert tuple(model.config.image_shape) == (1, 64, 64) and model.config.latent_shape == (16, 1, 1)
    z = torch.randn(3, 16)
    with torch.no_grad():
        want = (small_generator(z[:, :, None, None]) + 1) / 2
        assert (model.decode(z) - want).abs().max() <= 1e-4


def test_a_graph_exported_for_one_latent_decodes_many(small_generator, ex, tmp_path):
    path = ex.export_graph(small_generator, torch.zeros(1, 16, 1, 1), tmp_path / "fixed.onnx", dynamic=False)
    model = open_model(path).model
    z = torch.randn(3, 16)
    with torch.no_grad():
        assert (model.decode(z) - (small_generator(z[:, :, None, None]) + 1) / 2).abs().max() <= 1e-4


def _graph(path, nodes, inputs, outputs, initializers=()):
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _reshape_to(shape):
    return numpy_helper.from_array(np.array(shape, np.int64), "shape")


def _latent(d=4, name="z"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", d])


def test_a_decoder_with_two_inputs_is_refused(tmp_path):
    nodes = [helper.make_node("Add", ["z", "w"], ["s"]), helper.make_node("Reshape", ["s", "shape"], ["r"]),
             helper.make_node("Sigmoid", ["r"], ["x"])]
    path = _graph(tmp_path / "two.onnx", nodes, [_latent(), _latent(name="w")],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 2, 2])], [_reshape_to([-1, 1, 2, 2])])
    with pytest.raises(ForeignModelError, match=r"^two.onnx: has 2 inputs .*a decoder takes one"):
        open_model(path)


def test_a_dynamic_image_size_is_refused(tmp_path):
    """The side is computed from the latent's values, so no shape inference can fix it."""
    nodes = [helper.make_node("ReduceMax", ["z"], ["m"], keepdims=0),
             helper.make_node("Cast", ["m"], ["s"], to=TensorProto.INT64),
             helper.make_node("Unsqueeze", ["s", "axes"], ["side"]),
             helper.make_node("Concat", ["head", "side", "side"], ["shape"], axis=0),
             helper.make_node("Reshape", ["z", "shape"], ["r"]), helper.make_node("Sigmoid", ["r"], ["x"])]
    consts = [numpy_helper.from_array(np.array([-1, 1], np.int64), "head"),
              numpy_helper.from_array(np.array([0], np.int64), "axes")]
    path = _graph(tmp_path / "dyn.onnx", nodes, [_latent()],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "h", "w"])], consts)
    with pytest.raises(ForeignModelError, match="dynamic image size"):
        open_model(path)


def _linear_graph(path):
    """A decoder that ends in no activation: its range cannot be read from it."""
    nodes = [helper.make_node("Reshape", ["z", "shape"], ["x"])]
    return _graph(path, nodes, [_latent()], [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 2, 2])],
                  [_reshape_to([-1, 1, 2, 2])])


def test_an_unknown_output_range_is_refused_and_a_manifest_gives_it(tmp_path):
    path = _linear_graph(tmp_path / "linear.onnx")
    with pytest.raises(ForeignModelError, match="does not say its output range.*output_range"):
        open_model(path)
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"version": 1, "decoder": "linear.onnx", "latent_dim": 4, "output_range": [-2, 2], "prior": "uniform"}))
    for opened in (tmp_path, tmp_path / "manifest.json", path):  # the folder, the manifest, the graph beside it
        model = open_model(opened).model
        assert model.latent_spec.prior == "uniform" and model.has_prior
        z = torch.tensor([[-2.0, 0.0, 1.0, 2.0]])
        assert torch.allclose(model.decode(z).flatten(), torch.tensor([0.0, 0.5, 0.75, 1.0]))
    assert open_model(path, output_range=(0.0, 4.0)).model.config.output_range == (0.0, 4.0)


def test_manifest_mistakes_are_named(tmp_path):
    _linear_graph(tmp_path / "linear.onnx")
    cases = {
        '{"version": 2, "decoder": "linear.onnx", "latent_dim": 4}': "version 2 manifest",
        '{"version": 1, "decoder": "linear.onnx", "latent_dim": 5, "output_range": [0, 1]}': "says latent_dim 5",
        '{"version": 1, "decoder": "linear.onnx", "latent_dim": 4, "ouput_range": [0, 1]}': "unknown field 'ouput_range'",
        '{"version": 1, "decoder": "missing.onnx", "latent_dim": 4, "output_range": [0, 1]}':
            "manifest.json: names the decoder missing.onnx, which is not in",
        '{"version": 1, "latent_dim": 4}': "decoder is missing",
        '{"version": 1, "decoder": "linear.onnx", "latent_dim": 4, "image_shape": [1, 3, 3], '
        '"output_range": [0, 1]}': "image_shape",
    }
    for text, expected in cases.items():
        (tmp_path / "manifest.json").write_text(text)
        with pytest.raises(ForeignModelError, match=expected):
            open_model(tmp_path)


def test_a_manifest_encoder_gives_encode(small_generator, tmp_path):
    """A manifest naming an encoder whose second output is a log-variance: encode and KL."""
    class Stats(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(4, 8))

        def forward(self, x):
            h = self.net(x)
            return h[:, :4], h[:, 4:]

    stats = Stats().eval()

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(stats, (torch.zeros(2, 1, 2, 2),), str(tmp_path / "enc.onnx"), input_names=["x"],
                          output_names=["mu", "logvar"], dynamic_axes={"x": {0: "n"}, "mu": {0: "n"}, "logvar": {0: "n"}},
                          dynamo=False, opset_version=17)
    _linear_graph(tmp_path / "dec.onnx")
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"version": 1, "decoder": "dec.onnx", "encoder": "enc.onnx", "latent_dim": 4, "output_range": [0, 1]}))
    model = open_model(tmp_path).model
    assert model.latent_spec.has_encoder and model.has_kl and not model.has_prior
    x = torch.rand(3, 1, 2, 2)
    with torch.no_grad():
        mu, logvar = stats(x)
        assert (model.encode(x) - mu).abs().max() <= 1e-5
        assert (model.encode_stats(x)[1] - logvar).abs().max() <= 1e-5


def test_without_onnxruntime_the_message_says_how_to_install(tmp_path, monkeypatch):
    path = _linear_graph(tmp_path / "linear.onnx")
    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime" or name.startswith("onnxruntime."):
            raise ImportError("No module named 'onnxruntime'", name="onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ForeignModelError, match=r'pip install "latent-explorer\[onnx\]"'):
        open_model(path)


class _FlatDecoder(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)  # (N, 784), as the example's decode gives it


def test_flat_images_open_with_the_manifests_image_shape(examples_vae, ex, tmp_path):
    path = ex.export_graph(_FlatDecoder(examples_vae).eval(), torch.zeros(2, 20), tmp_path / "flat.onnx")
    with pytest.raises(ForeignModelError, match=r"or flat \(N, C\*H\*W\) with image_shape"):
        open_model(path)
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"version": 1, "decoder": "flat.onnx", "latent_dim": 20, "image_shape": [1, 28, 28], "prior": "normal"}))
    model = open_model(tmp_path).model
    z = torch.randn(3, 20)
    with torch.no_grad():
        assert (model.decode(z) - examples_vae.decode(z).view(-1, 1, 28, 28)).abs().max() <= 1e-4


def test_a_json_that_is_no_manifest_says_so(tmp_path):
    (tmp_path / "config.json").write_text('{"z_dim": 3}')
    with pytest.raises(ForeignModelError, match="^config.json: is not a model manifest"):
        open_model(tmp_path / "config.json")
