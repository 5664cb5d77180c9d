"""Traversal grid: one row per latent dimension, columns sweep its value around the current point.

InfoGAN gets its paper's figure instead: rows are the values of the categorical code,
columns sweep one chosen continuous code, everything else held at the current point. A
class-conditional model gets rows = classes (labelled by their names), columns sweeping one
chosen z dimension ("auto": the most influential at the point) or one principal direction,
the rest held at the current point (:func:`models.explore.traversal.class_traversal_latents`).
"Principal directions" sweeps the model's top principal directions instead of its
dimensions (rows: directions, columns: -R..+R standard deviations along each, around the
current point or the sampled latents' mean); they come from the model state's
:class:`~explorer.directions_state.DirectionsStore`, computed in the render job when new.

The grid is rendered in a background job on a model copy (a few hundred decodes), at most
one at a time and only the newest (moving a slider re-renders, debounced). A hidden
panel only notes that it is stale and renders when shown again, so an Explore tab in the
background costs nothing while training. "Most active" orders VAE dims by their mean KL
over test images; that KL is computed once per model in a job and shared through
``ModelState.set_kl`` (the latent panel greys out the same inactive dims).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QLineEdit

from models.explore.directions import direction_latents
from models.explore.render import decode_batched
from models.explore.traversal import category_sweep_latents, dimension_influence, infogan_latents, traversal_latents
from models.families.base import LatentModel
from models.foreign.protocol import unavailable
from models.io.images import grid, save_png
from models.latent import LatentSpec
from models.metrics.kl import has_kl, kl_per_dimension

from ..directions_state import DirectionsRequest, directions_store, variance_text
from ..model_access import dataset_problem, parse_indices, snapshot_model
from ..widgets.image_view import ImageView
from ..widgets.layout import check_box, double_spin_box, spin_box
from ..widgets.qt_utils import signals_blocked
from ..widgets.view_export import ExportButton, array_png, plot_png
from .base import ExplorePanel, save_file
from .traversal_classes import CLASSES_DIRECTION, CLASSES_Z, class_figure_job, set_index_range

#: re-render this long after the last change (slider drags, spin box typing)
DEBOUNCE_MS = 150
ROWS_ALL, ROWS_ACTIVE, ROWS_INFLUENTIAL, ROWS_CUSTOM = "all", "active", "influential", "custom"
#: above this many z dims, "All dimensions" rows get too thin to read: default to the top ones
MAX_ALL_ROWS = 16


class TraversalPanel(ExplorePanel):
    #: (H, W, C) uint8 grid, each time one is shown
    image_ready = Signal(object)

    NO_MODEL_HINT = "Open or train a model to see how each latent dimension changes the image."

    def _setup(self) -> None:
        self.image: np.ndarray | None = None  # the last grid, (H, W, C) uint8
        self.rows: list[str] = []  # what each row of it shows
        self.steps_shown = 0
        self._labels: list[pg.TextItem] = []
        self._dirty = False
        self._kl_requested_for = -1
        self.jobs = self.job_runner("traversal")
        self.kl_jobs = self.job_runner("traversal-kl", failure_prefix="Could not compute KL per dimension: ")
        self._debounce = self.make_timer(DEBOUNCE_MS, self._render_if_shown)

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        layout = self.make_body()
        form = QGridLayout()
        self.sweep = QComboBox()
        self.sweep.setToolTip("What the rows and columns show")
        self.rows_mode = QComboBox()
        self.rows_mode.addItem("All dimensions", ROWS_ALL)
        self.rows_mode.addItem("Most active (KL)", ROWS_ACTIVE)
        self.rows_mode.addItem("Most influential", ROWS_INFLUENTIAL)
        self.rows_mode.addItem("Chosen dimensions", ROWS_CUSTOM)
        self.rows_mode.setToolTip("Most active: VAE dimensions ordered by their mean KL over test images\n"
                                  "Most influential: any model's dimensions ordered by how much the image changes "
                                  "between -R and +R at the current point")
        self.top_k = spin_box(1, 64, 10, prefix="top ")
        self.custom_dims = QLineEdit()
        self.custom_dims.setPlaceholderText("e.g. 0, 3, 5-7")
        #: rows = classes: which z dimension (or principal direction) the columns sweep
        self.sweep_index = spin_box(-1, 0, -1)
        self.rows_are_classes = QLabel("classes, by name")  # stands in for the Rows box then
        self.rows_are_classes.setVisible(False)
        self.steps = spin_box(2, 25, 9, suffix=" steps")
        self.value_range = double_spin_box(0.1, 20.0, step=0.5, prefix="± ",
                                           tooltip="z values swept from -R to +R (replacing the dimension's value)")
        self.around = check_box("Around current point", True,
                                "Hold the other values at the sliders' point (else at the origin)")
        # the export control's place: row 2, column 3 (the right end of the check box's row)
        no_grid = {"empty": "No traversal grid yet."}
        self.export_btn = ExportButton([
            array_png("Grid as PNG…", "traversal.png", lambda: self.image, **no_grid),
            plot_png("Grid with row names as PNG…", "traversal-labelled.png", lambda: [self.view.viewbox],
                     ready=lambda: self.image is not None, **no_grid),
        ], say=self.say)
        for widget, r, c, cols in ((QLabel("Sweep"), 0, 0, 1), (self.sweep, 0, 1, 2), (self.steps, 0, 3, 1),
                                   (QLabel("Rows"), 1, 0, 1), (self.rows_mode, 1, 1, 1), (self.rows_are_classes, 1, 1, 1),
                                   (self.top_k, 1, 2, 1), (self.custom_dims, 1, 2, 1), (self.sweep_index, 1, 2, 1),
                                   (self.value_range, 1, 3, 1), (self.around, 2, 1, 2), (self.export_btn, 2, 3, 1)):
            form.addWidget(widget, r, c, 1, cols)
        layout.addLayout(form)
        self.view = ImageView("")
        self.view.setMinimumSize(200, 160)
        layout.addWidget(self.view, 1)
        self.caption = self.add_message_line(layout)

    def _wire(self) -> None:
        ms = self.model_state
        ms.weights_updated.connect(self.schedule)
        ms.kl_changed.connect(lambda _kl: self.schedule())
        self.latent_state.changed.connect(lambda _flat: self.schedule() if self.around.isChecked() else None)
        for w in (self.steps, self.top_k, self.value_range, self.sweep_index):
            w.valueChanged.connect(self.schedule)
        self.sweep.currentIndexChanged.connect(self._update_controls)
        self.rows_mode.currentIndexChanged.connect(self._update_controls)
        self.custom_dims.editingFinished.connect(self.schedule)
        self.around.toggled.connect(self.schedule)

    # -- model -------------------------------------------------------------------------
    def on_model_changed(self, model: object) -> None:
        self.image, self.rows = None, []
        self.view.clear("Rendering…")
        for item in self._labels:
            self.view.viewbox.removeItem(item)
        self._labels = []
        if not self.refresh_availability():
            return
        spec = self.model_state.spec
        with signals_blocked(self.sweep):
            self.sweep.clear()
            if spec.conditional:  # its code 0 is the class: the class figure comes first
                self.sweep.addItem("Classes × z dimension", CLASSES_Z)
                self.sweep.addItem("Classes × principal direction", CLASSES_DIRECTION)
            elif spec.categorical:
                for c in range(max(1, spec.continuous)):
                    self.sweep.addItem(f"Category × code {c}" if spec.continuous else "Category", ("category", c))
            self.sweep.addItem("z dimensions", ("z", 0))
            self.sweep.addItem("Principal directions", ("directions", 0))
        with signals_blocked(self.value_range):
            self.value_range.setValue(float(spec.z_range[1]))
        self.top_k.setMaximum(max(1, spec.z_dim))
        model = self.model_state.model
        if has_kl(model) and dataset_problem(model, self.dataset_provider()) is None:
            default = ROWS_ACTIVE
        else:  # a GAN's 100 noise dims would make rows a few pixels high
            default = ROWS_INFLUENTIAL if spec.z_dim > MAX_ALL_ROWS else ROWS_ALL
        with signals_blocked(self.rows_mode):
            self.rows_mode.setCurrentIndex(self.rows_mode.findData(default))
        self._update_controls()

    def on_dataset_changed(self) -> None:
        """A dataset makes KL ordering possible (or a new one changes it)."""
        self._kl_requested_for = -1
        self.on_model_changed(self.model_state.model)

    def _update_controls(self) -> None:
        data = self.sweep.currentData() or ("z", 0)
        classes = data[0] == "classes"
        z_mode, pca = data[0] == "z", data[0] == "directions" or data == CLASSES_DIRECTION
        rows = self.rows_mode.currentData()
        self.rows_mode.setEnabled(z_mode)
        self.value_range.setEnabled(z_mode or pca or classes)
        self.value_range.setToolTip("Offsets from -R to +R standard deviations along each direction" if pca else
                                    "z values swept from -R to +R (replacing the dimension's value)")
        self.top_k.setVisible(not classes and (pca or rows != ROWS_CUSTOM))
        self.top_k.setEnabled(pca or (z_mode and rows in (ROWS_ACTIVE, ROWS_INFLUENTIAL)))
        self.custom_dims.setVisible(not classes and not pca and rows == ROWS_CUSTOM)
        self.custom_dims.setEnabled(z_mode)
        self.sweep_index.setVisible(classes)
        self.rows_mode.setVisible(not classes)
        self.rows_are_classes.setVisible(classes)
        if classes:
            set_index_range(self.sweep_index, self.model_state.spec, data == CLASSES_DIRECTION, self.top_k.value())
        self.schedule()

    # -- rendering ---------------------------------------------------------------------
    def schedule(self) -> None:
        """Ask for a re-render (debounced); a hidden panel renders when shown."""
        if self.model_state.model is None:
            return
        if not self.shown:
            self._dirty = True
            return
        self._debounce.start()

    def on_shown(self) -> None:
        if self._dirty or self.image is None:
            self._dirty = False
            self.schedule()

    def _render_if_shown(self) -> None:
        # a dock tabbed away between the request and now: render when it comes back
        if self.shown:
            self.render()
        else:
            self._dirty = True

    def _dims(self, spec: LatentSpec) -> tuple[list[int], str] | None:
        """The z dims to show as rows and a caption; None while KL is being computed.
        ("Most influential" is ranked inside the render job: it needs decodes.)"""
        mode = self.rows_mode.currentData()
        if mode == ROWS_CUSTOM:
            try:
                dims = parse_indices(self.custom_dims.text(), spec.z_dim)
            except ValueError as e:
                self.say(str(e).replace("the test set has images", "this model has z dims"))
                dims = []
            return (dims, "chosen dimensions") if dims else (list(range(spec.z_dim)), "all dimensions")
        if mode == ROWS_ACTIVE:
            kl = self.model_state.kl_per_dim
            if kl is None or kl.shape[0] != spec.z_dim:
                problem = self._kl_problem()
                if problem is None:
                    self._request_kl()
                    return None
                self.say(f"{problem} Showing all dimensions.")
                return list(range(spec.z_dim)), "all dimensions"
            order = [int(d) for d in np.argsort(-kl, kind="stable")[: self.top_k.value()]]
            return order, "most active first (KL " + ", ".join(f"{kl[d]:.2f}" for d in order) + ")"
        return list(range(spec.z_dim)), "all dimensions"

    def _kl_problem(self) -> str | None:
        model = self.model_state.model
        if not has_kl(model):
            return unavailable(model, "kl") or "Activity by KL needs a VAE."
        return dataset_problem(model, self.dataset_provider())

    def _request_kl(self) -> None:
        generation = self.model_state.generation
        if self._kl_requested_for == generation:
            return
        self._kl_requested_for = generation
        model, dataset = snapshot_model(self.model_state), self.dataset_provider()
        self.say("Measuring KL per dimension…")

        def job(ctx) -> np.ndarray:
            return kl_per_dimension(model, dataset.test).numpy()

        self.kl_jobs.submit(job, on_done=lambda kl: self.model_state.set_kl(kl, generation))

    def render(self) -> None:
        """Start rendering the grid for the current settings (newest request wins)."""
        spec = self.model_state.spec
        if spec is None:
            return
        sweep = self.sweep.currentData() or ("z", 0)
        steps = self.steps.value()
        around = self.latent_state.flat if self.around.isChecked() else None
        if around is not None and around.shape[0] != spec.input_dim:
            around = None  # the latent state has not caught up with a new model yet
        if sweep[0] == "category":
            code = sweep[1]
            rows = [f"category {r}" for r in range(spec.categorical[0])]  # InfoGAN's: no names
            caption = f"rows: categories 0–{spec.categorical[0] - 1}; columns: " + (
                f"code {code} from {spec.continuous_range[0]:g} to {spec.continuous_range[1]:g}" if spec.continuous else "noise samples")

            def latents(model: LatentModel) -> torch.Tensor:
                if around is None or not spec.continuous:
                    return infogan_latents(model, code=code, steps=steps, seed=0)
                return category_sweep_latents(spec, around, code, steps)
        elif sweep[0] == "directions":
            self._render_directions(spec, steps, around)
            return
        elif sweep[0] == "classes":
            self._render_classes(spec, steps, around, sweep == CLASSES_DIRECTION)
            return
        elif self.rows_mode.currentData() == ROWS_INFLUENTIAL:
            r, k = self.value_range.value(), self.top_k.value()
            model = snapshot_model(self.model_state)

            def ranked_job(ctx) -> tuple[np.ndarray, list[str], str]:
                influence = dimension_influence(model, r, around=around)
                dims = [int(d) for d in torch.argsort(-influence, stable=True)[:k]]
                image = grid(decode_batched(model, traversal_latents(model, dims, steps, r, around=around)[0]), ncol=steps)
                what = "most influential first (mean pixel change " + ", ".join(f"{float(influence[d]):.3f}" for d in dims) + ")"
                return image, [f"z{d}" for d in dims], f"rows: {what}; columns: value from {-r:g} to {r:g}"

            self.jobs.submit(ranked_job, on_done=lambda out: self._show(out[0], out[1], steps, out[2]))
            return
        else:
            chosen = self._dims(spec)
            if chosen is None:
                return  # rendered when the KL arrives
            dims, what = chosen
            r = self.value_range.value()
            rows = [f"z{d}" for d in dims]
            caption = f"rows: {what}; columns: value from {-r:g} to {r:g}"

            def latents(model: LatentModel) -> torch.Tensor:
                return traversal_latents(model, dims, steps, r, around=around)[0]

        model = snapshot_model(self.model_state)

        def job(ctx) -> np.ndarray:
            return grid(decode_batched(model, latents(model)), ncol=steps)

        self.jobs.submit(job, on_done=lambda image: self._show(image, rows, steps, caption))

    def _render_directions(self, spec: LatentSpec, steps: int, around: np.ndarray | None) -> None:
        """Rows: the top-k principal directions (the store's, or computed first in the job)."""
        store = directions_store(self.model_state)
        request = DirectionsRequest(k=min(self.top_k.value(), spec.z_dim))
        cached = store.find(request.k)
        model = snapshot_model(self.model_state)
        compute, key = store.job(request, model)
        r = self.value_range.value()
        if cached is None:
            self.say(f"Computing {request.k} principal directions…")

        def job(ctx):
            directions = cached if cached is not None else compute(ctx)
            return directions, grid(decode_batched(model, direction_latents(directions, around, steps, r)), ncol=steps)

        def done(out) -> None:
            directions, image = out
            if cached is None:
                store.put(key, directions)
                self.say(f"Computed {directions.k} principal directions")
            shares = ", ".join(variance_text(float(v)) for v in directions.explained_variance)
            origin = "the current point" if around is not None else "the latents' mean"
            self._show(image, [f"PC{i + 1}" for i in range(directions.k)], steps,
                       f"rows: principal directions ({shares} of the variance); columns: {-r:g} to {r:g} σ "
                       f"around {origin}; {directions.source}")

        self.jobs.submit(job, on_done=done)

    def _render_classes(self, spec: LatentSpec, steps: int, around: np.ndarray | None, direction: bool) -> None:
        """Rows: the classes, by name; columns: the chosen z dim or principal direction."""
        job, finish, note = class_figure_job(self.model_state, steps, self.value_range.value(), self.sweep_index.value(),
                                             around, self.top_k.value(), direction)
        if note:
            self.say(note)

        def done(out) -> None:
            image, rows, caption = finish(out)
            self._show(image, rows, steps, caption)

        self.jobs.submit(job, on_done=done)

    def _show(self, image: np.ndarray, rows: list[str], steps: int, caption: str) -> None:
        new_layout = self.image is None or image.shape != self.image.shape or rows != self.rows
        self.image, self.rows, self.steps_shown = image, rows, steps
        self.view.set_image(image[..., 0].copy() if image.shape[2] == 1 else image)
        if new_layout:
            self._label_rows(image.shape[0], image.shape[1], rows)
        self.caption.setText(caption)
        self.image_ready.emit(image)

    def _label_rows(self, height: int, width: int, rows: list[str]) -> None:
        """Row names left of the grid: text items made once per layout, in a margin of the
        view (the image itself stays pixels only, as exported)."""
        vb = self.view.viewbox
        for item in self._labels:
            vb.removeItem(item)
        self._labels = []
        tile = (height - 2) / max(1, len(rows))
        for i, name in enumerate(rows):
            item = pg.TextItem(name, color="#c8c8c8", anchor=(1.0, 0.5))
            item.setPos(-2, 2 + (i + 0.5) * tile)
            vb.addItem(item, ignoreBounds=True)
            self._labels.append(item)
        vb.setRange(xRange=(-self._label_margin(width, rows), width), yRange=(0, height), padding=0.01)

    def _label_margin(self, width: int, rows: list[str]) -> float:
        """The room left of the grid, in image pixels, that the longest row label needs at the
        view's width now (class names are longer than "z3")."""
        text = max((QFontMetrics(self.font()).horizontalAdvance(name) for name in rows), default=0) + 10
        view = max(1, self.view.width())
        share = min(0.6, text / view)  # the labels' part of the view's width
        return max(width * 0.14, width * share / (1 - share))

    def export_png(self, file: str | Path | None = None) -> Path | None:
        if self.image is None:
            return None
        file = save_file(self, file, "Export traversal", "traversal.png", "PNG (*.png)")
        if file is None:
            return None
        try:
            out = save_png(self.image, file)
        except OSError as e:  # a folder of that name, a read-only place: say so, don't raise into Qt
            self.say(f"Could not save {Path(file).name}: {e.strerror or e}")
            return None
        self.say(f"Saved {out.name}")
        return out
