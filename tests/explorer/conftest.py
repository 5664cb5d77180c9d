"""Fixtures for the window tests: a main window fed the tiny dataset, tiny checkpoints, and
guards that fail any test leaving a training (or other explorer) thread running, or during
which an exception reached ``sys.excepthook`` or ``threading.excepthook`` uncaught.

pytest-qt's own capture of exceptions in Qt slots and virtual methods stays on (it is
on unless ``qt_no_exception_capture`` says otherwise; nothing here says so); the guard
below also covers threads and tests that switch pytest-qt's capture off."""
from __future__ import annotations

import sys
import threading
import time
import traceback
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


class UncaughtExceptions:
    """Wraps ``sys.excepthook`` and ``threading.excepthook`` for one test and records what
    reaches them (passing it on to the hooks it wrapped, pytest-qt's among them)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._sys = self._thread = None

    def start(self) -> None:
        self._sys, self._thread = sys.excepthook, threading.excepthook
        sys.excepthook = self._on_sys
        threading.excepthook = self._on_thread

    def stop(self) -> None:
        """Put the wrapped hooks back where ours is still in place (pytest-qt may have put
        its predecessor back already)."""
        if sys.excepthook == self._on_sys:
            sys.excepthook = self._sys
        if threading.excepthook == self._on_thread:
            threading.excepthook = self._thread

    def _on_sys(self, etype, value, tb) -> None:
        self.seen.append("".join(traceback.format_exception(etype, value, tb)))
        self._sys(etype, value, tb)

    def _on_thread(self, args) -> None:
        name = args.thread.name if args.thread is not None else "?"
        self.seen.append(f"in thread {name}:\n" + "".join(
            traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))
        self._thread(args)

    def check(self) -> None:
        """Fail the test if an exception went uncaught (and forget it, so it fails once)."""
        if self.seen:
            seen, self.seen = self.seen, []
            pytest.fail(f"{len(seen)} uncaught exception(s):\n" + "\n".join(seen), pytrace=False)


@pytest.fixture(autouse=True)
def no_uncaught_exceptions():
    guard = UncaughtExceptions()
    guard.start()
    yield guard
    guard.stop()
    guard.check()


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
def open_window(qtbot, dataset_factory):
    """``open_window()``: a new main window on this test's settings, shown and laid out (a
    restart is a second call after the first window closed); all are shut down at the end."""
    from explorer.window.main_window import MainWindow

    made = []

    def make():
        w = MainWindow(dataset_factory=dataset_factory)
        qtbot.addWidget(w)
        made.append(w)
        w.show()
        qtbot.waitExposed(w)
        qtbot.waitUntil(lambda: not w.workspaces._arrange_on_show and not w.workspaces._strays_on_show, timeout=3000)
        return w

    yield make
    for w in made:
        w.shutdown()


@pytest.fixture
def real_data_window(qtbot):
    """A main window on the real dataset loader (the ``window`` fixture's fake ignores size
    and channels), so the window and the CLI read the same data."""
    from explorer.datasets import default_dataset_factory
    from explorer.window.main_window import MainWindow

    w = MainWindow(dataset_factory=default_dataset_factory)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()


@pytest.fixture
def vae_checkpoint(tmp_path) -> Path:
    """A small untrained VAE on 28x28 images, latent size 5."""
    model = build_model("vae", latent_dim=5, hidden=32, image_shape=(1, 28, 28))
    return save_checkpoint(tmp_path / "vae5.safetensors", model, {"dataset": "tiny", "step": 7})


@pytest.fixture
def write_checkpoint():
    """Writes a checkpoint of a small VAE (latent size 3) whose safetensors metadata the test
    chooses: ``write_checkpoint(path, train_state=..., meta={...})``, where ``train_state`` is
    any JSON value and ``meta`` replaces metadata strings as they are (hostile fixtures)."""
    import json

    from safetensors.torch import save_file

    from models.runs.checkpoint import FORMAT

    def write(path: Path, train_state=None, meta: dict[str, str] | None = None) -> Path:
        model = build_model("vae", latent_dim=3, hidden=16, image_shape=(1, 28, 28))
        metadata = {"format": FORMAT, "family": model.family, "model_config": model.config.to_json(),
                    "latent_spec": json.dumps(model.latent_spec.to_dict()),
                    "train_state": json.dumps({"dataset": "mnist", "step": 5} if train_state is None else train_state)}
        metadata.update(meta or {})
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=metadata)
        return path

    return write


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
