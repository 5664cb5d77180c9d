"""Shared test setup: Qt offscreen before anything imports it, seeded RNGs, tiny datasets."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_EXPLORER_NO_DOWNLOAD", "1")

import numpy as np
import pytest
import torch

# Tests use tiny models that gain nothing from intra-op threads, and OpenMP threads
# spinning in several processes on a 2-core machine slow everything down many times over.
torch.set_num_threads(1)

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep settings, caches and runs of the test session away from the user's own."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LATENT_EXPLORER_HOME", str(home))
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(home / "data"))
    yield


@pytest.fixture
def mnist_dir() -> Path:
    if not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found at {MNIST_DIR}")
    return MNIST_DIR


def cuda_only(fn):
    return pytest.mark.cuda(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")(fn))


@pytest.fixture
def tiny_dataset():
    """200 + 50 random 28x28 binary-ish images with labels: a few ms per training step."""
    from models.data.base import Dataset, TensorSplit

    g = torch.Generator().manual_seed(0)
    imgs = ((torch.rand(250, 1, 28, 28, generator=g) > 0.7).to(torch.uint8) * 255)
    labels = torch.randint(0, 10, (250,), generator=g)
    return Dataset("tiny", TensorSplit(imgs[:200], labels[:200]), TensorSplit(imgs[200:], labels[200:]),
                   class_names=tuple(str(i) for i in range(10)))


def _finishes(fn, timeout: float = 10.0):
    """``fn()`` in a thread: its value (or its exception, re-raised), or a failure if it is
    still running after ``timeout`` seconds — how hostile-file tests show nothing blocks."""
    import threading

    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"blocked for more than {timeout} s"
    if "error" in out:
        raise out["error"]
    return out.get("value")


@pytest.fixture
def finishes():
    """Run a call with a deadline (see _finishes)."""
    return _finishes


#: ATen ops that read a tensor's value on the host: on an accelerator each one waits for the
#: device (a sync) and cannot be captured in a CUDA graph
HOST_READING_OPS = frozenset({
    "_local_scalar_dense", "item", "nonzero", "nonzero_static", "bincount", "unique", "_unique", "_unique2",
    "unique_dim", "unique_consecutive", "masked_select", "equal", "is_nonzero", "allclose", "histc",
    "repeat_interleave", "_assert_async", "argwhere",
})


class HostReadSpy:
    """Records every ATen op run under it; ``host_reads`` lists those that read values on
    the host (:data:`HOST_READING_OPS`). Use ``with spy:`` around the code under test and
    ``with spy.paused():`` around code that is not (a torch optimizer's CPU step)."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        spy = self
        self.ops: list[str] = []
        self._recording = True

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if spy._recording:
                    spy.ops.append(func._schema.name.split("::", 1)[-1])
                return func(*args, **(kwargs or {}))

        self._mode = _Mode()

    @property
    def host_reads(self) -> list[str]:
        return [op for op in self.ops if op in HOST_READING_OPS]

    def __enter__(self) -> "HostReadSpy":
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)

    def paused(self):
        import contextlib

        @contextlib.contextmanager
        def _paused():
            self._recording = False
            try:
                yield
            finally:
                self._recording = True

        return _paused()


@pytest.fixture
def host_read_spy() -> HostReadSpy:
    """A :class:`HostReadSpy` (see there): which host-reading ATen ops the code under it ran."""
    return HostReadSpy()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny nets train faster on one thread than on two fighting over a shared CPU: a module
    asks for it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
