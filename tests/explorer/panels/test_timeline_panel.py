"""The Timeline panel through its widgets: it lists the open model's run, the slider decodes
the current point with another snapshot, Play walks through them, and a run without
snapshots or a damaged snapshot is said, never a crash."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.panels.timeline_panel import TimelinePanel
from explorer.state import LatentState, ModelState
from models.families.registry import build_model
from models.runs.checkpoint import load_checkpoint
from models.runs.run_dir import RunDir
from models.runs.snapshot_writer import SnapshotWriter
from models.runs.snapshots import snapshot_path
from models.training.loop import TrainConfig, train

STEPS, EVERY = 40, 4
#: the steps of the run's snapshots: 1, 2, then every 4
SNAPSHOTS = [1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
N = len(SNAPSHOTS)


@pytest.fixture
def run(tmp_path, tiny_dataset):
    """A tiny VAE run with 12 snapshots (SNAPSHOTS)."""
    run = RunDir(tmp_path / "vae-run")
    cfg = TrainConfig(steps=STEPS, batch_size=16, log_every=20, snapshot_every=EVERY, validation_size=16, device="cpu")
    for _ in train(build_model("vae", latent_dim=2, hidden=16), tiny_dataset, cfg, run=run):
        pass
    return run


@pytest.fixture
def panel_on(qtbot):
    """``panel_on(run) -> (model_state, latent_state, panel)``: the window's states holding the
    run's latest checkpoint (as File > Open leaves them), the panel shown."""

    def make(run: RunDir):
        ms, ls = ModelState(), LatentState()
        ckpt = load_checkpoint(run.latest)
        ms.set_model(ckpt.model, ckpt.path, ckpt.train_state)
        ls.reset(ckpt.model.latent_spec)
        ls.set_flat(np.array([1.5, -1.0], np.float32))
        panel = TimelinePanel(ms, ls, lambda: None)
        qtbot.addWidget(panel)
        panel.resize(420, 420)
        panel.show()
        qtbot.waitExposed(panel)
        return ms, ls, panel

    return make


def _shown(qtbot, panel, after: int) -> np.ndarray:
    qtbot.waitUntil(lambda: panel.view.images_set > after and not panel.jobs.busy, timeout=5000)
    return panel.view.image.copy()


def test_the_slider_decodes_the_point_with_another_snapshot(qtbot, run, panel_on):
    _, ls, panel = panel_on(run)
    qtbot.waitUntil(lambda: len(panel.state.snapshots) == N, timeout=5000)
    assert [s.step for s in panel.state.snapshots] == SNAPSHOTS
    assert panel.run_label.text() == "vae-run" and f"{N} snapshots" in panel.message.text()
    assert panel.slider.value() == panel.slider.maximum() == N - 1  # the newest: the model that is open
    newest = _shown(qtbot, panel, 0)
    assert "step 40" in panel.step_label.text()

    before = panel.view.images_set
    panel.slider.setValue(0)
    first = _shown(qtbot, panel, before)
    assert "step 1," in panel.step_label.text() and panel.state.current.step == 1
    assert not np.array_equal(first, newest)

    before = panel.view.images_set
    ls.set_flat(np.array([-2.0, 2.0], np.float32))  # another point: decoded with the same snapshot
    assert not np.array_equal(_shown(qtbot, panel, before), first)


def test_play_walks_the_point_through_training(qtbot, run, panel_on):
    _, _, panel = panel_on(run)
    qtbot.waitUntil(lambda: len(panel.state.snapshots) == N, timeout=5000)
    panel.fps.setValue(30)
    seen: list[int] = []
    panel.state.position_changed.connect(seen.append)
    panel.play_btn.click()
    assert panel.playing and panel.play_btn.text() == "‖ Pause"
    qtbot.waitUntil(lambda: len(seen) >= N + 2, timeout=8000)  # past the last and round again
    panel.play_btn.click()
    assert not panel.playing
    assert seen[:N + 2] == [*range(N), 0, 1]  # from the newest it starts over: every one in turn
    assert panel.view.images_set >= N


