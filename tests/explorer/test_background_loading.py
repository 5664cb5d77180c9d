"""Slow file loads never run on the GUI thread: checkpoints, a run folder's metrics and
samples, path files and the run browser's previews are read in workers while the window
keeps ticking. Each slow loader is a stand-in (monkeypatched) that waits on a gate the test
opens: if it ran on the GUI thread the window would stop, and the tick count says so."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from models.explore.latent_paths import LatentPath, random_path
from models.families.registry import build_model


class Gate:
    """Wraps a loader: records the thread each call ran on and holds it until ``open()``."""

    def __init__(self, loader):
        self.loader, self.threads, self.entered = loader, [], threading.Event()
        self._gate = threading.Event()

    def __call__(self, *args, **kwargs):
        self.threads.append(threading.get_ident())
        self.entered.set()
        self._gate.wait(10)
        return self.loader(*args, **kwargs)

    def open(self) -> None:
        self._gate.set()


@pytest.fixture
def ticks(qtbot):
    """A 5 ms timer on the GUI thread: its count grows only while the event loop runs."""
    count = []
    timer = QTimer()
    timer.timeout.connect(lambda: count.append(1))
    timer.start(5)
    yield count
    timer.stop()


def _held_off_the_gui_thread(qtbot, gate: Gate, ticks: list) -> None:
    """The load is under way in a worker, and the GUI thread keeps ticking meanwhile."""
    qtbot.waitUntil(gate.entered.is_set, timeout=5000)  # the event loop runs: what starts the job may be queued
    start = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) >= start + 10, timeout=5000)
    assert gate.threads and all(t != threading.get_ident() for t in gate.threads)


def test_opening_a_checkpoint_runs_in_a_worker(qtbot, window, vae_checkpoint, monkeypatch, ticks):
    from explorer.window import model_controller

    gate = Gate(model_controller.open_model)  # the one door every model comes in by
    monkeypatch.setattr(model_controller, "open_model", gate)
    assert window.open_path(vae_checkpoint)
    _held_off_the_gui_thread(qtbot, gate, ticks)
    assert window.model_state.model is None and window.models.loading is not None
    gate.open()
    qtbot.waitUntil(lambda: window.model_state.source == vae_checkpoint, timeout=10_000)


def test_a_run_folders_metrics_and_samples_are_read_in_a_worker(qtbot, window, tiny_dataset, monkeypatch, ticks):
    from explorer import settings
    from models.runs.run_dir import RunDir
    from models.training.loop import TrainConfig, train

    run = RunDir(settings.runs_dir() / "slow-run")
    list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset,
               TrainConfig(steps=6, batch_size=20, log_every=3, snapshot_every=3, device="cpu"), run=run))
    gate = Gate(RunDir.read_metrics)
    monkeypatch.setattr(RunDir, "read_metrics", lambda self, *a, **k: gate(self, *a, **k))
    shown = []
    window.models.history_ready.connect(lambda records, name, samples: shown.append((len(records), samples)))
    assert window.open_path(run.path)
    _held_off_the_gui_thread(qtbot, gate, ticks)
    assert window.model_state.model is not None and not shown  # the model is open; its history still coming
    gate.open()
    qtbot.waitUntil(lambda: bool(shown), timeout=10_000)
    assert shown[0][0] > 0 and shown[0][1] is not None


@pytest.fixture
def paths_panel(qtbot):
    """A Paths panel on a small VAE (the panel, its model)."""
    from explorer.panels.paths import PathsPanel
    from explorer.state import LatentState, ModelState

    model = build_model("vae", latent_dim=4, hidden=16)
    ms, ls = ModelState(), LatentState()
    ms.set_model(model)
    ls.reset(model.latent_spec)
    panel = PathsPanel(ms, ls, lambda: None)
    qtbot.addWidget(panel)
    yield panel, model
    panel.shutdown()


def test_a_path_file_is_read_in_a_worker_and_the_newest_request_wins(qtbot, monkeypatch, tmp_path, ticks, paths_panel):
    from explorer.panels.paths import export
    from models.explore.latent_paths import save_path

    panel, model = paths_panel
    first = save_path(random_path(model, 3, seed=1), tmp_path / "first.json")
    second = save_path(random_path(model, 5, seed=2), tmp_path / "second.json")
    gate = Gate(export.load_path)
    monkeypatch.setattr(export, "load_path", gate)
    assert panel.load_path_file(first)  # returns at once: the read waits on the gate meanwhile
    _held_off_the_gui_thread(qtbot, gate, ticks)
    assert panel.keyframes == [] and "Reading first.json" in panel.message.text()
    assert panel.load_path_file(second)  # asked for while the first is still being read
    gate.open()
    qtbot.waitUntil(lambda: "Loaded second.json" in panel.message.text(), timeout=10_000)
    assert len(panel.keyframes) == 5  # the newest request won; the first was never applied
    qtbot.wait(50)
    assert len(panel.keyframes) == 5


def test_a_path_with_100000_keyframes_is_refused_with_a_message(qtbot, monkeypatch, tmp_path, paths_panel):
    from explorer.panels.paths import export
    from explorer.panels.paths.panel import MAX_KEYFRAMES

    panel, _model = paths_panel
    frames = np.random.default_rng(0).standard_normal((100_000, 4)).astype(np.float32)
    huge = LatentPath(list(frames), ["linear"] * 99_999)
    monkeypatch.setattr(export, "load_path", lambda file, model: huge)  # as read: the reading is the engine's
    (tmp_path / "long.json").write_text("{}")
    assert panel.load_path_file(tmp_path / "long.json")
    qtbot.waitUntil(lambda: "100,000 keyframes" in panel.message.text(), timeout=10_000)
    assert f"at most {MAX_KEYFRAMES:,}" in panel.message.text() and panel.keyframes == []


def test_the_run_browsers_preview_is_decoded_in_a_worker(qtbot, window, tiny_dataset, monkeypatch, ticks):
    from explorer import settings
    from explorer.dialogs import runs_browser
    from models.runs.run_dir import RunDir
    from models.training.loop import TrainConfig, train

    for name in ("run-a", "run-b"):
        list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset,
                   TrainConfig(steps=3, batch_size=20, log_every=3, snapshot_every=3, device="cpu"),
                   run=RunDir(settings.runs_dir() / name)))
    window.runs_action.trigger()
    browser = window.runs_browser
    qtbot.waitUntil(lambda: browser.table.rowCount() == 2, timeout=10_000)
    assert not browser.preview.pixmap().isNull()  # the newest run's grid came with the scan
    gate = Gate(runs_browser.load_png)
    monkeypatch.setattr(runs_browser, "load_png", gate)
    other = next(r for r in range(2) if browser._summary_at(r).name != browser.selected().name)
    browser.table.selectRow(other)
    _held_off_the_gui_thread(qtbot, gate, ticks)
    assert "Loading" in browser.preview.text()
    gate.open()
    qtbot.waitUntil(lambda: not browser.preview.pixmap().isNull(), timeout=10_000)
    browser.close()
