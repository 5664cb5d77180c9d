"""The Latent map panel: the test set encoded and scattered in 2-D; hover, click and draw on it.

* Coordinates (``coordinates``): the two latent dims themselves for a 2-D latent, else PCA
  (linear, so a click on empty space maps back to a latent), or t-SNE or UMAP on request
  (fitted, not invertible: clicks pick the nearest encoded point).
* Clicking a point sets LatentState to *that point's code* (not the inverse projection,
  which for PCA would be the code flattened onto the plane).
* Shift+drag draws a stroke; its points (inverse map, or nearest codes under t-SNE)
  become the keyframes of a path, sent out as ``path_drawn`` for the Paths panel.
* A 2-D latent also shows the decoded manifold (the classic VAE figure) beside the map.

Encoding and the fits run in background jobs (``jobs``) on a model copy, with Cancel, the
newest request winning. The bar and the message line follow every stage: encoding (images
done), then the fit: t-SNE reports nothing until it ends (a busy bar and the seconds spent),
UMAP is busy while it builds its neighbour graph (and compiles, on its first fit) and then
counts its layout epochs. The plot and its items are ``plot.MapPlot``; what a click, hover
or stroke means is ``pointer.MapPointer`` (hover finds the nearest point in screen pixels with numpy: a few
thousand points, microseconds). This module builds the panel and connects the parts.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter

from models.explore.latent_paths import LatentPath
from models.foreign.protocol import unavailable

from ...model_access import dataset_problem, has_encoder, snapshot_model
from ..base import ExplorePanel
from .controls import FITTED, MapControls
from .coordinates import MODE_LATENT, MODE_PCA, MODE_TSNE, MODE_UMAP, map_position
from .jobs import Encoded, encode_job, fit_message, manifold_job, tsne_job, umap_job
from .plot import AXIS_LABELS, MapPlot, factor_label, point_brushes, points_columns
from .pointer import HIT_PX, MapPointer
from .sidebar import MapSidebar

#: the job that fits each kind of fitted coordinates
FIT_JOBS = {MODE_TSNE: tsne_job, MODE_UMAP: umap_job}


class MapPanel(ExplorePanel):
    #: a path drawn on the map (shift+drag), for the Paths panel
    path_drawn = Signal(object)  # LatentPath
    #: the scatter was redrawn (tests wait for it)
    map_ready = Signal()

    NO_MODEL_HINT = "Open or train a model to map its latent space."
    NEEDS = ("encode",)
    NO_ENCODER_HINT = ("The latent map needs a model with an encoder (AE, VAE, β-VAE, AAE, conditional VAE).\n"
                       "This {family} model only maps latents to images: use Projection to find the latent of a given image.")
    INSTEAD = ("project", "The latent map needs an encoder; use Projection to find the latent of a given image.")

    def _setup(self) -> None:
        self.encoded: Encoded | None = None
        self.coords: np.ndarray | None = None  # (N, 2) what the scatter shows
        self._shown_mode = MODE_PCA  # in which coordinates
        self.fitted: dict[str, np.ndarray] = {}  # t-SNE / UMAP coordinates of self.encoded, by mode
        self._fit: tuple[str, int, float] | None = None  # the fit running: mode, points, start (monotonic)
        self._fit_progress = (0, 0)
        self.stale = False  # weights changed since encoding
        self._auto_encoded_for = -1
        self.jobs = self.job_runner("map")
        self.manifold_jobs = self.job_runner("map-manifold")
        self._manifold_timer = self.make_timer(300, self._render_manifold)
        self._manifold_dirty = True
        self._fit_clock = self.make_timer(1000, self._say_fit_progress, single_shot=False)

    @property
    def tsne(self) -> np.ndarray | None:
        """The t-SNE coordinates of the encoded points, once fitted."""
        return self.fitted.get(MODE_TSNE)

    @property
    def umap(self) -> np.ndarray | None:
        """The UMAP coordinates of the encoded points, once fitted."""
        return self.fitted.get(MODE_UMAP)

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        layout = self.make_body()
        self.controls = MapControls()
        layout.addWidget(self.controls)
        self.progress = self.add_busy_bar(layout, self.jobs)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.plot = MapPlot(self.points_table)
        split.addWidget(self.plot)
        self.sidebar = MapSidebar()
        split.addWidget(self.sidebar)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout.addWidget(split, 1)
        self.add_message_line(layout, "Click a point to go there · Shift+drag to draw a path")

        # the parts' controls the panel and the tests reach
        c, sb = self.controls, self.sidebar
        self.encode_btn, self.projection, self.colour, self.show_prior = c.encode_btn, c.projection, c.colour, c.show_prior
        self.viewbox, self.scatter, self.prior_scatter = self.plot.viewbox, self.plot.scatter, self.plot.prior_scatter
        self.inset, self.inset_text, self.legend, self.manifold = sb.inset, sb.inset_text, sb.legend, sb.manifold
        self.pointer = MapPointer(self, self.model_state, self.latent_state, self.dataset_provider, self.plot,
                                  self.sidebar, self)

    def _wire(self) -> None:
        ms = self.model_state
        ms.weights_updated.connect(self._on_weights)
        self.latent_state.changed.connect(self._update_cursor)
        self.encode_btn.clicked.connect(self.encode)
        self.controls.cancel_btn.clicked.connect(self.cancel)
        self.projection.currentIndexChanged.connect(lambda _i: self.show_map())
        self.colour.currentIndexChanged.connect(lambda _i: self._apply_colours())
        self.show_prior.toggled.connect(lambda _on: self._apply_colours())
        pointer = self.pointer
        self.viewbox.clicked.connect(pointer.click_at)
        self.viewbox.stroke_started.connect(pointer.stroke_start)
        self.viewbox.stroke_moved.connect(pointer.stroke_add)
        self.viewbox.stroke_finished.connect(pointer.stroke_finish)
        self.plot.scene().sigMouseMoved.connect(pointer.on_mouse_moved)
        # the scatter takes clicks that land on a point before the view box sees them
        self.scatter.sigClicked.connect(pointer.on_scatter_clicked)
        pointer.path_drawn.connect(self.path_drawn)
        pointer.status.connect(self.say)
        self.jobs.busy_changed.connect(self._on_busy)
        self.jobs.progress.connect(self._on_progress)

    # -- model -------------------------------------------------------------------------
    def on_model_changed(self, model: object) -> None:
        self.jobs.cancel()
        self.encoded, self.coords, self.stale, self.pointer.hovered = None, None, False, None
        self.fitted = {}
        self.plot.clear_points()
        self.sidebar.reset()
        self.refresh_availability()
        spec = self.model_state.spec
        self.controls.set_modes(spec is not None and spec.z_dim == 2)
        self.manifold.setVisible(self._manifold_applies())
        self._manifold_dirty = True
        self.on_shown()

    def on_dataset_changed(self) -> None:
        """Points of another dataset mean nothing now: clear, re-encode when seen."""
        self._auto_encoded_for = -1
        self.on_model_changed(self.model_state.model)

    def _on_weights(self) -> None:
        if self.encoded is not None and not self.stale:
            self.stale = True
            self.controls.set_stale(True)
            self.say("The weights changed since the map was encoded: Re-encode to update it.")
        if self._manifold_applies():
            self._manifold_dirty = True
            if self.shown:
                self._manifold_timer.start()

    def _manifold_applies(self) -> bool:
        spec = self.model_state.spec
        return spec is not None and spec.z_dim == 2 and has_encoder(self.model_state.model)

    def on_shown(self) -> None:
        """When on screen: encode once per model (cheap for a few thousand points) and
        bring the manifold up to date. Off screen nothing runs."""
        if not self.shown:
            return
        model = self.model_state.model
        if has_encoder(model) and self._auto_encoded_for != self.model_state.generation \
                and dataset_problem(model, self.dataset_provider()) is None:
            self._auto_encoded_for = self.model_state.generation
            self.encode()
        if self._manifold_applies() and self._manifold_dirty:
            self._render_manifold()

    # -- jobs --------------------------------------------------------------------------
    def encode(self) -> None:
        """Encode a sample of the test set (background job with progress)."""
        model = self.model_state.model
        dataset = self.dataset_provider()
        problem = dataset_problem(model, dataset) if has_encoder(model) else unavailable(model, "encode")
        if problem:
            self.say(problem)
            return
        snapshot, n, generation = snapshot_model(self.model_state), self.controls.sample.value(), self.model_state.generation
        test = dataset.test
        self._end_fit()  # a fit still running is superseded by this encoding
        self.say(f"Encoding {min(n, len(test))} test images…")
        self.jobs.submit(encode_job(snapshot, test, n, generation), on_done=self._on_encoded)

    def _on_encoded(self, enc: Encoded | None) -> None:
        if enc is None:
            self.say("Encoding cancelled.")
            return
        if enc.generation != self.model_state.generation:
            return  # made for a model that is gone
        # the shown coordinates are of the codes before: none until these are mapped (a
        # fitted map shows them when its fit ends), so nothing pairs old positions with new codes
        self.encoded, self.fitted, self.stale, self.coords = enc, {}, False, None
        self.controls.set_stale(False)
        self._fill_colour_choices()
        self.say(f"{len(enc.codes)} points · click one to go there · Shift+drag to draw a path")
        self.show_map()  # (a fitted map starts its fit here, and says so)

    def cancel(self) -> None:
        fitting = self._fit[0] if self._fit is not None else None
        self.jobs.cancel()
        if fitting is not None:
            # a fit stopped before its job ran, or unwound mid-way, calls nothing back: the
            # combo goes back to the coordinates still on screen here, whatever the job does
            self._end_fit(fitting)
            self.controls.show_mode(self._shown_mode)
            self.say(f"{FITTED[fitting]} cancelled.")

    def _on_busy(self, busy: bool) -> None:
        self.controls.cancel_btn.setEnabled(busy)
        if busy:
            self.progress.setRange(0, 0)
        else:
            self._fit_clock.stop()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(0, total))
        self.progress.setValue(done)
        if self._fit is not None:
            self._fit_progress = (done, total)
            self._say_fit_progress()

    def _run_fit(self, mode: str) -> None:
        """Fit t-SNE or UMAP to the encoded points in a job (newest wins), then show them."""
        enc = self.encoded
        if enc is None:
            return
        self._fit, self._fit_progress = (mode, len(enc.codes), time.monotonic()), (0, 0)
        self._say_fit_progress()
        self._fit_clock.start()

        def back_to_shown() -> None:
            # the combo says what the scatter shows: back to the coordinates still on screen
            self._end_fit(mode)
            self.controls.show_mode(self._shown_mode)

        def done(coords: np.ndarray | None) -> None:
            if coords is None:
                back_to_shown()
                self.say(f"{FITTED[mode]} cancelled.")
                return
            seconds = self._end_fit(mode)
            if self.encoded is enc:
                self.fitted[mode] = coords
                self.show_map()
                if self.mode == mode:
                    self.say(f"{FITTED[mode]} of {len(coords)} points in {seconds:.1f} s · click a point to go there")

        self.jobs.submit(FIT_JOBS[mode](enc.mapped()), on_done=done, on_error=lambda _error: back_to_shown())

    def _end_fit(self, mode: str | None = None) -> float:
        """The fit of ``mode`` (None: any) is over or superseded: stop its clock; the seconds it ran."""
        if self._fit is None or mode not in (None, self._fit[0]):
            return 0.0
        seconds = time.monotonic() - self._fit[2]
        self._fit = None
        self._fit_clock.stop()
        return seconds

    def _say_fit_progress(self) -> None:
        """What the running fit is doing and for how long (each second, and at each report)."""
        if self._fit is None:
            self._fit_clock.stop()
            return
        mode, n, start = self._fit
        self.say(fit_message(FITTED[mode], n, *self._fit_progress, time.monotonic() - start))

    def _render_manifold(self) -> None:
        spec = self.model_state.spec
        if spec is None or spec.z_dim != 2 or not has_encoder(self.model_state.model):
            return
        model = snapshot_model(self.model_state)
        self._manifold_dirty = False
        self.manifold_jobs.submit(manifold_job(model), on_done=self.manifold.set_image)

    # -- the map -----------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.controls.mode

    def show_map(self) -> None:
        """Show the encoded points in the chosen coordinates (starts t-SNE when needed)."""
        enc = self.encoded
        if enc is None:
            return
        mode = self.mode
        if mode == MODE_LATENT:
            coords = enc.codes[:, :2]
        elif mode == MODE_PCA:
            coords = enc.pca.coords
        else:
            if not self.controls.mode_enabled(mode):  # a disabled choice set from code (a session)
                self.controls.show_mode(self._shown_mode)
                self.say(self.projection.itemData(self.projection.findData(mode), Qt.ItemDataRole.ToolTipRole) or "")
                return
            if mode not in self.fitted:
                self._run_fit(mode)
                return
            coords = self.fitted[mode]
        if mode not in FITTED and self._fit is not None:
            superseded = self._fit[0]
            self.jobs.cancel()  # a newer choice: the fit on its way is not wanted now
            self._end_fit()
            self.say(f"{FITTED[superseded]} cancelled.")  # not its last progress line over this map
        self.coords = np.ascontiguousarray(coords, np.float32)
        self._shown_mode = mode
        self.plot.set_axes(mode)
        self._apply_colours()
        self.plot.frame_points()
        self._update_cursor(self.latent_state.flat)
        self.map_ready.emit()

    def points_table(self) -> dict[str, Any] | None:
        """The shown points as columns, for the map's CSV export (see ``plot.points_columns``)."""
        if self.encoded is None or self.coords is None:
            return None
        ds = self.dataset_provider()
        return points_columns(self.encoded, self.coords, AXIS_LABELS[self._shown_mode],
                              ds.class_names if ds is not None else (), ds.test.factor_names if ds is not None else ())

    def _show_prior(self) -> None:
        enc = self.encoded
        fitted = self._shown_mode in FITTED  # fitted to the codes alone: nowhere to put other points
        self.show_prior.setEnabled(enc is not None and enc.prior is not None and not fitted)
        if enc is None or enc.prior is None or not self.show_prior.isChecked() or fitted:
            self.prior_scatter.setData([], [])
            return
        xy = enc.prior[:, :2] if self._shown_mode == MODE_LATENT else enc.pca.project(enc.prior)
        self.prior_scatter.setData(x=xy[:, 0], y=xy[:, 1])
        self.sidebar.add_legend_line("<span style='color:#888888'>■</span>&nbsp;prior samples (white dust)")

    def _fill_colour_choices(self) -> None:
        enc = self.encoded
        ds = self.dataset_provider()
        factors: list[str] = []
        if enc is not None and enc.factors is not None:
            names = tuple(ds.test.factor_names) if ds is not None else ()
            factors = [factor_label(names, j) for j in range(enc.factors.shape[1])]
        self.controls.fill_colours(enc is not None and enc.labels is not None, factors)

    def _apply_colours(self) -> None:
        enc, coords = self.encoded, self.coords
        if enc is None or coords is None:
            return
        kind, j = self.controls.colour_choice()
        ds = self.dataset_provider()
        brushes, legend = point_brushes(enc, kind, j, ds.class_names if ds is not None else (), self.colour.currentText())
        self.scatter.setData(x=coords[:, 0], y=coords[:, 1], brush=brushes)
        self.legend.setText(legend)
        self._show_prior()

    def _update_cursor(self, flat: np.ndarray) -> None:
        enc, flat = self.encoded, np.asarray(flat)
        on_map = enc is not None and flat.shape[0] == enc.codes.shape[1]
        self.plot.set_marker(map_position(self.mode, enc.pca, flat) if on_map else None)

    # -- the pointer's actions, reached through the panel ------------------------------
    def nearest(self, x: float, y: float, radius_px: float = HIT_PX) -> int | None:
        """Index of the point nearest (x, y) in screen pixels, if within ``radius_px``."""
        return self.pointer.nearest(x, y, radius_px)

    def click_at(self, x: float, y: float) -> None:
        """A click at map coordinates: a point goes to its code, empty space to the inverse map."""
        self.pointer.click_at(x, y)

    def select_point(self, i: int) -> None:
        self.pointer.select_point(i)

    def hover_at(self, x: float, y: float) -> None:
        self.pointer.hover_at(x, y)

    def stroke_start(self, x: float, y: float) -> None:
        self.pointer.stroke_start(x, y)

    def stroke_add(self, x: float, y: float) -> None:
        self.pointer.stroke_add(x, y)

    def stroke_finish(self) -> LatentPath | None:
        """Turn the drawn stroke into a path: keyframes evenly spaced along it."""
        return self.pointer.stroke_finish()
