"""The principal directions the window computed, shared by the panels that use them.

* :class:`DirectionsStore`, one per :class:`~explorer.state.ModelState`
  (:func:`directions_store`): an in-memory cache of
  :class:`~models.explore.directions.Directions` keyed by the model (its generation), the
  weights (a counter of training snapshots) and the request, so the latent panel and the
  traversal panel compute a model's directions once, and a session can save ``current``.
* :class:`DirectionsRequest`: what to compute; :meth:`DirectionsStore.job` turns one into
  a job for a panel's newest-wins :class:`~explorer.jobs.JobRunner` (on a private model
  copy, progress reported, stopping between batches when a newer request supersedes it).
* :class:`DirectionWalk`: a point moved along the directions from a base point, and how it
  follows a point set elsewhere (Random, a map click, a path frame).

Nothing here builds widgets; it holds no thread of its own.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from models.cancel import Cancelled
from models.explore.directions import DEFAULT_SAMPLES, Directions, principal_directions
from models.families.base import LatentModel

from .jobs import JobCancelled, JobContext
from .model_access import snapshot_model
from .state import ModelState

#: directions kept per model state (each a few KB for the app's latents)
MAX_CACHED = 8

Key = tuple[int, int, "DirectionsRequest"]


@dataclass(frozen=True)
class DirectionsRequest:
    """What to compute (see :func:`models.explore.directions.principal_directions`)."""

    k: int = 10
    n_samples: int = DEFAULT_SAMPLES
    seed: int = 0
    layer: str | None = None

    @classmethod
    def of(cls, directions: Directions) -> "DirectionsRequest":
        """The request that gives ``directions`` (a saved one put back)."""
        return cls(directions.k, directions.n_samples, directions.seed, directions.layer)


class DirectionsStore(QObject):
    """The directions computed for the current model; emptied when the model changes."""

    #: Directions just stored for the current model, or None when the model changed
    changed = Signal(object)

    def __init__(self, model_state: ModelState) -> None:
        super().__init__(model_state)  # lives as long as its model state
        self.model_state = model_state
        #: training snapshots loaded into the current model so far
        self.weights_version = 0
        self._cache: OrderedDict[Key, Directions] = OrderedDict()
        #: the directions stored last for the current model (a session saves these)
        self.current: Directions | None = None
        self._current_key: Key | None = None
        model_state.model_changed.connect(self._on_model_changed)
        model_state.weights_updated.connect(self._on_weights_updated)

    def key(self, request: DirectionsRequest) -> Key:
        return self.model_state.generation, self.weights_version, request

    def find(self, k: int) -> Directions | None:
        """The newest ``k`` directions of the current model and weights, however they were
        asked for (a panel's default request, or put back from a session)."""
        for key in reversed(self._cache):
            if self.is_current(key) and self._cache[key].k == k:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def is_current(self, key: Key) -> bool:
        """Whether directions computed under ``key`` are of the weights the model has now."""
        return key[:2] == (self.model_state.generation, self.weights_version)

    @property
    def current_is_stale(self) -> bool:
        """The current directions were computed before the latest training snapshot."""
        return self._current_key is not None and not self.is_current(self._current_key)

    def put(self, key: Key, directions: Directions) -> bool:
        """Keep ``directions`` computed under ``key``; False (dropped) when that was for another model."""
        if key[0] != self.model_state.generation:
            return False
        self._cache[key] = directions
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        self.current, self._current_key = directions, key
        self.changed.emit(directions)
        return True

    def restore(self, directions: Directions) -> None:
        """Put back directions saved earlier (a session) for the current model; ValueError
        when they do not fit its latent layout. (Whether they were computed with these very
        weights is ``directions.weights`` against :func:`~models.explore.directions.weights_fingerprint`
        of the model: hashing the weights takes longer than the GUI thread should, so it is
        left to the caller's job.)"""
        spec = self.model_state.spec
        if spec is None:
            raise ValueError("open a model before restoring its directions")
        problem = directions.misfit(spec.input_dim, spec.z_dim)
        if problem is not None:
            raise ValueError(problem)
        self.put(self.key(DirectionsRequest.of(directions)), directions)

    def job(self, request: DirectionsRequest, model: LatentModel | None = None
            ) -> tuple[Callable[[JobContext], Directions], Key]:
        """A job computing ``request`` on ``model`` (default: a fresh copy of the current
        model; a job's own copy, never the model the sliders decode), and the key to
        :meth:`put` its result under."""
        key = self.key(request)
        model = model if model is not None else snapshot_model(self.model_state)

        def job(ctx: JobContext) -> Directions:
            if model is None:
                raise ValueError("no model is open")
            try:
                return principal_directions(model, n_samples=request.n_samples, k=request.k, seed=request.seed,
                                            layer=request.layer, progress=ctx.progress, cancel=ctx.cancelled)
            except Cancelled:
                raise JobCancelled from None  # superseded: ends quietly

        return job, key

    def _on_model_changed(self, _model: object) -> None:
        self._cache.clear()
        self.current, self._current_key = None, None
        self.weights_version = 0
        self.changed.emit(None)

    def _on_weights_updated(self) -> None:
        self.weights_version += 1


_STORES: "weakref.WeakKeyDictionary[ModelState, DirectionsStore]" = weakref.WeakKeyDictionary()


def directions_store(model_state: ModelState) -> DirectionsStore:
    """The one store of ``model_state`` (made on first use)."""
    store = _STORES.get(model_state)
    if store is None:
        store = _STORES[model_state] = DirectionsStore(model_state)
    return store


class DirectionWalk:
    """A point moved along principal directions: ``point = base + directions.offset(c)``,
    ``c`` in standard deviations along each direction."""

    def __init__(self, directions: Directions, base: np.ndarray) -> None:
        self.directions = directions
        self.base = np.asarray(base, np.float32).reshape(-1).copy()
        if self.base.shape[0] != directions.input_dim:
            raise ValueError(f"a point of {self.base.shape[0]} values for directions of {directions.input_dim}")
        self.coefficients = np.zeros(directions.k, np.float32)

    def point(self) -> np.ndarray:
        return (self.base + self.directions.offset(self.coefficients)).astype(np.float32)

    def set(self, i: int, value: float) -> np.ndarray:
        """Move to ``value`` standard deviations along direction ``i``; the new point."""
        self.coefficients[i] = value
        return self.point()

    def start_at(self, base: np.ndarray) -> None:
        """Walk from ``base`` (every coefficient back to 0)."""
        self.base = np.asarray(base, np.float32).reshape(-1).copy()
        self.coefficients[:] = 0.0

    def follow(self, flat: np.ndarray) -> bool:
        """A point set elsewhere. When only what comes after z changed (the codes, which
        keep their own controls) the walk keeps its coefficients and takes the new codes;
        otherwise it starts again from the new point. True when the coefficients changed."""
        flat = np.asarray(flat, np.float32).reshape(-1)
        ours = self.point()
        if np.array_equal(flat, ours):
            return False
        z = self.directions.z_dim
        if np.array_equal(flat[:z], ours[:z]):
            self.base[z:] = flat[z:]
            return False
        changed = bool(self.coefficients.any())
        self.start_at(flat)
        return changed


def describe(directions: Directions) -> str:
    """One line for the panels: how much the directions explain, and of what ("10
    directions: 33.2% of the variance of layer fc.2 (64 values)")."""
    share = 100 * float(directions.explained_variance.sum())
    of = directions.source.removeprefix("PCA of ").split(" over ")[0]
    return f"{directions.k} direction{'s' if directions.k > 1 else ''}: {share:.1f}% of the variance of {of}"


def variance_text(ratio: float) -> str:
    """"23.4%" (one decimal, or two for shares under 1%)."""
    return f"{100 * ratio:.2f}%" if ratio < 0.01 else f"{100 * ratio:.1f}%"


def directions_tooltip(directions: Directions, i: int) -> str:
    text = (f"Principal direction {i + 1}: explains {100 * float(directions.explained_variance[i]):.2f}% of the "
            f"variance of {directions.source.removeprefix('PCA of ')}.\n"
            f"The slider moves the point along it, in standard deviations of the prior "
            f"(1 σ = {float(directions.stdev[i]):.3g} in latent units).")
    notes = [n for n in directions.notes if n.startswith(f"component {i + 1} ")]
    return text + ("\n" + notes[0].capitalize() + "." if notes else "")
