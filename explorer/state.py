"""State objects shared by the widgets (napari-style: state here, widgets only wire).

* :class:`ModelState` - the model being explored (loaded or live from training).
* :class:`LatentState` - the point being looked at, as the model's flat latent vector. Every
  change a user makes is also announced as an :class:`~explorer.latent_history.Edit` (for
  undo), grouped into gestures (a slider press..release) and merge runs (nudges).
* :class:`DataState` - the dataset at hand (for encoding test images and per-dim KL).

Widgets never call each other; they read and write these objects and listen to their
signals. A widget that writes a value it also displays updates itself from the signal
with its own signals blocked, so there are no feedback loops.
"""
from __future__ import annotations

import itertools
import threading
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from models.families.base import LatentModel
from models.data.base import Dataset
from models.latent import LatentSpec

from .latent_history import Edit, Merge

#: ``sample_latents(n, generator=...) -> (n, input_dim)``: a model's draws from its prior
SampleLatents = Callable[..., torch.Tensor]


def recorded_step(train_state: dict[str, Any] | None) -> int | None:
    """``train_state["step"]`` when it is a whole number of steps (not a bool, not negative), else None."""
    step = (train_state or {}).get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) and step >= 0 else None


#: factors read from an evaluation's ``factor_dims`` at most (the shapes set has five)
MAX_FACTORS = 64
#: characters of a factor's name kept for its label
MAX_FACTOR_NAME = 40


