"""Undo and redo of the latent point (Edit > Undo / Redo).

:class:`LatentHistory` listens to :attr:`LatentState.edited <explorer.state.LatentState.edited>`,
which the state emits for every change a user makes (a slider, Random, Zero, Encode, a map
click, Paste, a keyframe, a drawing, a projection) just before the change itself, carrying
the point as it was. The history keeps those points, newest last, at most ``max_depth``
of them, and :meth:`~LatentHistory.undo` / :meth:`~LatentHistory.redo` move between them.

What is one step:

* a **gesture**: every change between ``LatentState.begin_gesture()`` and ``end_gesture()``
  (a slider press..release: dragging through 200 values is one step);
* a **merge** run: consecutive edits with the same :class:`Merge` key, each within
  ``within_s`` of the one before (wheel notches over one slider in quick succession), or
  with ``within_s=None`` however far apart, as long as no other edit comes between (the
  frames of a path being played: Undo goes back to where the point was before Play);
* anything else: one step per edit.

What is never recorded: the history's own undo/redo (they set the point with
``edit=False``), changes that leave the point as it was, and anything that is not a change
of the point: training snapshots and a followed run's same-architecture checkpoints only
replace the weights (``ModelState.weights_updated``) and the Timeline decodes the point with
old snapshots without moving it, so the point and its history stay. A different model
(``ModelState.model_changed``: opening a file, training, a followed run's new architecture)
clears the history: a point of one model must never be restored into another, even one of
the same shape, whose dimensions mean something else. The check holds whichever of the
window's slots hears of the model change first: a point last seen under an older model
generation is never recorded (so the reset to the new model's origin is not a step).

No widget code here: the window makes the Undo / Redo actions and follows :attr:`changed`.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:  # state.py imports Edit and Merge from here
    from .state import LatentState, ModelState

#: steps kept; the oldest go first
MAX_DEPTH = 200
#: nudges of one control closer together than this are one step (a turning wheel sends
#: notches 10-30 a second, separate flicks a few: both merge; a pause to look at the image
#: starts a new step)
NUDGE_S = 0.75


@dataclass(frozen=True)
class Merge:
    """Consecutive edits with equal ``key`` are one step while each comes within ``within_s``
    seconds of the one before (None: at any distance, until some other edit comes between)."""

    key: Hashable
    within_s: float | None = NUDGE_S


@dataclass(frozen=True)
class Edit:
    """A user's change of the latent point, as ``LatentState.edited`` announces it."""

    before: np.ndarray  # (input_dim_before,) float32: the point it replaces
    after: np.ndarray  # (input_dim,) float32
    merge: Merge | None = None
    gesture: int | None = None  # serial of the gesture it belongs to (None: outside one)


@dataclass
class _Step:
    """One undo step: the point to go back to, and what later edits may merge into it."""

    before: np.ndarray
    merge: Merge | None
    gesture: int | None
    last_s: float  # clock time of its newest edit


class LatentHistory(QObject):
    """The undo/redo stacks of one window's latent point."""

    #: ``can_undo`` or ``can_redo`` may have changed (the Undo / Redo actions follow it)
    changed = Signal()

    def __init__(self, model_state: "ModelState", latent_state: "LatentState", parent: QObject | None = None, *,
                 max_depth: int = MAX_DEPTH, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.model_state, self.latent_state = model_state, latent_state
        self.clock = clock
        self._undo: deque[_Step] = deque(maxlen=max(1, max_depth))
        self._redo: list[np.ndarray] = []
        #: whether the next edit may merge into the newest step (never after an undo or redo)
        self._open = False
        #: the model generation under which the point was last seen
        self._seen_generation = model_state.generation
        latent_state.edited.connect(self._on_edited)
        latent_state.changed.connect(self._on_point_changed)
        model_state.model_changed.connect(self._on_model_changed)

    # -- what the actions read -----------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def depth(self) -> int:
        """Steps that Undo can go back."""
        return len(self._undo)

    # -- undo / redo ---------------------------------------------------------------------
    def undo(self) -> bool:
        """Back to the point before the newest step; False when there is none."""
        if not self._undo or not self._fits(self._undo[-1].before):
            self.clear()
            return False
        step = self._undo.pop()
        self._redo.append(self.latent_state.flat)
        self._restore(step.before)
        return True

    def redo(self) -> bool:
        """Forward again to the point the newest undo left; False when there is none."""
        if not self._redo or not self._fits(self._redo[-1]):
            self.clear()
            return False
        point = self._redo.pop()
        self._undo.append(_Step(self.latent_state.flat, None, None, self.clock()))
        self._restore(point)
        return True

    def clear(self) -> None:
        had = self.can_undo or self.can_redo
        self._undo.clear()
        self._redo.clear()
        self._open = False
        if had:
            self.changed.emit()

    def _restore(self, point: np.ndarray) -> None:
        self._open = False
        self.latent_state.set_flat(point, edit=False)  # not an edit: never recorded
        self.changed.emit()

    def _fits(self, point: np.ndarray) -> bool:
        spec = self.latent_state.spec
        return (spec is not None and point.shape == (spec.input_dim,)
                and self._seen_generation == self.model_state.generation)

    # -- recording -----------------------------------------------------------------------
    def _on_model_changed(self, _model: object) -> None:
        self.clear()

    def _on_point_changed(self, _flat: object) -> None:
        self._seen_generation = self.model_state.generation

    def _on_edited(self, edit: Edit) -> None:
        if self._seen_generation != self.model_state.generation:
            # the point it replaces belongs to an older model (the reset that follows a model change)
            self.clear()
            return
        if not self._fits(edit.before) or edit.before.shape != edit.after.shape:
            return
        if np.array_equal(edit.before, edit.after):
            return  # nothing moved (Encode of the image already shown)
        now = self.clock()
        top = self._undo[-1] if self._open and self._undo else None
        if top is not None and self._merges(top, edit, now):
            top.last_s = now
            return
        was_empty = not self._undo
        had_redo = bool(self._redo)
        self._undo.append(_Step(np.array(edit.before, np.float32), edit.merge, edit.gesture, now))
        self._redo.clear()  # a new edit after an undo drops the undone branch
        self._open = True
        if was_empty or had_redo:
            self.changed.emit()

    @staticmethod
    def _merges(top: _Step, edit: Edit, now: float) -> bool:
        if edit.gesture is not None or top.gesture is not None:
            return edit.gesture == top.gesture  # a gesture never merges with what is outside it
        if edit.merge is None or top.merge is None or edit.merge.key != top.merge.key:
            return False
        within = edit.merge.within_s
        return within is None or now - top.last_s <= within
