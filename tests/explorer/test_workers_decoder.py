"""Workers (jobs, training session) and the decoder's sync/async modes, without the window."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from explorer import live_decoder as dec
from explorer.state import LatentState, ModelState
from explorer.workers import (
    JobRunner, TrainingSession, TrainRequest, choose_cadence, describe_error, format_eta, live_threads,
)
from models.families.registry import build_model
from models.training.loop import TrainConfig


def test_job_runner_delivers_results_and_errors_on_gui_thread(qtbot):
    jobs = JobRunner()
    gui = threading.get_ident()
    seen: list = []
    jobs.submit(lambda: threading.get_ident(), on_done=lambda r: seen.append(("done", r != gui, threading.get_ident() == gui)))
    jobs.submit(lambda: 1 / 0, on_error=lambda e: seen.append(("err", type(e).__name__, threading.get_ident() == gui)))
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert seen == [("done", True, True), ("err", "ZeroDivisionError", True)]
    assert jobs.wait(2000) and not jobs.busy


def test_session_coalesces_metrics_and_stops(qtbot, tiny_dataset, tmp_path):
    session = TrainingSession(lambda name, data_dir=None, **kw: tiny_dataset)
    batches: list = []
    session.metrics.connect(batches.append)
    request = TrainRequest("vae", "tiny", None, {"latent_dim": 2, "hidden": 16},
                           TrainConfig(epochs=2000, batch_size=20, device="cpu"), runs_root=tmp_path)
    with qtbot.waitSignal(session.started, timeout=10_000) as started:
        session.start(request)
    t_start = time.monotonic()
    info = started.args[0]
    assert info.run_dir.parent == tmp_path and info.total_steps == 20_000
    assert torch.get_num_threads() == 1  # the GUI thread leaves the other core to training
    with pytest.raises(RuntimeError):
        session.start(request)  # one run at a time
    qtbot.waitUntil(lambda: sum(len(b) for b in batches) >= 10, timeout=15_000)
    t0 = time.monotonic()
    with qtbot.waitSignal(session.finished, timeout=5000) as finished:
        session.stop()
    assert time.monotonic() - t0 < 2.0
    assert finished.args[0].event == "stopped"
    # bounded rate: at most one batch per 50 ms (+ the final one), however fast the steps
    elapsed = time.monotonic() - t_start
    assert len(batches) <= elapsed / 0.05 + 2
    assert sum(len(b) for b in batches) > len(batches)  # several events per signal
    assert not session.active and live_threads() == []


def test_cadence_and_messages():
    assert choose_cadence(torch.device("cpu"), 400) == {"log_every": 1, "snapshot_every": 50, "checkpoint_every": 0}
    assert choose_cadence(torch.device("cuda"), 5000)["checkpoint_every"] == 2000
    assert format_eta(75) == "1:15" and format_eta(3725) == "1:02:05" and format_eta(float("inf")) == "–"
    from models.runs.checkpoint import CheckpointError
    from models.training.loop import TrainingDiverged

    assert describe_error(CheckpointError("x.safetensors is corrupt")) == ("Could not open the model", "x.safetensors is corrupt")
    assert describe_error(TrainingDiverged("nan"))[0] == "Training diverged"
    assert describe_error(torch.OutOfMemoryError("CUDA out of memory"))[0] == "Out of memory"
    assert describe_error(KeyError("boom"))[0].startswith("Unexpected error")


@pytest.fixture
def states(qtbot):
    ms, ls = ModelState(), LatentState()
    decoder = dec.Decoder(ms, ls)
    model = build_model("vae", latent_dim=3, hidden=16)
    ms.set_model(model)
    ls.reset(ms.spec)
    yield ms, ls, decoder
    decoder.close()


def test_fast_decodes_are_synchronous(states):
    ms, ls, decoder = states
    images = []
    decoder.image_ready.connect(images.append)
    for i in range(5):
        ls.set_z(0, 0.1 * (i + 1))
        assert len(images) == i + 1  # delivered before set_z returned
    assert not decoder.asynchronous and decoder.ema_s < dec.SYNC_BUDGET_S
    assert images[-1].dtype == np.uint8 and images[-1].shape == (28, 28)
    assert decoder._thread is None  # no thread needed


def test_slow_decodes_go_to_one_worker_newest_wins(qtbot, states, monkeypatch):
    ms, ls, decoder = states
    real_decode = ms.model.decode
    decoded: list[float] = []

    def slow_decode(z):
        decoded.append(float(z[0, 0]))
        time.sleep(0.02)
        return real_decode(z)

    monkeypatch.setattr(ms.model, "decode", slow_decode)
    ms.model_changed.emit(ms.model)  # re-probe
    for i in range(dec.PROBE_DECODES):
        ls.set_z(1, 0.1 * (i + 1))
    assert decoder.asynchronous
    images = []
    decoder.image_ready.connect(images.append)
    decoded.clear()
    for i in range(30):  # a fast drag: far more requests than 20 ms decodes
        ls.set_z(0, i / 10)
    qtbot.waitUntil(lambda: bool(decoded) and decoded[-1] == pytest.approx(2.9), timeout=5000)
    qtbot.waitUntil(lambda: len(images) >= 1, timeout=5000)
    assert len(decoded) < 10  # stale requests were replaced, not queued
    assert decoder.last_image is images[-1]
    decoder.close()
    assert live_threads() == []


def test_weights_update_redecodes_under_the_lock(states):
    ms, ls, decoder = states
    images = []
    decoder.image_ready.connect(images.append)
    new = {k: torch.zeros_like(v) for k, v in ms.model.state_dict().items()}
    ms.load_weights(new)
    assert len(images) == 1 and np.all(images[0] == 128)  # sigmoid(0) = 0.5


def test_load_image_file_inverts_paper_scans(tmp_path):
    from PIL import Image

    arr = np.full((40, 30), 250, np.uint8)
    arr[10:30, 12:18] = 0  # dark ink on light paper
    Image.fromarray(arr).save(tmp_path / "scan.png")
    x, inverted = dec.load_image_file(str(tmp_path / "scan.png"), (1, 28, 28))
    assert inverted and x.shape == (1, 1, 28, 28)
    assert x.mean() < 0.5 and 0 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(ValueError):
        (tmp_path / "bad.png").write_bytes(b"nope")
        dec.load_image_file(str(tmp_path / "bad.png"), (1, 28, 28))


def test_leak_guard_sees_a_running_training_thread(qtbot, dataset_factory, tmp_path):
    """What the autouse no_thread_leaks fixture relies on: a live run is reported. Also: the
    loader's download progress reaches the GUI thread."""
    session = TrainingSession(dataset_factory)
    progress: list[tuple[int, int]] = []
    session.download_progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(session.started, timeout=10_000):
        session.start(TrainRequest("ae", "tiny", None, {"latent_dim": 2, "hidden": 8},
                                   TrainConfig(epochs=1000, batch_size=50, device="cpu"), runs_root=tmp_path))
    assert any("training ae on tiny" in t for t in live_threads())
    assert progress == [(50, 100), (100, 100)]
    session.stop()
    assert session.wait(2000)
    assert live_threads() == []
