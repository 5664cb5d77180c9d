"""The foreign models the tests open: the PyTorch examples' own classes
(tests/pytorch_examples.py), saved the way their scripts save them; and the hostile sweeps'
checks (one-line refusals, peak memory)."""
from __future__ import annotations

import resource
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_examples import VAE, Discriminator, Generator, weights_init
from torch import nn

from models.foreign.errors import ForeignModelError
from models.foreign.open import open_model


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


def _peak_mb() -> int:
    """This process's peak resident memory in MB since :func:`_reset_peak` (Linux's VmHWM)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _reset_peak() -> int:
    """Measure the peak afresh from now (so an earlier test's peak cannot hide this one's); the baseline."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _peak_mb()


def _refused(path, match, finishes=None, **kw):
    """open_model(path) refused with one line starting with the file's name."""
    call = (lambda: open_model(path, **kw))
    with pytest.raises(ForeignModelError, match=match or None) as info:
        finishes(call) if finishes else call()
    assert str(info.value).startswith(f"{Path(path).name or path}: ") and "\n" not in str(info.value)
    return str(info.value)


@pytest.fixture
def peak_mb():
    """``peak_mb()``: this process's peak resident memory in MB since the last ``reset_peak()``."""
    return _peak_mb


@pytest.fixture
def reset_peak():
    """``reset_peak()``: start measuring the peak afresh; returns the baseline in MB."""
    return _reset_peak


@pytest.fixture
def refused():
    """``refused(path, match, finishes=None, **open_model_kw)``: assert open_model refuses
    ``path`` with one line starting with the file's name; returns the message."""
    return _refused
