"""Interpolation paths panel: keyframes, playback through LatentState, GIF and JSON."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explorer.panels.paths import PathsPanel
from explorer.state import LatentState, ModelState
from models.families.registry import build_model


@pytest.fixture
def states():
    model = build_model("vae", latent_dim=4, hidden=16)
    ms, ls = ModelState(), LatentState()
    ms.set_model(model)
    ls.reset(model.latent_spec)  # the main window does this on model_changed
    return ms, ls


@pytest.fixture
def panel(qtbot, states, tiny_dataset):
    ms, ls = states
    p = PathsPanel(ms, ls, lambda: tiny_dataset)
    qtbot.addWidget(p)
    yield p
    p.shutdown()


def test_add_keyframes_and_play_to_the_last(qtbot, panel, states):
    _, ls = states
    panel.add_current()
    panel.add_random()
    panel.add_test_image(3)
    assert [k.label.split()[0] for k in panel.keyframes] == ["current", "random", "test"]
    assert panel.kinds == ["slerp", "slerp"]
    panel.table.cellWidget(0, 1).setCurrentText("linear")  # per-row override
    assert panel.kinds == ["linear", "slerp"]
    panel.frames_per_segment.setValue(4)
    panel.fps.setValue(60.0)
    panel.loop.setChecked(False)
    seen: list[np.ndarray] = []
    ls.changed.connect(seen.append)
    panel.play()
    assert panel.playing
    qtbot.waitUntil(lambda: not panel.playing, timeout=3000)
    assert len(seen) == panel.frame_count() == 9  # every frame shown once, first to last
    assert len({f.tobytes() for f in seen}) == 9  # it moved
    np.testing.assert_array_equal(ls.flat, panel.keyframes[-1].flat)
    np.testing.assert_array_equal(seen[0], panel.keyframes[0].flat)
    # scrubbing shows that frame
    panel.timeline.setValue(4)
    np.testing.assert_array_equal(ls.flat, panel.keyframes[1].flat)


def test_vector_arithmetic_adds_c_plus_a_minus_b_and_goes_there(qtbot, panel, states):
    from PySide6.QtCore import Qt

    _, ls = states
    assert not panel.arith_btn.isEnabled()  # nothing to add up yet
    for _ in range(3):
        panel.add_random()
    a, b, c = (k.flat for k in panel.keyframes)
    assert (panel.arith_a.value(), panel.arith_b.value(), panel.arith_c.value()) == (1, 2, 3)
    qtbot.mouseClick(panel.arith_btn, Qt.MouseButton.LeftButton)
    assert len(panel.keyframes) == 4 and panel.keyframes[-1].label == "1 − 2 + 3"
    np.testing.assert_allclose(panel.keyframes[-1].flat, c + a - b, atol=1e-6)
    np.testing.assert_array_equal(ls.flat, panel.keyframes[-1].flat)  # the sliders went there
    panel.arith_a.setValue(4)  # the new keyframe can take part in the next sum
    panel.arith_b.setValue(9)  # clamped to the keyframes there are
    assert panel.arith_b.value() == 4


def test_gif_export_has_every_frame(qtbot, panel, states, tmp_path):
    ms, _ = states
    spec = ms.spec
    for k in range(3):  # far-apart distinct keyframes: Pillow merges identical frames
        panel.add_keyframe(np.full(spec.input_dim, (k - 1) * 3.0, np.float32), f"k{k}")
    panel.frames_per_segment.setValue(3)
    panel.set_all_kinds("linear")
    panel.export_gif(tmp_path / "walk.gif")
    qtbot.waitUntil(lambda: panel.last_export is not None, timeout=5000)
    with Image.open(tmp_path / "walk.gif") as im:
        assert im.n_frames == 7
        assert im.size == (28, 28)
    panel.export_strip(tmp_path / "walk.png")
    qtbot.waitUntil(lambda: panel.last_export == tmp_path / "walk.png", timeout=5000)
    with Image.open(tmp_path / "walk.png") as im:
        assert im.size == (7 * 30 + 2, 32)


def test_json_round_trip_gives_identical_frames(qtbot, panel, states, tmp_path):
    panel.add_random()
    panel.add_random()
    panel.add_current()
    panel.set_kind(1, "linear")
    before = panel.frames().copy()
    file = panel.save_path_file(tmp_path / "p.json")
    panel.clear()
    assert panel.frames() is None
    assert panel.load_path_file(file)
    qtbot.waitUntil(lambda: len(panel.keyframes) == 3, timeout=5000)  # read in the background
    np.testing.assert_array_equal(panel.frames(), before)
    assert panel.kinds == ["slerp", "linear"]


def test_path_from_another_model_loads_with_a_note(qtbot, panel, states, tmp_path):
    ms, ls = states
    panel.add_random()
    panel.add_random()
    file = panel.save_path_file(tmp_path / "p.json")
    other = build_model("ae", latent_dim=4, hidden=16)
    ms.set_model(other)
    ls.reset(other.latent_spec)
    assert len(panel.keyframes) == 2  # same layout: kept
    assert panel.load_path_file(file)
    qtbot.waitUntil(lambda: "different model" in panel.message.text(), timeout=5000)
    sent = []
    panel.path_ready.connect(sent.append)
    panel.send_to_compare()
    assert len(sent) == 1 and sent[0].dim == 4


def test_screenshot(qtbot, panel):
    panel.add_current()
    panel.add_random()
    panel.add_test_image(0)
    panel.resize(420, 520)
    panel.show()
    qtbot.waitExposed(panel)
    panel.grab().save("/tmp/panel_paths.png")
