"""Models made elsewhere for the CLI tests, made here the way their authors make them: the
PyTorch examples' VAE and DCGAN generator (github.com/pytorch/examples, vae/main.py and
dcgan/main.py, as their scripts define them) saved with ``torch.save(model.state_dict())``,
graphs exported with ``torch.onnx``, and an adapter file.

(The classes are tests/pytorch_examples.py; a conftest's fixtures are only seen under its own
folder, hence this one.)"""
from __future__ import annotations

import json
import textwrap
import warnings
from functools import partial
from pathlib import Path

import pytest
import torch
from pytorch_examples import VAE, Generator, weights_init  # noqa: E402  (the examples' classes)
from torch import nn


class VAEDecoder(nn.Module):
    """The examples VAE's decode as images, the way one exports it."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z):
        return self.vae.decode(z).view(-1, 1, 28, 28)


class VAEEncoder(nn.Module):
    """The examples VAE's encoder means, from images (N, 1, 28, 28)."""

    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x):
        return self.vae.encode(x.reshape(-1, 784))[0]


def export_graph(module: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """``module`` as an ONNX file the way a user exports one (torch.onnx, TorchScript exporter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


ADAPTER = textwrap.dedent('''
    import torch
    from torch import nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(3)
            self.fc = nn.Linear(3, 16)

        def forward(self, z):
            return torch.sigmoid(self.fc(z)).view(-1, 1, 4, 4)

    def load():
        return {"decoder": Decoder().eval(), "latent_dim": 3, "image_shape": (1, 4, 4), "name": "tiny adapter"}
''')


@pytest.fixture
def examples_vae() -> VAE:
    torch.manual_seed(0)
    return VAE().eval()


@pytest.fixture
def small_generator() -> Generator:
    """The DCGAN example's generator with few channels (fast), grey 64 x 64 images."""
    torch.manual_seed(0)
    g = Generator(nz=16, ngf=4, nc=1)
    g.apply(partial(weights_init, conv_std=0.2))  # 10x the script's: distinct images
    return g.eval()


@pytest.fixture
def vae_pth(examples_vae, tmp_path) -> Path:
    path = tmp_path / "vae.pth"
    torch.save(examples_vae.state_dict(), path)  # what vae/main.py's users save
    return path


@pytest.fixture
def netg_pth(small_generator, tmp_path) -> Path:
    path = tmp_path / "netG_epoch_24.pth"
    torch.save(small_generator.state_dict(), path)  # dcgan/main.py: torch.save(netG.state_dict(), ...)
    return path


@pytest.fixture
def vae_onnx_folder(examples_vae, tmp_path) -> Path:
    """The examples VAE exported by hand as decoder and encoder graphs with a manifest."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    folder = tmp_path / "vae-onnx"
    folder.mkdir()
    export_graph(VAEDecoder(examples_vae).eval(), torch.zeros(2, 20), folder / "dec.onnx")
    export_graph(VAEEncoder(examples_vae).eval(), torch.zeros(2, 1, 28, 28), folder / "enc.onnx")
    (folder / "manifest.json").write_text(json.dumps(
        {"version": 1, "decoder": "dec.onnx", "encoder": "enc.onnx", "latent_dim": 20, "prior": "normal"}))
    return folder


@pytest.fixture
def onnx_export():
    """:func:`export_graph`, for tests that export a graph of their own."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    return export_graph


@pytest.fixture
def adapter(tmp_path) -> Path:
    path = tmp_path / "my_model.py"
    path.write_text(ADAPTER)
    return path


@pytest.fixture
def adapter_decoder() -> nn.Module:
    """The adapter's decoder, built here as :data:`ADAPTER` builds it (same seed, same layer)."""
    torch.manual_seed(3)
    fc = nn.Linear(3, 16)
    return nn.Sequential(fc, nn.Sigmoid(), nn.Unflatten(1, (1, 4, 4))).eval()
