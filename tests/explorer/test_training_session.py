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
from explorer.training_session import TrainingSession, TrainRequest, choose_cadence, format_eta
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
    # listening for the end before the start: six steps may be over by the time "started" is handled
    with qtbot.waitSignal(window.session.finished, timeout=30_000) as finished:
        with qtbot.waitSignal(window.session.started, timeout=15_000) as started:
            panel.continue_button.click()
        info = started.args[0]
        assert info.run_dir == run_checkpoint.parents[1]
        assert info.start_step == 30 and info.total_steps == 36
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


def test_continue_follows_the_resume_policy(tmp_path):
    """The window's continuation goes where models.training.resume's plan says: a run's
    latest into the run, an older best into a new folder, a loose or never-saved model too."""
    from models.runs.checkpoint import Checkpoint
    from models.training.resume import plan_from_checkpoint

    model = build_model("vae", latent_dim=2, hidden=8, image_shape=(1, 28, 28))
    loose = save_checkpoint(tmp_path / "loose.safetensors", model, {"step": 5, "dataset": "shapes"})
    assert plan_from_checkpoint(load_checkpoint(loose)).run_dir is None
    assert plan_from_checkpoint(Checkpoint(model, {"dataset": "shapes"}, None)).run_dir is None
    run = tmp_path / "r"
    latest = save_checkpoint(run / "checkpoints" / "latest.safetensors", model, {"step": 50, "dataset": "shapes"})
    best = save_checkpoint(run / "checkpoints" / "best.safetensors", model, {"step": 20, "dataset": "shapes"})
    assert plan_from_checkpoint(load_checkpoint(latest)).run_dir == run
    # best from earlier in the run: continuing it there would rewind latest -> a new folder
    assert plan_from_checkpoint(load_checkpoint(best)).run_dir is None
    save_checkpoint(latest, model, {"step": 20, "dataset": "shapes"})
    assert plan_from_checkpoint(load_checkpoint(best)).run_dir == run


def _moment_steps(optimizer_state) -> dict | None:
    """Adam's step count per optimizer in a state handed to train(), None for cold moments."""
    if optimizer_state is None:
        return None
    return {name: sorted({float(st["step"]) for st in sd["state"].values()}) for name, sd in optimizer_state.items()}


def _rgb_folder_run(tmp_path) -> Path:
    """An RGB 16x16 VAE at step 12 of a run on a folder of 40 colour images (its latest, with
    Adam's moments after 3 steps), the folder recorded in the checkpoint."""
    import numpy as np
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(images / f"{i:02d}.png")
    model = build_model("vae", latent_dim=3, hidden=16, image_shape=(3, 16, 16))
    optimizers = model.configure_optimizers()
    for _ in range(3):
        model.training_step(torch.rand(8, 3, 16, 16), optimizers)
    return save_checkpoint(tmp_path / "folder-run" / "checkpoints" / "latest.safetensors", model,
                           {"step": 12, "epoch": 3.0, "dataset": "folder", "data_dir": str(images),
                            "train_config": {"batch_size": 8}}, optimizers=optimizers)


