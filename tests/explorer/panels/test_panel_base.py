"""What every Explore panel gets from ExplorePanel: jobs and timers that stop on shutdown,
dropped images read and encoded one way, and a hint that says why a panel can't work. (That
their messages reach the window's status bar is in tests/explorer/window/test_explore_docks.py.)"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent

from explorer.image_input import encode_images, load_image_file
from explorer.jobs import JobRunner, live_threads
from explorer.panels.base import ExplorePanel
from explorer.panels.compare import ComparePanel
from explorer.panels.draw_pad import DrawPadPanel
from explorer.panels.map import MapPanel
from explorer.panels.paths import PathsPanel
from explorer.panels.projection_panel import ProjectionPanel
from explorer.panels.traversal_panel import TraversalPanel
from models.families.registry import build_model

PANELS = [PathsPanel, ProjectionPanel, DrawPadPanel, TraversalPanel, MapPanel, ComparePanel]


def drop(panel: ExplorePanel, *files) -> None:
    """A real drop event carrying ``files``, delivered to the panel."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    panel.dropEvent(event)


@pytest.fixture
def light_digit(tmp_path):
    """A dark stroke on white: read as the datasets are (light on black), so it is inverted."""
    img = np.full((56, 56), 255, np.uint8)
    img[10:40, 20:30] = 0
    path = tmp_path / "digit.png"
    Image.fromarray(img).save(path)
    return path


@pytest.mark.parametrize("panel_type", PANELS, ids=lambda t: t.__name__)
def test_shutdown_stops_every_job_and_timer_the_panel_owns(qtbot, open_panel, tiny_dataset, panel_type):
    ms, ls, panel = open_panel(panel_type, build_model("vae", latent_dim=2, hidden=16), tiny_dataset, size=(560, 460))
    # every runner a panel has is one it owns (so shutdown reaches it)
    assert set(panel.findChildren(JobRunner)) == set(panel.runners)
    panel.show()
    qtbot.waitExposed(panel)
    # work that outlives a click: a render, an encoding, a projection, an export, a playback
    if isinstance(panel, ProjectionPanel):
        panel.use_test_image(0)
        panel.steps.setValue(20000)
        panel.run()
    elif isinstance(panel, PathsPanel):
        panel.add_random()
        panel.add_random()
        panel.play()
    elif isinstance(panel, ComparePanel):
        panel.add_current()
        panel.play_path(_two_keyframe_path(open_panel, ms.model))
    elif isinstance(panel, MapPanel):
        qtbot.waitUntil(lambda: panel.encoded is not None, timeout=5000)
        ms.load_weights(ms.model.state_dict())  # a training snapshot: the manifold re-renders soon
    elif isinstance(panel, DrawPadPanel):
        panel.canvas.stroke.emit()  # a stroke starts the encode throttle
    qtbot.waitUntil(lambda: any(r.busy for r in panel.runners) or any(t.isActive() for t in panel.timers)
                    or getattr(panel, "playing", False), timeout=2000)
    panel.shutdown()
    assert not any(r.busy and r.thread is not None and r.thread.is_alive() for r in panel.runners)
    assert not any(t.isActive() for t in panel.timers)
    assert not any(t.isActive() for t in panel.findChildren(QTimer) if t.parent() is panel)
    assert not getattr(panel, "playing", False)
    assert not live_threads()


def _two_keyframe_path(open_panel, model):
    _, _, paths = open_panel(PathsPanel, model)
    paths.add_random()
    paths.add_random()
    return paths.path()


def test_a_dropped_image_is_read_and_encoded_the_same_way_everywhere(qtbot, open_panel, tiny_dataset, light_digit,
                                                                     window):
    model = build_model("vae", latent_dim=4, hidden=16)
    x, inverted = load_image_file(str(light_digit), (1, 28, 28))
    assert inverted
    _, _, paths = open_panel(PathsPanel, model, tiny_dataset)
    _, _, projection = open_panel(ProjectionPanel, model, tiny_dataset)
    ms, _, compare = open_panel(ComparePanel, model, tiny_dataset)
    notes = light_digit.with_suffix(".txt")
    notes.write_text("not an image")
    for panel in (paths, projection, compare):
        assert panel.acceptDrops()
        drop(panel, light_digit, notes)  # the text file is no kind any panel takes
    expected = encode_images(ms, x)
    assert [k.label for k in paths.keyframes] == ["digit.png (inverted)"]
    np.testing.assert_array_equal(paths.keyframes[0].flat, expected)
    assert projection.target_name == "digit.png (inverted)"
    torch.testing.assert_close(projection.target, x[0])
    assert [name for name, _ in compare.reconstructions.extra_images] == ["digit.png"]
    torch.testing.assert_close(compare.reconstructions.extra_images[0][1], x[0])
    # the window's own drop (on the main view) encodes it to the same latent
    window.model_state.set_model(model)
    window.handle_dropped([light_digit])
    np.testing.assert_allclose(window.latent_state.flat, expected, rtol=1e-6, atol=1e-6)
    # a panel without a use for dropped files leaves them to the window
    _, _, draw = open_panel(DrawPadPanel, model)
    assert not draw.acceptDrops()


def test_a_panel_says_why_it_cannot_work(qtbot, open_panel, tiny_dataset):
    gan = build_model("gan", z_dim=4, g_hidden=(16,), d_hidden=(16,))
    for panel_type in (DrawPadPanel, MapPanel):
        ms, _, panel = open_panel(panel_type, gan, tiny_dataset)
        assert panel.stack.hinting and f"This {gan.family} model" in panel.stack.hint.text()
        assert panel.unavailable_reason() == panel.NO_ENCODER_HINT.format(family=gan.family)
        ms.set_model(None)
        assert panel.stack.hint.text() == panel.NO_MODEL_HINT
        ms.set_model(build_model("vae", latent_dim=2, hidden=16))
        assert not panel.stack.hinting and panel.unavailable_reason() is None
    ms, _, paths = open_panel(PathsPanel, gan, tiny_dataset)
    assert not paths.stack.hinting  # a path of a GAN's latents needs no encoder
    assert not paths.add_file_btn.isEnabled() and "no encoder" in paths.add_file_btn.toolTip()
    ms.set_model(None)
    assert paths.stack.hinting and paths.stack.hint.text() == PathsPanel.NO_MODEL_HINT
