"""Fixtures for the window tests: a main window fed the tiny dataset, tiny checkpoints, and a
guard that fails any test leaving a training (or other explorer) thread running."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from models.runs.checkpoint import save_checkpoint
from models.families.registry import build_model


@pytest.fixture(autouse=True)
def no_thread_leaks():
    """napari-style: a test that leaves a worker thread running fails (after a short grace
    period for threads that are already finishing)."""
    yield
    from explorer.jobs import live_threads

    deadline = time.monotonic() + 1.0
    while live_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    leaked = live_threads()
    assert not leaked, f"test left threads running: {leaked}"


@pytest.fixture
def dataset_factory(tiny_dataset):
    """Stands in for models.data.load_dataset: every name gives the tiny 28x28 dataset (size
    and channels are ignored). ``calls`` records the names asked for, ``folders`` the folders
    as text (the form gives text, a model's recorded folder arrives as a Path)."""
    calls: list[str] = []

    def factory(name, data_dir=None, *, download=True, progress=None, image_size=None, channels=1):
        calls.append(name)
        factory.folders.append(None if data_dir is None else str(data_dir))
        if progress is not None:
            progress(50, 100)
            progress(100, 100)
        return tiny_dataset

    factory.calls = calls  # type: ignore[attr-defined]
    factory.folders = []  # type: ignore[attr-defined]
    return factory


@pytest.fixture
def window(qtbot, dataset_factory):
    from explorer.window.main_window import MainWindow

    w = MainWindow(dataset_factory=dataset_factory)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()  # stops training, joins helper threads (close() would do it too)


@pytest.fixture
def vae_checkpoint(tmp_path) -> Path:
    """A small untrained VAE on 28x28 images, latent size 5."""
    model = build_model("vae", latent_dim=5, hidden=32, image_shape=(1, 28, 28))
    return save_checkpoint(tmp_path / "vae5.safetensors", model, {"dataset": "tiny", "step": 7})


@pytest.fixture
def small_vae_form():
    """Fills the Model & data panel for a VAE run that takes milliseconds per step."""

    def fill(panel, latent: int = 4, hidden: int = 32, batch: int = 32, epochs: float = 1000.0) -> None:
        panel.family.setCurrentIndex(panel.family.findData("vae"))
        panel.fields["latent_dim"].set(latent)
        panel.fields["hidden"].set(hidden)
        panel.batch_size.setValue(batch)
        panel.epochs.setValue(epochs)
        panel.device.setCurrentText("cpu")

    return fill