@pytest.mark.parametrize("which", ["latest", "older best", "best at the latest step", "rgb folder latest"])
def test_window_and_cli_resume_a_checkpoint_alike(qtbot, real_data_window, run_checkpoint, monkeypatch, tmp_path,
                                                  capsys, which):
    """Continue training in the window and ``latent-explorer train --resume`` of one checkpoint
    (models.training.resume's one plan): the same folder choice (the run itself, or a new one),
    start step and epoch, Adam's moments, and the same data in the model's size and colour."""
    from explorer.cli import main

    window = real_data_window
    if which == "rgb folder latest":
        resumed = _rgb_folder_run(tmp_path)
    elif which == "latest":
        resumed = run_checkpoint
    else:  # a best holds weights only; behind latest, or written at latest's step
        step, epoch = (20, 2.0) if which == "older best" else (30, 2.5)
        resumed = save_checkpoint(run_checkpoint.parent / "best.safetensors", load_checkpoint(run_checkpoint).model,
                                  {"step": step, "epoch": epoch, "dataset": "shapes"})
    run = resumed.parents[1]
    seen: list[dict] = []

    def spy(model, dataset, cfg, control=None, run_dir=None, **kwargs):  # records the start, trains nothing
        seen.append({"into_run": Path(run_dir.path) == run, "run_dir": Path(run_dir.path),
                     "start_step": kwargs.get("start_step"), "start_epoch": kwargs.get("start_epoch"),
                     "moments": _moment_steps(kwargs.get("optimizer_state")),
                     "data": (dataset.name, tuple(dataset.image_shape), dataset.data_dir)})
        return iter(())

    monkeypatch.setattr(models.training.loop, "train", spy)
    open_and_wait(qtbot, window, resumed)
    window.train_panel.device.setCurrentText("cpu")
    finished: list = []
    window.session.finished.connect(finished.append)
    window.train_panel.continue_button.click()
    qtbot.waitUntil(lambda: bool(finished) or window.last_error is not None, timeout=15_000)
    assert window.last_error is None, window.last_error
    from_window = seen.pop()
    if not from_window["into_run"]:  # a branch: the window makes a fresh folder among its runs
        assert from_window["run_dir"].parent == settings.runs_dir()

    branch = tmp_path / "branch"
    if which == "older best":  # the CLI asks where the branch goes, the window chose a new folder
        assert main(["train", "--resume", str(resumed), "--steps", "1"]) == 2
        assert "--out" in capsys.readouterr().err and not seen
        assert main(["train", "--resume", str(resumed), "--steps", "1", "--out", str(branch)]) == 0
    else:
        assert main(["train", "--resume", str(resumed), "--steps", "1"]) == 0
    from_cli = seen.pop()
    assert from_cli["run_dir"] == (branch if which == "older best" else run)

    for door in (from_window, from_cli):
        door.pop("run_dir")
    assert from_window == from_cli
    assert from_window["into_run"] is (which != "older best")
    assert from_window["start_step"] == {"older best": 20, "rgb folder latest": 12}.get(which, 30)
    # moments carry on from the run's latest exactly when the step is latest's (3 steps in the file)
    assert from_window["moments"] == (None if which == "older best" else {"model": [3.0]})
    if which == "rgb folder latest":
        assert from_window["data"][:2] == ("folder", (3, 16, 16))


def test_session_coalesces_metrics_and_stops(qtbot, tiny_dataset, tmp_path):
    session = TrainingSession(lambda name, data_dir=None, **kw: tiny_dataset)
    batches: list = []
    order: list[str] = []  # "metrics" or the stepper's name, as the signals came
    session.metrics.connect(batches.append)
    session.metrics.connect(lambda _: order.append("metrics"))
    session.stepper.connect(order.append)
    request = TrainRequest("vae", "tiny", None, {"latent_dim": 2, "hidden": 16},
                           TrainConfig(epochs=2000, batch_size=20, device="cpu"), runs_root=tmp_path)
    t_start = time.monotonic()  # before the worker can emit anything: the rate is over the whole run
    with qtbot.waitSignal(session.started, timeout=10_000) as started:
        session.start(request)
    info = started.args[0]
    assert info.run_dir.parent == tmp_path and info.total_steps == 20_000
    assert torch.get_num_threads() == 1  # the GUI thread leaves the other core to training
    with pytest.raises(RuntimeError):
        session.start(request)  # one run at a time
    qtbot.waitUntil(lambda: sum(len(b) for b in batches) >= 10, timeout=15_000)
    # the step train() built is told once, before the first metrics: eager on the CPU
    assert order[0] == "eager" and order.count("eager") == 1 and session.stepper_name == "eager"
    t0 = time.monotonic()
    with qtbot.waitSignal(session.finished, timeout=5000) as finished:
        session.stop()
    assert time.monotonic() - t0 < 2.0
    assert finished.args[0].event == "stopped"
    assert finished.args[0].weights is not None  # the window asks for CPU weight copies: it explores them live
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
