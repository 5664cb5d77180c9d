"""The training session: a run's thread, coalesced metrics, Stop; continuing the loaded model, and
the Model & data form following the loaded model."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

import models.training.loop
from explorer import settings
from explorer.jobs import live_threads
from explorer.training_session import TrainingSession, TrainRequest, choose_cadence, continue_run_dir, format_eta
from models.runs.checkpoint import load_checkpoint, save_checkpoint
from models.families.registry import build_model
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig


@pytest.fixture
def run_checkpoint(tmp_path) -> Path:
    """A VAE (latent 7, hidden 48) at step 30 (epoch 2.5: it trained at another batch size) on
    "shapes", as <run>/checkpoints/latest.safetensors, with the metrics of its first 30 steps."""
    torch.manual_seed(1)
    model = build_model("vae", latent_dim=7, hidden=48, image_shape=(1, 28, 28))
    optimizers = model.configure_optimizers()
    for _ in range(3):  # Adam's moments after 3 steps travel in the run's latest checkpoint
        model.training_step(torch.rand(8, 1, 28, 28), optimizers)
    path = save_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors", model,
                           {"step": 30, "epoch": 2.5, "dataset": "shapes", "train_config": {"batch_size": 32, "lr": None}},
                           optimizers=optimizers)
    run = RunDir(tmp_path / "run")
    for step in (10, 20, 30):
        run.append_metrics({"step": step, "total": 500.0})
    return path


def open_and_wait(qtbot, window, path: Path) -> None:
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        assert window.open_path(path)
    qtbot.waitUntil(lambda: window._loading is None, timeout=10_000)


def test_form_follows_loaded_checkpoint(qtbot, window, run_checkpoint):
    panel = window.train_panel
    panel.family.setCurrentIndex(panel.family.findData("ae"))
    panel.fields["latent_dim"].set(3)
    panel.batch_size.setValue(256)
    panel.dataset.setCurrentText("mnist")
    open_and_wait(qtbot, window, run_checkpoint)
    model = window.model_state.model
    assert panel.current_family() == "vae" == model.family
    assert panel.fields["latent_dim"].get() == 7 == model.config.latent_dim
    assert panel.fields["hidden"].get() == 48
    for name, control in panel.fields.items():  # every generated field shows the model's value
        value = getattr(model.config, name)
        assert control.get() == (tuple(value) if isinstance(value, list) else value), name
    assert "image_shape" not in panel.fields
    assert panel.dataset.currentText() == "shapes"
    assert panel.batch_size.value() == 32  # from the run's train_config
    # still editable afterwards
    assert panel.family.isEnabled() and panel.fields["latent_dim"].widget.isEnabled()
    panel.fields["latent_dim"].set(9)
    assert panel.fields["latent_dim"].get() == 9
    assert panel.continue_button.isEnabled() and window.continue_action.isEnabled()


def test_continue_training_carries_on_in_the_run_folder(qtbot, window, run_checkpoint, monkeypatch):
    seen: dict = {}
    real_train = models.training.loop.train

    def spy(model, *args, **kwargs):
        seen["weights"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        seen["start_step"] = kwargs.get("start_step")
        seen["same_object"] = model is window.model_state.model
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(models.training.loop, "train", spy)
    saved = load_checkpoint(run_checkpoint).model.state_dict()  # before the run overwrites it
    open_and_wait(qtbot, window, run_checkpoint)
    panel = window.train_panel
    # architecture edits don't apply to Continue: it trains the loaded model itself
    panel.fields["latent_dim"].set(3)
    panel.batch_size.setValue(32)
    panel.epochs.setValue(1.0)  # the tiny dataset: 200 images / 32 = 6 steps
    panel.device.setCurrentText("cpu")
    with qtbot.waitSignal(window.session.started, timeout=15_000) as started:
        panel.continue_button.click()
    info = started.args[0]
    assert info.run_dir == run_checkpoint.parents[1]
    assert info.start_step == 30 and info.total_steps == 36
    assert not panel.continue_button.isEnabled() and not window.continue_action.isEnabled()
    with qtbot.waitSignal(window.session.finished, timeout=30_000) as finished:
        pass
    last = finished.args[0]
    assert last is not None and last.event == "done" and last.step == 36

    # it started from the checkpoint's weights and step, on a copy of the explored model
    assert seen["start_step"] == 30 and not seen["same_object"]
    for k, v in saved.items():
        assert torch.equal(seen["weights"][k], v), k
    assert window.model_state.model.config.latent_dim == 7

    # same run folder: latest moved on, metrics appended after the old ones
    ckpt = load_checkpoint(run_checkpoint)
    assert Path(last.checkpoint) == run_checkpoint
    assert ckpt.train_state["step"] == 36 > 30
    # the epoch count goes on from the checkpoint's: one pass of 6 steps more (not 36 / 6 steps)
    assert ckpt.train_state["epoch"] == pytest.approx(3.5) and last.epoch == pytest.approx(3.5)
    # Adam's moments carried on: 3 steps in the file + the 6 of this run
    assert {float(st["step"]) for st in ckpt.optimizer_state["model"]["state"].values()} == {9.0}
    lines = [json.loads(x) for x in (run_checkpoint.parents[1] / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in lines]
    assert steps[:3] == [10, 20, 30]
    assert steps[3:] and min(steps[3:]) >= 31 and steps[3:] == sorted(steps[3:]) and steps[-1] == 36
    runs = settings.runs_dir()
    assert not runs.exists() or not any(runs.iterdir())  # no new run folder
    assert window.model_state.source == run_checkpoint
    assert window.model_state.train_state["step"] == 36


def test_continue_disabled_without_model_or_while_training(qtbot, window, run_checkpoint, vae_checkpoint,
                                                           small_vae_form):
    panel = window.train_panel
    assert window.model_state.model is None
    assert not panel.continue_button.isEnabled() and not window.continue_action.isEnabled()
    assert "Open or train a model first" in panel.continue_button.toolTip()
    window.continue_action.trigger()  # a no-op, not a crash
    assert not window.session.active

    # a model whose dataset isn't one of ours can't be continued
    open_and_wait(qtbot, window, vae_checkpoint)  # dataset "tiny"
    assert not panel.continue_button.isEnabled()

    open_and_wait(qtbot, window, run_checkpoint)
    assert panel.continue_button.isEnabled()
    assert "Family and model fields do not" in panel.continue_button.toolTip()

    # while a run is going (here a fresh one from Train), Continue is off
    small_vae_form(panel)
    with qtbot.waitSignal(window.session.started, timeout=15_000):
        panel.train_button.click()
    assert not panel.continue_button.isEnabled() and not window.continue_action.isEnabled()
    with qtbot.waitSignal(window.session.finished, timeout=10_000):
        window.session.stop()
    assert window.session.state == "idle"


def test_continue_run_dir_rules(tmp_path):
    model = build_model("vae", latent_dim=2, hidden=8, image_shape=(1, 28, 28))
    loose = save_checkpoint(tmp_path / "loose.safetensors", model, {"step": 5})
    assert continue_run_dir(loose, 5) is None
    assert continue_run_dir(None, 0) is None
    run = tmp_path / "r"
    latest = save_checkpoint(run / "checkpoints" / "latest.safetensors", model, {"step": 50})
    best = save_checkpoint(run / "checkpoints" / "best.safetensors", model, {"step": 20})
    assert continue_run_dir(latest, 50) == run
    # best from earlier in the run: continuing it there would rewind latest -> a new folder
    assert continue_run_dir(best, 20) is None
    save_checkpoint(latest, model, {"step": 20})
    assert continue_run_dir(best, 20) == run


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


def test_cadence_and_eta():
    assert choose_cadence(torch.device("cpu"), 400) == {"log_every": 1, "snapshot_every": 50, "checkpoint_every": 0}
    assert choose_cadence(torch.device("cuda"), 5000)["checkpoint_every"] == 2000
    assert format_eta(75) == "1:15" and format_eta(3725) == "1:02:05" and format_eta(float("inf")) == "–"


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