def test_a_run_without_snapshots_says_so(qtbot, tmp_path, tiny_dataset, panel_on):
    old = RunDir(tmp_path / "old-run")
    cfg = TrainConfig(steps=2, batch_size=16, log_every=1, snapshot_every=0, validation_size=16, device="cpu")
    for _ in train(build_model("vae", latent_dim=2, hidden=16), tiny_dataset, cfg, run=old):
        pass
    _, _, panel = panel_on(old)
    qtbot.waitUntil(lambda: "has no training snapshots" in panel.message.text(), timeout=5000)
    assert "has no training snapshots" in panel.view.hint.text()
    assert not panel.play_btn.isEnabled() and not panel.slider.isEnabled()


def test_a_truncated_snapshot_is_skipped_with_a_message(qtbot, run, panel_on):
    bad = snapshot_path(run.snapshots, 8)
    data = bad.read_bytes()
    bad.write_bytes(data[:-64])
    _, _, panel = panel_on(run)  # listed with it truncated: left out, said
    qtbot.waitUntil(lambda: len(panel.state.snapshots) == N - 1, timeout=5000)
    assert "step_00000008.safetensors" in panel.message.text() and "truncated" in panel.message.text()

    bad.write_bytes(data)
    panel.refresh()
    qtbot.waitUntil(lambda: len(panel.state.snapshots) == N, timeout=5000)
    bad.write_bytes(data[:-64])  # damaged after it was listed: found when decoded, skipped when played
    at = SNAPSHOTS.index(8)
    panel.slider.setValue(at)
    qtbot.waitUntil(lambda: "Skipped step 8" in panel.message.text(), timeout=5000)
    assert "step 8" in panel.view.hint.text()
    panel.slider.setValue(at - 1)
    assert panel.state.next_position() == at + 1



def test_a_run_being_trained_is_listed_again_as_its_snapshots_come(qtbot, run, panel_on):
    ms, _, panel = panel_on(run)
    qtbot.waitUntil(lambda: len(panel.state.snapshots) == N, timeout=5000)
    model = load_checkpoint(run.latest).model
    with SnapshotWriter(run, model, {"train_config": {"batch_size": 16, "log_every": 20}}, every=EVERY) as writer:
        writer.submit(STEPS + EVERY, 1.0, 1.0)
    panel._relist.setInterval(10)  # the window's training snapshots arrive; 2 s in the window
    ms.weights_updated.emit()
    qtbot.waitUntil(lambda: len(panel.state.snapshots) == N + 1, timeout=5000)
    assert panel.state.current.step == STEPS  # it stays on the step it showed


WRITER = """
import sys, torch
from models.data.base import Dataset, TensorSplit
from models.families.registry import build_model
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train
torch.set_num_threads(1)
imgs = (torch.rand(250, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.7).to(torch.uint8) * 255
labels = torch.zeros(250, dtype=torch.long)
ds = Dataset("tiny", TensorSplit(imgs[:200], labels[:200]), TensorSplit(imgs[200:], labels[200:]))
cfg = TrainConfig(steps=400, batch_size=16, log_every=50, snapshot_every=2, validation_size=16, device="cpu")
for _ in train(build_model("vae", latent_dim=2, hidden=16), ds, cfg, run=RunDir(sys.argv[1])):
    pass
"""


def test_a_run_another_process_is_writing_plays_without_a_crash(qtbot, run, panel_on, tmp_path):
    """Listing and decoding while another process writes and thins the snapshots: a snapshot
    thinned away between a listing and its read is listed again, not reported as damage
    (a separate process: ~4 s, most of it its start)."""
    import subprocess
    import sys
    import time

    _, _, panel = panel_on(run)  # the open model's run; the live one is opened beside it
    qtbot.waitUntil(lambda: len(panel.state.snapshots) == N, timeout=5000)
    said: list[str] = []
    panel.status.connect(said.append)
    live = tmp_path / "live"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(live)])
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            panel.load_run(live)
            qtbot.waitUntil(lambda: not panel.list_jobs.busy, timeout=5000)
            panel.state.set_position(len(panel.state.snapshots) - 1)
            qtbot.wait(30)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    panel.refresh()
    qtbot.waitUntil(lambda: not panel.list_jobs.busy and panel.state.run == live, timeout=5000)
    steps = [s.step for s in panel.state.snapshots]
    assert len(steps) == 50 and steps[:3] == [1, 2, 4] and steps[-1] == 400
    # snapshots thinned away between a listing and a read are no damage: nothing to report
    assert not [line for line in said if "Skipped" in line or "Could not" in line]
    assert any("snapshots of live" in line for line in said)
