"""Undo / redo of the latent point in the window: a slider drag is one step, Random, Zero
and Paste are steps, Redo re-applies, a new edit drops the redo branch, key nudges merge
while they come fast, and a model change empties the history."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QWheelEvent
from PySide6.QtWidgets import QApplication, QStyle
from torch import nn

from explorer.latent_clipboard import point_to_text
from explorer.latent_history import MAX_DEPTH, LatentHistory
from explorer.state import LatentState, ModelState
from models.families.base import LatentModel, ModelConfig
from models.latent import LatentSpec


class TinyGenerator(LatentModel):
    """A decoder-only model of any spec (no training, decodes in microseconds)."""

    family = "tiny-gan"

    def __init__(self, spec: LatentSpec) -> None:
        super().__init__(ModelConfig(image_shape=(1, 4, 4)))
        self._spec = spec
        self.net = nn.Linear(spec.input_dim, 16)

    @property
    def latent_spec(self) -> LatentSpec:
        return self._spec

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(latent)).view(-1, 1, 4, 4)


SPEC = LatentSpec(z_dim=4, has_encoder=False)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def wire_undo(window, clock=None) -> LatentHistory:
    """The Undo / Redo wiring the window gets (Edit > Undo, Ctrl+Z; Edit > Redo,
    Ctrl+Shift+Z; enabled while there is something to undo / redo) and the gestures of the
    latent panel's rows. Uses the window's own where it already has them."""
    history = getattr(window, "latent_history", None)
    if history is None:
        history = window.latent_history = LatentHistory(window.model_state, window.latent_state, window)
    if clock is not None:
        history.clock = clock
    if getattr(window, "undo_action", None) is None:
        for name, text, key, slot, can in (("undo_action", "&Undo", QKeySequence.StandardKey.Undo, history.undo,
                                            lambda: history.can_undo),
                                           ("redo_action", "&Redo", "Ctrl+Shift+Z", history.redo,
                                            lambda: history.can_redo)):
            action = QAction(text, window)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _checked=False, slot=slot: slot())
            action.setEnabled(can())
            history.changed.connect(lambda action=action, can=can: action.setEnabled(can()))
            window.addAction(action)
            setattr(window, name, action)
    wire_gestures(window)
    return history


def wire_gestures(window) -> None:
    """Each slider row tells LatentState when it is pressed and released (the panel's line)."""
    for row in window.latent_panel.z_rows + window.latent_panel.code_rows:
        if row.gesture_target is None:
            row.send_gestures_to(window.latent_state)


def open_model(window, spec: LatentSpec = SPEC) -> TinyGenerator:
    model = TinyGenerator(spec)
    window.model_state.set_model(model)
    wire_gestures(window)  # the rows are new
    # the start point of a model without an encoder is the draw of seed 0: Random starts further on
    window.latent_panel.seed.setValue(1)
    return model


def wheel(slider, notches: int = 1) -> None:
    """Turn the mouse wheel over a slider (a nudge: no press)."""
    p = QPointF(slider.rect().center())
    event = QWheelEvent(p, QPointF(slider.mapToGlobal(p.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(slider, event)


def handle_center(row) -> QPoint:
    """Where the slider's handle is drawn, in the inner slider's coordinates."""
    inner = row.slider._slider
    rect = inner.style().subControlRect(QStyle.ComplexControl.CC_Slider, inner._styleOption,
                                        QStyle.SubControl.SC_SliderHandle, inner)
    return rect.center()


def drag(qtbot, row, dx_steps: list[int], clock: Clock | None = None) -> list[float]:
    """Press the slider's handle, move it by each offset (pixels from the press), release;
    returns the slider's values after each move. ``clock``: moved on 2 s per move (a slow
    drag, with pauses longer than nudges merge over)."""
    inner = row.slider._slider
    start = handle_center(row)
    qtbot.mousePress(inner, Qt.MouseButton.LeftButton, pos=start)
    values = []
    for dx in dx_steps:
        if clock is not None:
            clock.now += 2.0
        qtbot.mouseMove(inner, start + QPoint(dx, 0))
        values.append(row.slider.value())
    qtbot.mouseRelease(inner, Qt.MouseButton.LeftButton, pos=start + QPoint(dx_steps[-1], 0))
    return values


def ctrl_z(qtbot, window, shift: bool = False) -> None:
    mods = Qt.KeyboardModifier.ControlModifier | (Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier)
    qtbot.keyClick(window, Qt.Key.Key_Z, mods)


def test_a_slider_drag_is_one_undo_step_and_redo_brings_it_back(qtbot, window):
    clock = Clock()
    history = wire_undo(window, clock)
    open_model(window)
    window.resize(1200, 800)
    row = window.latent_panel.z_rows[1]
    qtbot.waitExposed(window)
    before = window.latent_state.flat
    assert not window.undo_action.isEnabled() and not window.redo_action.isEnabled()

    values = drag(qtbot, row, [-4, 8, 16, 24, 32], clock)
    assert len(set(values)) >= 4, f"the drag should pass through several values: {values}"
    after = window.latent_state.flat
    assert after[1] == pytest.approx(values[-1]) and after[1] != before[1]
    assert history.depth == 1  # one step for the whole press..release
    assert window.undo_action.isEnabled()

    ctrl_z(qtbot, window)
    np.testing.assert_array_equal(window.latent_state.flat, before)
    assert row.slider.value() == pytest.approx(before[1], abs=1e-6)  # the slider shows it
    assert not window.undo_action.isEnabled() and window.redo_action.isEnabled()

    ctrl_z(qtbot, window, shift=True)  # Ctrl+Shift+Z: redo
    np.testing.assert_array_equal(window.latent_state.flat, after)
    assert row.slider.value() == pytest.approx(after[1], abs=1e-6)
    assert window.undo_action.isEnabled() and not window.redo_action.isEnabled()

    # a second drag is a second step
    drag(qtbot, row, [-10, -20], clock)
    assert history.depth == 2
    ctrl_z(qtbot, window)
    np.testing.assert_array_equal(window.latent_state.flat, after)


def test_random_zero_and_paste_undo_in_order_and_a_new_edit_drops_redo(qtbot, window):
    history = wire_undo(window)
    open_model(window)
    panel = window.latent_panel
    origin = window.latent_state.flat
    qtbot.mouseClick(panel.random_button, Qt.MouseButton.LeftButton)
    first = window.latent_state.flat
    assert not np.array_equal(first, origin)
    pasted = np.array([0.5, -0.25, 1.0, 2.0], np.float32)
    QGuiApplication.clipboard().setText(point_to_text(pasted))
    window.paste_point()
    np.testing.assert_allclose(window.latent_state.flat, pasted)
    qtbot.mouseClick(panel.zero_button, Qt.MouseButton.LeftButton)
    zeroed = window.latent_state.flat
    assert history.depth == 3

    window.undo_action.trigger()
    np.testing.assert_allclose(window.latent_state.flat, pasted)
    window.undo_action.trigger()
    np.testing.assert_array_equal(window.latent_state.flat, first)
    window.redo_action.trigger()  # re-applies the paste
    np.testing.assert_allclose(window.latent_state.flat, pasted)
    window.undo_action.trigger()
    np.testing.assert_array_equal(window.latent_state.flat, first)
    assert history.can_redo

    # a new edit after undoing: the undone branch (paste, zero) is gone
    qtbot.mouseClick(panel.random_button, Qt.MouseButton.LeftButton)
    second = window.latent_state.flat
    assert not history.can_redo and not window.redo_action.isEnabled()
    window.redo_action.trigger()  # disabled: nothing happens
    np.testing.assert_array_equal(window.latent_state.flat, second)
    window.undo_action.trigger()
    np.testing.assert_array_equal(window.latent_state.flat, first)
    window.undo_action.trigger()
    np.testing.assert_array_equal(window.latent_state.flat, origin)
    assert not window.undo_action.isEnabled()
    assert not np.array_equal(zeroed, second)


def test_wheel_nudges_merge_while_they_come_fast(qtbot, window):
    clock = Clock()
    history = wire_undo(window, clock)
    open_model(window)
    inner = window.latent_panel.z_rows[0].slider._slider
    before = window.latent_state.flat
    for _ in range(3):  # three notches a tenth of a second apart: one step
        wheel(inner)
        clock.now += 0.1
    nudged = window.latent_state.flat
    assert nudged[0] > before[0]
    assert history.depth == 1
    clock.now += 5.0  # a pause, then another notch: a step of its own
    wheel(inner)
    assert history.depth == 2
    history.undo()
    np.testing.assert_array_equal(window.latent_state.flat, nudged)
    history.undo()
    np.testing.assert_array_equal(window.latent_state.flat, before)


def test_a_model_change_empties_the_history_even_for_the_same_shape(qtbot, window):
    history = wire_undo(window)
    open_model(window)
    qtbot.mouseClick(window.latent_panel.random_button, Qt.MouseButton.LeftButton)
    assert window.undo_action.isEnabled()

    # new weights of the same model (training, a followed run) keep the point and its history
    model = window.model_state.model
    window.model_state.load_weights({k: v + 0.1 for k, v in model.state_dict().items()})
    assert history.can_undo

    open_model(window)  # another model of the same shape: its point must not be the old one's
    here = window.latent_state.flat
    assert not history.can_undo and not history.can_redo
    assert not window.undo_action.isEnabled()
    ctrl_z(qtbot, window)
    np.testing.assert_array_equal(window.latent_state.flat, here)

    open_model(window, LatentSpec(z_dim=7, has_encoder=False))  # another shape
    qtbot.mouseClick(window.latent_panel.random_button, Qt.MouseButton.LeftButton)
    history.undo()
    assert window.latent_state.flat.shape == (7,)
    window.model_state.set_model(None)
    assert not history.can_undo and not window.undo_action.isEnabled()


def test_history_that_hears_of_the_model_change_first_still_drops_the_old_point(qtbot):
    """Whatever order the slots run in: the reset after a model change is never an undo step."""
    models, latent = ModelState(), LatentState()
    history = LatentHistory(models, latent)  # connected before the reset below
    models.model_changed.connect(lambda m: latent.reset(m.latent_spec if m is not None else None))
    models.set_model(TinyGenerator(SPEC))
    latent.set_z(0, 1.5)
    assert history.can_undo
    models.set_model(TinyGenerator(SPEC))  # same shape, other model
    assert not history.can_undo
    latent.set_z(0, -1.0)  # the first edit of the new model is recorded
    assert history.depth == 1
    history.undo()
    assert latent.flat[0] != 1.5  # the old model's point never comes back


def test_what_is_not_an_edit_is_not_recorded_and_the_depth_is_bounded(qtbot):
    models, latent = ModelState(), LatentState()
    models.model_changed.connect(lambda m: latent.reset(m.latent_spec))
    clock = Clock()
    history = LatentHistory(models, latent, clock=clock)
    models.set_model(TinyGenerator(SPEC))
    origin = latent.flat
    latent.set_flat(np.ones(4), edit=False)  # not a user's edit: nothing to undo
    assert not history.can_undo
    latent.set_flat(np.ones(4))  # the same point again: nothing moved
    assert not history.can_undo

    # undo's own changes are not recorded: two undos go back two steps, not back and forth
    latent.set_flat(np.full(4, 2.0))
    latent.set_flat(np.full(4, 3.0))
    history.undo()
    history.undo()
    np.testing.assert_array_equal(latent.flat, np.ones(4))
    assert not history.can_undo and history.can_redo

    # a gesture is one step however long, and a nudge right after it is a step of its own
    latent.begin_gesture()
    for v in np.linspace(-1, 1, 50):
        latent.set_z(2, float(v))
    latent.end_gesture()
    latent.set_z(2, 0.5)
    assert history.depth == 2
    assert not history.can_redo

    for i in range(MAX_DEPTH + 20):
        clock.now += 10.0  # each edit far from the last: no merging
        latent.set_flat(np.full(4, float(i)))
    assert history.depth == MAX_DEPTH
    while history.undo():
        pass
    np.testing.assert_array_equal(latent.flat, np.full(4, 19.0))  # the 20 oldest steps are gone
    assert not np.array_equal(latent.flat, origin)


def test_a_path_playing_is_one_step_with_an_endless_merge(qtbot):
    """Paths playback hands each frame to ``set_flat(frame, merge=Merge("path playback", None))``:
    however long it plays, and played again after a pause, Undo returns to where the point
    was before Play; any other edit between two plays starts a new step."""
    from functools import partial

    from explorer.latent_history import Merge
    from explorer.panels.paths.playback import PathPlayback

    models, latent = ModelState(), LatentState()
    models.model_changed.connect(lambda m: latent.reset(m.latent_spec))
    clock = Clock()
    history = LatentHistory(models, latent, clock=clock)
    models.set_model(TinyGenerator(SPEC))
    latent.set_flat(np.full(4, -1.0))
    start = latent.flat
    frames = np.linspace(0.0, 1.0, 8)[:, None].repeat(4, axis=1).astype(np.float32)
    playback = PathPlayback(lambda: frames, partial(latent.set_flat, merge=Merge("path playback", None)))
    qtbot.addWidget(playback)
    playback.set_frame_count(len(frames), True)
    playback.loop.setChecked(False)
    playback.fps.setValue(60.0)
    for _ in range(2):  # played to the end twice, minutes apart
        playback.play()
        qtbot.waitUntil(lambda: not playback.playing, timeout=3000)
        clock.now += 120.0
    np.testing.assert_array_equal(latent.flat, frames[-1])
    assert history.depth == 2  # the first set_flat above, then the whole playing
    history.undo()
    np.testing.assert_array_equal(latent.flat, start)
    history.redo()
    latent.set_z(0, 0.5)  # an edit of its own ends the run: the next playing is a new step
    playback.play()
    qtbot.waitUntil(lambda: not playback.playing, timeout=3000)
    assert history.depth == 4
