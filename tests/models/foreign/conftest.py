"""The foreign models the tests open: the PyTorch examples' own classes
(tests/pytorch_examples.py), saved the way their scripts save them."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_examples import VAE, Discriminator, Generator  # noqa: F401  (the examples' classes)
from torch import nn


def weights_init(m):
    """dcgan/main.py's init, plus running statistics that are not the defaults (so a test
    notices when batch norm runs on batch statistics instead)."""
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)
        m.running_mean.data.normal_(0.0, 0.1)
        m.running_var.data.uniform_(0.5, 1.5)


@pytest.fixture
def examples_vae() -> VAE:
    return VAE().eval()


@pytest.fixture
def small_generator() -> Generator:
    """The DCGAN example's generator with few channels (fast), grey images."""
    g = Generator(nz=16, ngf=4, nc=1)
    g.apply(weights_init)
    return g.eval()


def export_graph(module: nn.Module, example: torch.Tensor, path: Path, dynamic: bool = True,
                 input_names: list[str] | None = None) -> Path:
    """``module`` as an ONNX file the way a user exports one (torch.onnx, TorchScript exporter)."""
    import warnings

    names = input_names or ["input"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), input_names=names, output_names=["output"],
                          dynamic_axes={names[0]: {0: "batch"}, "output": {0: "batch"}} if dynamic else None,
                          opset_version=17, dynamo=False)
    return path


@pytest.fixture
def ex() -> SimpleNamespace:
    """The examples' classes and helpers, for tests that build their own."""
    return SimpleNamespace(VAE=VAE, Generator=Generator, Discriminator=Discriminator, weights_init=weights_init,
                           export_graph=export_graph)