class ModelState(QObject):
    """The current model. Emits ``model_changed`` when a different model (or a model of a
    different shape) is set, and ``weights_updated`` when only its weights changed (a
    training snapshot), so views re-decode without rebuilding their controls."""

    model_changed = Signal(object)  # LatentModel | None
    weights_updated = Signal()
    kl_changed = Signal(object)  # np.ndarray (z_dim,) | None
    factors_changed = Signal(object)  # {dim: (factor, ...)}
    message = Signal(str)  # user-facing status text

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model: LatentModel | None = None
        self.source: Path | None = None  # checkpoint it came from, when loaded
        self.train_state: dict[str, Any] = {}
        #: mean KL per latent dimension (VAE family), for sorting/greying sliders
        self.kl_per_dim: np.ndarray | None = None
        #: {z dimension: the dataset factors it tells most} from the last evaluation of these
        #: weights (``factor_dims`` of ``eval``), for labelling sliders; {} when not known
        self.factor_dims: dict[int, tuple[str, ...]] = {}
        #: held while the model's weights are read (decoder thread) or written (snapshots),
        #: so a decode never sees half of one snapshot and half of the next
        self.lock = threading.RLock()
        #: bumped on every set_model: results of background jobs started for an older
        #: model (KL, loads) compare it and drop themselves
        self.generation = 0
        self._weights_serial = 0  # bumped by every training snapshot (see weights_stamp)

    @property
    def spec(self) -> LatentSpec | None:
        return self.model.latent_spec if self.model is not None else None

    @property
    def step(self) -> int | None:
        """The training step the model reached, when its training state records a whole
        number of steps (a file may say anything there; the window shows only that)."""
        return recorded_step(self.train_state)

    def set_model(self, model: LatentModel | None, source: Path | None = None,
                  train_state: dict[str, Any] | None = None) -> None:
        if model is not None:
            model = model.to("cpu").eval()  # the explorer decodes on the CPU: one image is microseconds
        with self.lock:
            # a file's training state may be any JSON: only an object of it is kept
            self.train_state = dict(train_state) if isinstance(train_state, Mapping) else {}
            self.model, self.source = model, source
            self.kl_per_dim = None
            self.factor_dims = {}
            self.generation += 1
        self.model_changed.emit(model)

    def set_kl(self, kl: np.ndarray | None, generation: int | None = None) -> None:
        """Per-dimension KL of the current model; ignored when computed for an older one."""
        if generation is not None and generation != self.generation:
            return
        self.kl_per_dim = None if kl is None else np.asarray(kl, np.float64).reshape(-1)
        self.kl_changed.emit(self.kl_per_dim)

    @property
    def weights_stamp(self) -> tuple[int, int]:
        """Which model and which of its weights are shown now: a result computed from them
        (an evaluation) carries it and is dropped when they have changed since."""
        return self.generation, self._weights_serial

    def set_factor_dims(self, per_factor: Mapping[str, Any] | None, stamp: tuple[int, int] | None = None) -> None:
        """The factor each z dimension tells most, from an evaluation's ``factor_dims``
        ({factor: dim or None}); dims outside the model's z are dropped; ignored when the
        evaluation was of other weights (``stamp``, see :attr:`weights_stamp`)."""
        if stamp is not None and stamp != self.weights_stamp:
            return
        z_dim = self.spec.z_dim if self.spec is not None else 0
        dims: dict[int, tuple[str, ...]] = {}
        # a file's eval.json may hold any number of keys: a dataset has a handful of factors
        for factor, dim in itertools.islice((per_factor or {}).items(), MAX_FACTORS):
            name = str(factor).strip()[:MAX_FACTOR_NAME]  # a name, not a file's worth of text
            if name and isinstance(dim, int) and not isinstance(dim, bool) and 0 <= dim < z_dim:
                dims[dim] = (*dims.get(dim, ()), name)
        self.factor_dims = dims
        self.factors_changed.emit(dims)

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Copy a training snapshot into the explored model (same architecture)."""
        if self.model is None:
            return
        with self.lock, torch.no_grad():
            self.model.load_state_dict(weights, strict=True)
            self.model.eval()
        self._weights_serial += 1
        if self.factor_dims:  # evaluated on the weights before: no longer known
            self.set_factor_dims(None)
        self.weights_updated.emit()


class LatentState(QObject):
    """The point being explored: a flat latent vector laid out as the model's LatentSpec.

    ``changed`` follows every change. ``edited`` comes just before it for the changes a user
    made, carrying the point they replace: everything writes through ``set_flat`` /
    ``set_z`` / ``set_code`` / ``set_category`` / ``reset`` and is an edit unless it passes
    ``edit=False`` (the undo history restoring a point). Between ``begin_gesture()`` and
    ``end_gesture()`` (a slider press..release) edits carry the gesture's serial, so a drag
    is one undo step; ``set_z`` nudges of one dimension carry a :class:`Merge` key, so a run
    of wheel notches over a slider (or value-box steps) is one step too."""

    changed = Signal(object)  # np.ndarray (input_dim,) float32
    edited = Signal(object)  # latent_history.Edit, just before ``changed``

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec: LatentSpec | None = None
        self._flat = np.zeros(0, np.float32)
        self._gesture: int | None = None
        self._gesture_serial = 0

    @property
    def flat(self) -> np.ndarray:
        return self._flat.copy()

    # -- gestures ------------------------------------------------------------------------
    def begin_gesture(self) -> None:
        """Edits from now to ``end_gesture`` are one undo step (a slider pressed)."""
        self._gesture_serial += 1
        self._gesture = self._gesture_serial

    def end_gesture(self) -> None:
        self._gesture = None

    @property
    def in_gesture(self) -> bool:
        return self._gesture is not None

    # -- writing -------------------------------------------------------------------------
    def _replace(self, before: np.ndarray, edit: bool, merge: Merge | None) -> None:
        """``self._flat`` now holds the new point (``before``: a copy of the old one)."""
        if edit:
            self.edited.emit(Edit(before, self._flat.copy(), merge, self._gesture))
        self.changed.emit(self.flat)

    def reset(self, spec: LatentSpec | None, sample_latents: SampleLatents | None = None) -> None:
        """A new model: start at its origin (first category, codes 0). A model without an
        encoder (a GAN) starts its noise at a fixed draw from its prior instead: z = 0 is an
        atypical point of a high-dimensional normal (samples lie near radius sqrt(z_dim)), and
        its image looks unlike anything the model samples. ``sample_latents``: the model's own
        (``LatentModel.sample_latents``, which knows its prior); default: the spec's prior.
        Zero calls it too, so it is an edit (after a model change the history drops it: the
        point it replaces is the old model's)."""
        if spec != self.spec:
            self._gesture = None  # the rows are rebuilt: a pressed slider never reports its release
        self.spec = spec
        before = self._flat
        if spec is None:
            self._flat = np.zeros(0, np.float32)
        else:
            flat = spec.zeros(1)[0]
            if not spec.has_encoder:
                draw = sample_latents or spec.sample
                flat[: spec.z_dim] = draw(1, generator=torch.Generator().manual_seed(0))[0, : spec.z_dim].cpu()
            self._flat = flat.numpy()
        self._replace(before, True, None)

    def set_flat(self, flat: np.ndarray, *, edit: bool = True, merge: Merge | None = None) -> None:
        """Go to ``flat``. ``edit=False``: not a user's edit (never recorded for undo);
        ``merge``: consecutive edits with the same key may be one undo step."""
        flat = np.asarray(flat, np.float32).reshape(-1)
        if self.spec is None or flat.shape[0] != self.spec.input_dim:
            raise ValueError(f"latent of size {flat.shape[0]} does not fit this model ({self.spec.input_dim if self.spec else 0})")
        before = self._flat
        self._flat = flat.copy()
        self._replace(before, edit, merge)

    def set_z(self, index: int, value: float, *, merge: Merge | None | bool = True) -> None:
        """One value of the flat point. ``merge=True``: nudges of this index in quick
        succession are one undo step; a Merge of its own, or None (a step per change)."""
        if self._flat[index] == value:
            return
        before = self._flat.copy()
        self._flat[index] = value
        self._replace(before, True, Merge(("value", int(index))) if merge is True else merge or None)

    def set_category(self, block: int, value: int) -> None:
        assert self.spec is not None
        start = self.spec.z_dim + sum(self.spec.categorical[:block])
        k = self.spec.categorical[block]
        before = self._flat.copy()
        self._flat[start : start + k] = 0.0
        self._flat[start + value] = 1.0
        self._replace(before, True, None)  # a pick is a deliberate choice: one step each

    def set_code(self, index: int, value: float) -> None:
        assert self.spec is not None
        self.set_z(self.spec.z_dim + sum(self.spec.categorical) + index, value)

    def category(self, block: int) -> int:
        assert self.spec is not None
        start = self.spec.z_dim + sum(self.spec.categorical[:block])
        return int(np.argmax(self._flat[start : start + self.spec.categorical[block]]))


class DataState(QObject):
    """The dataset in use: the one training loaded, or the one a checkpoint was trained on."""

    changed = Signal(object)  # Dataset | None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset: Dataset | None = None

    def set_dataset(self, dataset: Dataset | None) -> None:
        self.dataset = dataset
        self.changed.emit(dataset)

    def fits(self, spec_shape: tuple[int, ...] | None) -> bool:
        """Whether the dataset's images have the shape a model reads."""
        return self.dataset is not None and spec_shape is not None and tuple(self.dataset.image_shape) == tuple(spec_shape)
