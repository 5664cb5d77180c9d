"""The Timeline panel's views through its widgets: "Show: Path" decodes the Paths panel's path
as a strip with the chosen snapshot, "Show: Traversal" a traversal grid around the point
whose rows stay the same dims through training; two snapshots give two different images,
the newest view asked for is the one shown."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.panels.paths import PathsPanel
from explorer.panels.timeline_panel import NO_PATH, TimelinePanel
from explorer.state import LatentState, ModelState
from models.explore.render import render_frames, strip
from models.explore.timeline import TRAVERSAL_ROWS, TRAVERSAL_STEPS, VIEW_PATH, VIEW_TRAVERSAL, traversal_dims
from models.families.registry import build_model
from models.io.images import grid
from models.explore.render import decode_batched
from models.explore.traversal import traversal_latents
from models.runs.checkpoint import load_checkpoint
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train

#: a 10-d latent: more z dims than the traversal view's rows, so they are ranked
LATENT = 10


@pytest.fixture
def run(tmp_path, tiny_dataset) -> RunDir:
    """A tiny VAE run with snapshots at steps 1, 2, 4, 8 and 12."""
    run = RunDir(tmp_path / "vae-run")
    cfg = TrainConfig(steps=12, batch_size=16, log_every=12, snapshot_every=4, validation_size=16, device="cpu")
    for _ in train(build_model("vae", latent_dim=LATENT, hidden=16), tiny_dataset, cfg, run=run):
        pass
    return run


@pytest.fixture
def panels(qtbot, run):
    """The run's latest checkpoint open (as File > Open leaves it), a Paths and a Timeline
    panel on the window's states, wired as the window wires them, both shown."""
    ms, ls = ModelState(), LatentState()
    ckpt = load_checkpoint(run.latest)
    ms.set_model(ckpt.model, ckpt.path, ckpt.train_state)
    ls.reset(ckpt.model.latent_spec)
    ls.set_flat(np.linspace(-1.5, 1.5, LATENT).astype(np.float32))
    paths = PathsPanel(ms, ls, lambda: None)
    timeline = TimelinePanel(ms, ls, lambda: None)
    timeline.set_path_source(paths.path, paths.keyframe_list.changed)
    for panel in (paths, timeline):
        qtbot.addWidget(panel)
        panel.resize(480, 420)
        panel.show()
        qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: len(timeline.state.snapshots) == 5 and not timeline.jobs.busy, timeout=8000)
    return ckpt.model, ls, paths, timeline


def _choose(timeline, view: str) -> None:
    timeline.show_view.setCurrentIndex(timeline.show_view.findData(view))


def _shown(qtbot, timeline, after: int) -> np.ndarray:
    qtbot.waitUntil(lambda: timeline.view.images_set > after and not timeline.jobs.busy, timeout=8000)
    return timeline.view.image.copy()


def _grey(frame: np.ndarray) -> np.ndarray:
    return frame[..., 0] if frame.shape[2] == 1 else frame


def test_show_path_decodes_the_paths_panels_path_with_each_snapshot(qtbot, panels):
    model, _, paths, timeline = panels
    _choose(timeline, VIEW_PATH)
    assert timeline.view.image is None and timeline.view.hint.text() == NO_PATH
    before = timeline.view.images_set
    paths.add_random_btn.click()
    paths.add_random_btn.click()  # two keyframes: a path, and the timeline shows it at once
    newest = _shown(qtbot, timeline, before)
    frames = 13  # one segment: 13 frames, both keyframes among them
    assert newest.shape == (28 + 4, frames * 30 + 2)
    # the newest snapshot is the run's last step: the path as the open model renders it
    np.testing.assert_array_equal(newest, _grey(strip(render_frames(model, paths.path(), frames))))

    before = timeline.view.images_set
    timeline.slider.setValue(0)  # step 1
    first = _shown(qtbot, timeline, before)
    assert first.shape == newest.shape and not np.array_equal(first, newest)

    before = timeline.view.images_set
    paths.add_random_btn.click()  # the path changed: decoded again with the same snapshot
    longer = _shown(qtbot, timeline, before)
    assert longer.shape == (32, frames * 30 + 2) and not np.array_equal(longer, first)
    assert timeline.state.current.step == 1
    timeline.shutdown()
    paths.shutdown()


def test_show_traversal_keeps_its_rows_through_training(qtbot, panels):
    model, ls, _, timeline = panels
    before = timeline.view.images_set
    _choose(timeline, VIEW_TRAVERSAL)
    newest = _shown(qtbot, timeline, before)
    assert newest.shape == (TRAVERSAL_ROWS * 30 + 2, TRAVERSAL_STEPS * 30 + 2)
    # rows: the dims that change the newest snapshot's (= the open model's) image most at the point
    dims = traversal_dims(model, ls.flat)
    assert timeline.message.text().startswith("Traversal rows: " + ", ".join(f"z{d}" for d in dims) + " ")
    flat, ncol = traversal_latents(model, list(dims), TRAVERSAL_STEPS, around=ls.flat)
    np.testing.assert_array_equal(newest, _grey(grid(decode_batched(model, flat), ncol=ncol)))

    before = timeline.view.images_set
    timeline.slider.setValue(1)  # step 2: another snapshot, the same rows
    early = _shown(qtbot, timeline, before)
    assert early.shape == newest.shape and not np.array_equal(early, newest)
    assert timeline.message.text().startswith("Traversal rows: " + ", ".join(f"z{d}" for d in dims) + " ")

    # back to Point and to Traversal: the frames kept for this point are shown, nothing decoded
    _choose(timeline, "point")
    qtbot.waitUntil(lambda: not timeline.jobs.busy and timeline.view.image.shape == (28, 28), timeout=8000)
    _choose(timeline, VIEW_TRAVERSAL)
    assert not timeline.jobs.busy
    np.testing.assert_array_equal(timeline.view.image, early)
    timeline.grab().save("/tmp/panel_timeline_traversal.png")
    timeline.shutdown()


def test_the_newest_view_asked_for_is_the_one_shown(qtbot, panels):
    _, _, paths, timeline = panels
    paths.add_random_btn.click()
    paths.add_random_btn.click()
    timeline.slider.setValue(2)
    _choose(timeline, VIEW_TRAVERSAL)
    _choose(timeline, VIEW_PATH)  # asked for before the traversal could be shown
    qtbot.waitUntil(lambda: not timeline.jobs.busy, timeout=8000)
    assert timeline.view.image.shape == (32, 13 * 30 + 2) and timeline.state.current.step == 4
    timeline.shutdown()
    paths.shutdown()
