"""The window following a run that another process is writing (File > Follow Run…,
``latent-explorer gui --follow RUN``): with a real training process writing the folder, the
curves grow while it runs, the newest sample grid shows, the sliders' model ends with the
run's final weights (copied in place: the latent point stays) and the status bar says the
run finished; Stop following takes the bar away and leaves nothing running; opening another
model or training in the window ends following."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from PySide6.QtWidgets import QToolBar

from explorer.window import follow_mode
from models.families.registry import build_model
from models.runs.checkpoint import load_checkpoint
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train

ROOT = Path(__file__).resolve().parents[3]

#: a training process at a walking pace (so the window sees it mid-run): tiny VAE, tiny data
WRITER = """
import sys, time, torch
from models.data.base import Dataset, TensorSplit
from models.families.registry import build_model
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train
torch.set_num_threads(1)
out, steps, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
g = torch.Generator().manual_seed(0)
imgs = (torch.rand(250, 1, 28, 28, generator=g) > 0.7).to(torch.uint8) * 255
labels = torch.randint(0, 10, (250,), generator=g)
data = Dataset("tiny", TensorSplit(imgs[:200], labels[:200]), TensorSplit(imgs[200:], labels[200:]))
cfg = TrainConfig(steps=steps, batch_size=16, log_every=1, snapshot_every=5, checkpoint_every=5,
                  validation_size=16, device="cpu")
for m in train(build_model("vae", latent_dim=2, hidden=16), data, cfg, run=RunDir(out)):
    time.sleep(pause)
"""


def _writer(out: Path, steps: int, pause: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(steps), str(pause)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finished_run(path: Path, tiny_dataset) -> Path:
    list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset,
               TrainConfig(steps=4, batch_size=20, log_every=2, snapshot_every=2, checkpoint_every=2, device="cpu"),
               run=RunDir(path)))
    return path


def _follow_toolbars(window) -> list[QToolBar]:
    return [t for t in window.findChildren(QToolBar) if t.objectName() == "toolbar_follow" and not t.isHidden()]


def test_a_run_written_by_another_process_is_followed_live(qtbot, window, tmp_path):
    window.resize(1366, 768)
    out = tmp_path / "gpu-box-run"  # not there yet: the window waits for it
    follower = window.follow.follow(out, poll_ms=100, debounce_ms=20)
    bar = window.follow.bar
    assert follower is not None and follower.running and bar is not None
    assert _follow_toolbars(window) and not window.follow.status_label.isHidden()
    view = window.training_view
    proc = _writer(out, steps=20, pause=0.08)
    try:
        qtbot.waitUntil(lambda: window.model_state.model is not None, timeout=60_000)  # the first checkpoint
        assert proc.poll() is None, "the window should see the run while it is being written"
        model = window.model_state.model
        assert model.latent_spec.z_dim == 2 and len(window.latent_panel.z_rows) == 2
        window.latent_panel.z_rows[1].slider.setValue(1.5)
        qtbot.waitUntil(lambda: view.point_count() > 0 and view.samples.updates > 0, timeout=20_000)
        assert proc.poll() is None
        points, images = view.point_count(), window.image_view.images_set
        assert view.samples.label.text == "Samples (newest grid)"
        assert window.follow.status_label.text().startswith("gpu-box-run: following (last update")
        qtbot.wait(150)  # a curve redraw
        window.grab().save(str(tmp_path / "following.png"))
        if os.environ.get("LATENT_EXPLORER_FOLLOW_SCREENSHOT"):
            window.grab().save(os.environ["LATENT_EXPLORER_FOLLOW_SCREENSHOT"])
        bar.auto_reload.click()  # from now on every new checkpoint goes into the sliders
        assert follower.auto_reload
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
        assert proc.returncode == 0, proc.stdout.read().decode()
        qtbot.waitUntil(lambda: window.follow.status_label.text().endswith("run finished (step 20)")
                        and follower.loaded_step == 20, timeout=15_000)
    finally:
        proc.kill()
        proc.wait()
    run = RunDir(out)
    qtbot.waitUntil(lambda: view.history_records == len(run.read_metrics()), timeout=5000)
    assert view.point_count() > points
    assert "gpu-box-run: 20 logs up to step 20" in view.summary.text()
    # the final weights, copied into the same model: the sliders and the point stayed
    assert window.model_state.model is model and window.latent_state.flat[1] == 1.5
    final = load_checkpoint(run.latest).model.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, final[k]), k
    assert window.image_view.images_set > images  # the new weights were decoded
    assert window.model_state.source == run.latest and "latest.safetensors" in window.windowTitle()
    assert bar.checkpoint.text() == "showing the newest checkpoint (step 20)"


def test_follow_run_through_the_menu_and_stop_following(qtbot, window, tiny_dataset, tmp_path, monkeypatch):
    run = _finished_run(tmp_path / "done-run", tiny_dataset)
    asked = []
    monkeypatch.setattr(follow_mode, "ask_followed_run", lambda parent, start: asked.append(start) or str(run))
    assert window.follow_run_action.isEnabled()
    window.follow_run_action.trigger()
    assert asked and window.follow.following
    follower = window.follow.follower
    qtbot.waitUntil(lambda: window.model_state.model is not None and follower.loaded_step == 4, timeout=10_000)
    qtbot.waitUntil(lambda: window.follow.status_label.text() == "done-run: run finished (step 4)", timeout=10_000)
    assert window.training_view.history_records == 2 and window.training_view.samples.updates > 0
    window.follow.bar.stop.click()
    assert not window.follow.following and not follower.running
    assert _follow_toolbars(window) == [] and window.follow.status_label.isHidden()
    assert window.statusBar().currentMessage() == "Stopped following done-run"
    assert window.model_state.model is not None  # the model stays open
    monkeypatch.setattr(follow_mode, "ask_followed_run", lambda parent, start: None)  # cancelled: nothing
    window.follow_run_action.trigger()
    assert not window.follow.following


def test_opening_another_model_or_training_ends_following(qtbot, window, tiny_dataset, tmp_path, vae_checkpoint,
                                                          small_vae_form):
    run = _finished_run(tmp_path / "other-run", tiny_dataset)
    follower = window.follow.follow(run, poll_ms=100)
    qtbot.waitUntil(lambda: follower.loaded_step == 4, timeout=10_000)
    with qtbot.waitSignal(window.model_state.model_changed, timeout=10_000):
        assert window.open_path(vae_checkpoint)
    assert not window.follow.following and not follower.running and _follow_toolbars(window) == []
    assert window.model_state.model.latent_spec.z_dim == 5  # what the user opened, not the followed run's

    follower = window.follow.follow(run, poll_ms=100)
    small_vae_form(window.train_panel, latent=3)
    with qtbot.waitSignal(window.session.started, timeout=15_000):
        window.train_panel.train_button.click()
    assert not window.follow.following and not follower.running
    assert not window.follow_run_action.isEnabled()
    with qtbot.waitSignal(window.session.finished, timeout=10_000):
        window.session.stop()


def test_gui_follow_option_reaches_the_window(monkeypatch):
    from explorer import app
    from explorer.cli.entry import main

    called = []
    monkeypatch.setattr(app, "main", lambda paths, follow=None: called.append((paths, follow)) or 0)
    assert main(["gui", "--follow", "runs/x"]) == 0
    assert main(["--follow", "runs/y"]) == 0  # gui is the default command
    assert called == [([], "runs/x"), ([], "runs/y")]
