"""The latent panel's Directions mode: one slider per principal direction of the model.

The top ``k`` principal directions (GANSpace-style, :mod:`models.explore.directions`) are
computed in the panel's newest-wins job runner, never on the GUI thread, and kept in the
model state's :class:`~explorer.directions_state.DirectionsStore` (the traversal panel
reads the same ones). Each row is labelled with its component's share of the variance;
its slider moves the point that many standard deviations along the direction from where
the mode was entered (:class:`~explorer.directions_state.DirectionWalk`); "From mean"
walks from the sampled latents' mean instead. A point set elsewhere (Random, a map click,
a category button) becomes the new start, so the sliders always read "from here".
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from models.explore.directions import Directions

from ..directions_state import DirectionsRequest, DirectionWalk, describe, directions_store, directions_tooltip, variance_text
from ..jobs import JobRunner
from ..latent_history import Merge
from ..state import LatentState, ModelState
from ..widgets.layout import caption_label, hrow, push_button, scroll_area, spin_box, thin_busy_bar
from ..widgets.qt_utils import signals_blocked
from .latent_rows import DimRow, set_quietly

#: directions a user may ask for
MAX_K = 64
DEFAULT_K = 10
#: wait this long after the last change of the count before computing
K_DEBOUNCE_MS = 300
#: a slider spans this many standard deviations either side
SIGMA_RANGE = 3.0


class DirectionsControls(QWidget):
    """The Directions mode's controls; ``set_active(True)`` computes (or fetches) the
    directions and shows their sliders."""

    def __init__(self, model_state: ModelState, latent_state: LatentState, runner: JobRunner,
                 say: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_state, self.latent_state, self.runner, self.say = model_state, latent_state, runner, say
        self.store = directions_store(model_state)
        self.active = False
        self.walk: DirectionWalk | None = None
        self.rows: list[DimRow] = []

        self.components = spin_box(1, MAX_K, DEFAULT_K, prefix="top ", tooltip="How many principal directions: the "
                                   "components of the model's features that vary most across sampled latents")
        self.from_mean = push_button("From mean", "Walk from the sampled latents' mean z (codes stay as they are)",
                                     clicked=self.start_from_mean, enabled=False)
        self.recompute = push_button("Recompute", "The weights changed since these directions were computed: "
                                     "compute them for the weights the model has now", clicked=self.request)
        self.recompute.setVisible(False)
        self.status = caption_label("")
        self.busy = thin_busy_bar(8)
        self.rows_box = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_box)
        self.rows_layout.setContentsMargins(0, 0, 6, 0)
        self.rows_layout.setSpacing(2)
        self.rows_layout.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(hrow(QLabel("Components"), self.components, self.from_mean, self.recompute, stretch=True))
        layout.addWidget(self.status)
        layout.addWidget(self.busy)
        layout.addWidget(scroll_area(self.rows_box, frame=False), 1)

        # typing "12" passes through 1: ask once the value has settled
        self._k_timer = QTimer(self, singleShot=True, interval=K_DEBOUNCE_MS)
        self._k_timer.timeout.connect(self._on_k_chosen)
        self.components.valueChanged.connect(self._on_k_typed)
        #: the count the user chose; a model with fewer z dimensions shows fewer
        self.wanted_k = DEFAULT_K
        runner.busy_changed.connect(self.busy.setVisible)
        latent_state.changed.connect(self._on_latent_changed)
        model_state.model_changed.connect(self._on_model_changed)
        model_state.weights_updated.connect(self._on_weights_updated)
        self._on_model_changed(model_state.model)

    # -- requests ----------------------------------------------------------------------
    def set_active(self, on: bool) -> None:
        """Entering the mode fetches or computes the directions and walks from the current
        point; leaving it stops a computation nobody waits for (the point stays)."""
        if on == self.active:
            return
        self.active = on
        if on:
            self.request()
        else:
            self.runner.cancel()

    def request(self) -> None:
        """Show the directions of the current settings: at once when computed, else in a job."""
        spec = self.model_state.spec
        if spec is None or not self.active:
            return
        request = DirectionsRequest(k=min(self.components.value(), spec.z_dim))
        cached = self.store.find(request.k)
        if cached is not None:
            self._apply(cached)
            return
        job, key = self.store.job(request)
        self.status.setText(f"Computing {request.k} principal directions…")
        self.runner.submit(job, on_done=lambda d: self._arrived(key, d), on_progress=self._progress,
                           on_error=lambda _e: self.status.setText("Could not compute the principal directions."))

    def _on_k_typed(self, k: int) -> None:
        self.wanted_k = k
        self._k_timer.start()

    def _on_k_chosen(self) -> None:
        if self.walk is None or self.walk.directions.k != min(self.components.value(), self.walk.directions.z_dim):
            self.request()

    def _progress(self, done: int, total: int) -> None:
        if total:
            self.status.setText(f"Computing principal directions… {100 * done // total}% of the latents decoded")

    def _arrived(self, key: tuple, directions: Directions) -> None:
        if self.store.put(key, directions) and self.active:
            self._apply(directions)

    # -- showing them ------------------------------------------------------------------
    def _apply(self, directions: Directions) -> None:
        flat = self.latent_state.flat
        # the window moves the point to a new model's origin after the model's signal
        self.walk = DirectionWalk(directions, flat if flat.shape[0] == directions.input_dim else directions.mean)
        self._build_rows(directions)
        self.from_mean.setEnabled(True)
        self.recompute.setVisible(self.store.current_is_stale)
        self.status.setText(f"{describe(directions)}. Sliders: ±{SIGMA_RANGE:g} σ from where you started.")
        self.status.setToolTip("\n".join((directions.source, *directions.notes)))
        self.say(f"Principal directions: {describe(directions)} ({directions.n_samples:,} latents)")

    def _build_rows(self, directions: Directions) -> None:
        while len(self.rows) > directions.k:
            row = self.rows.pop()
            self.rows_layout.removeWidget(row)
            row.deleteLater()
        while len(self.rows) < directions.k:
            i = len(self.rows)
            row = DimRow(f"PC{i + 1}", (-SIGMA_RANGE, SIGMA_RANGE), "", gestures=self.latent_state)
            row.slider.valueChanged.connect(partial(self._on_slider, i))
            row.reset.clicked.connect(partial(self._reset, i))
            row.reset.setToolTip(f"Back to the start along PC{i + 1}")
            self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
            self.rows.append(row)
        for i, row in enumerate(self.rows):
            tip = directions_tooltip(directions, i)
            row.name.setToolTip(tip)
            row.slider.setToolTip(tip)
            row.show_note(variance_text(float(directions.explained_variance[i])), tip)
            set_quietly(row.slider, 0.0)

    def _clear(self) -> None:
        self.walk = None
        for row in self.rows:
            self.rows_layout.removeWidget(row)
            row.deleteLater()
        self.rows = []
        self.from_mean.setEnabled(False)
        self.recompute.setVisible(False)

    # -- controls -> state -------------------------------------------------------------
    def _on_slider(self, i: int, value: float) -> None:
        if self.walk is not None:
            self.latent_state.set_flat(self.walk.set(i, float(value)), merge=Merge(("direction", i)))

    def _reset(self, i: int) -> None:
        if i < len(self.rows):
            self.rows[i].slider.setValue(0.0)

    def start_from_mean(self) -> None:
        """Walk from the directions' mean z, keeping the point's codes."""
        if self.walk is None:
            return
        z = self.walk.directions.z_dim
        base = self.latent_state.flat
        base[:z] = self.walk.directions.mean[:z]
        self.walk.start_at(base)
        for row in self.rows:
            set_quietly(row.slider, 0.0)
        self.latent_state.set_flat(base)

    # -- state -> controls -------------------------------------------------------------
    def _on_latent_changed(self, flat: np.ndarray) -> None:
        if self.walk is None or flat.shape[0] != self.walk.directions.input_dim:
            return
        if self.walk.follow(flat):
            for row in self.rows:
                set_quietly(row.slider, 0.0)

    def _on_model_changed(self, _model: object) -> None:
        self._clear()
        spec = self.model_state.spec
        with signals_blocked(self.components):
            self.components.setMaximum(max(1, min(MAX_K, spec.z_dim if spec is not None else MAX_K)))
            self.components.setValue(self.wanted_k)
        self.status.setText("")
        if self.active:
            self.request()

    def _on_weights_updated(self) -> None:
        if self.walk is not None:
            self.recompute.setVisible(True)
            self.status.setText(describe(self.walk.directions) + " (the weights changed since: Recompute)")
