"""Latent map: the test set encoded and scattered in 2-D; hover, click and draw on it.

* Coordinates: the two latent dims themselves for a 2-D latent, else PCA (linear, so a
  click on empty space maps back to a latent), or t-SNE on request (not invertible:
  clicks pick the nearest encoded point).
* Clicking a point sets LatentState to *that point's code* (not the inverse projection,
  which for PCA would be the code flattened onto the plane).
* Shift+drag draws a stroke; its points (inverse map, or nearest codes under t-SNE)
  become the keyframes of a path, sent out as ``path_drawn`` for the Paths panel.
* A 2-D latent also shows the decoded manifold (the classic VAE figure) beside the map.

Encoding and t-SNE run in background jobs on a model copy, with progress and Cancel.
The scatter is one ScatterPlotItem made once and fed with setData; hover finds the
nearest point in screen pixels with numpy (a few thousand points: microseconds).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget,
)

from models.data.base import Dataset, Split
from models.explore.latent_map import PCA2D, encode_dataset, manifold_grid, pca_2d, tsne_2d
from models.explore.latent_paths import LatentPath, path_from_keyframes

from ..explore_workers import (
    JobCancelled, LatestJobRunner, Tile, dataset_problem, has_encoder, snapshot_model, to_display,
)
from ..panels.image_view import ImageView
from ..state import LatentState, ModelState
from .common import caption_label, install_hint_stack, panel_body, thin_busy_bar

DatasetProvider = Callable[[], "Dataset | None"]
#: a hover or click within this many screen pixels of a point hits it
HIT_PX = 8.0
#: keyframes a drawn stroke becomes
STROKE_KEYFRAMES = 6
#: categorical colours (label i -> PALETTE[i % 10]), Tableau 10
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
MODE_LATENT, MODE_PCA, MODE_TSNE = "latent", "pca", "tsne"


class _ProgressSplit(Split):
    """A split that reports each batch it hands out (encode_dataset's loop has no hook)."""

    def __init__(self, inner: Split, total: int, ctx: Any) -> None:
        self.inner, self.total, self.ctx, self.done = inner, total, ctx, 0
        self.image_shape, self.labels, self.factors = inner.image_shape, inner.labels, inner.factors
        self.factor_names = inner.factor_names

    def __len__(self) -> int:
        return len(self.inner)

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        if self.ctx.cancelled():
            raise JobCancelled
        out = self.inner.batch(idx)
        self.done += len(idx)
        self.ctx.progress(self.done, self.total)
        return out


@dataclass
class Encoded:
    codes: np.ndarray  # (N, D) float32 flat latents
    labels: np.ndarray | None  # (N,)
    factors: np.ndarray | None  # (N, F)
    indices: np.ndarray  # (N,) into the test split
    pca: PCA2D
    generation: int
    #: (N, D) samples of the model's prior, drawn with the encoding (None: no prior, the AE)
    prior: np.ndarray | None = None


class _MapViewBox(pg.ViewBox):
    """Pan/zoom as usual; a left click and a shift+left drag go to the panel instead."""

    def __init__(self, panel: "MapPanel") -> None:
        super().__init__(enableMenu=False)
        self.panel = panel

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.panel.click_at(p.x(), p.y())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            if ev.isStart():
                self.panel.stroke_start(p.x(), p.y())
            self.panel.stroke_add(p.x(), p.y())
            if ev.isFinish():
                self.panel.stroke_finish()
        else:
            super().mouseDragEvent(ev, axis)


class MapPanel(QWidget):
    status = Signal(str)
    #: a path drawn on the map (shift+drag), for the Paths panel
    path_drawn = Signal(object)  # LatentPath
    #: the scatter was redrawn (tests wait for it)
    map_ready = Signal()

    def __init__(self, model_state: ModelState, latent_state: LatentState, dataset_provider: DatasetProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_state, self.latent_state, self.dataset_provider = model_state, latent_state, dataset_provider
        self.encoded: Encoded | None = None
        self.coords: np.ndarray | None = None  # (N, 2) what the scatter shows
        self._shown_mode = MODE_PCA  # in which coordinates
        self.tsne: np.ndarray | None = None  # cached t-SNE of self.encoded
        self.stale = False  # weights changed since encoding
        self.hovered: int | None = None
        self._stroke: list[tuple[float, float]] = []
        self._auto_encoded_for = -1
        self.jobs = LatestJobRunner("map", self)
        self.manifold_jobs = LatestJobRunner("map-manifold", self)
        self._manifold_timer = QTimer(self, singleShot=True, interval=300)
        self._manifold_timer.timeout.connect(self._render_manifold)
        self._manifold_dirty = True
        #: False while the panel's dock is a tab behind another (set by explore_docks):
        #: Qt keeps such widgets "visible", so isVisible() alone can't tell
        self.on_screen = True
        self._build()
        self._wire()
        self._on_model_changed(model_state.model)

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        body, layout = panel_body()
        top = QHBoxLayout()
        self.encode_btn = QPushButton("Encode test set")
        self.encode_btn.setToolTip("Encode a random sample of the test images with the current model")
        self.sample = QSpinBox()
        self.sample.setRange(10, 100_000)
        self.sample.setValue(3000)
        self.sample.setSingleStep(500)
        self.sample.setSuffix(" points")
        self.projection = QComboBox()
        self.projection.setToolTip("How codes become map positions. PCA and the latent dims map back to latents;\n"
                                   "t-SNE keeps neighbourhoods but can't be inverted (clicks pick the nearest point).")
        self.projection.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.colour = QComboBox()
        self.colour.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.colour.setToolTip("Colour points by their label or by a ground-truth factor")
        self.show_prior = QCheckBox("Prior")
        self.show_prior.setChecked(True)
        self.show_prior.setToolTip(
            "Grey points: as many samples of the model's prior, on the same axes. Where the coloured codes and the "
            "grey prior differ, decoding a random prior sample lands where the decoder saw no data: compare a "
            "VAE's KL with an AAE's adversarial matching. (Not under t-SNE, which cannot place new points.)")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        for w in (self.encode_btn, self.sample, QLabel("Map"), self.projection, QLabel("Colour"), self.colour,
                  self.show_prior, self.cancel_btn):
            top.addWidget(w)
        top.addStretch(1)
        layout.addLayout(top)
        self.progress = thin_busy_bar()
        layout.addWidget(self.progress)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.viewbox = _MapViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.viewbox)
        self.plot.setBackground("#1e1f22")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setMinimumSize(240, 160)
        for axis in ("bottom", "left"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)  # "z0", not "z0 (x0.001)"
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, pxMode=True)
        # a light dust over the codes: a mismatch shows as dust where no colour is (and the reverse)
        self.prior_scatter = pg.ScatterPlotItem(size=2.5, pen=None, brush=pg.mkBrush(255, 255, 255, 120), pxMode=True)
        self.prior_scatter.setZValue(5)
        self.prior_scatter.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks go to the codes below
        self.cursor = pg.ScatterPlotItem(size=15, symbol="o", pen=pg.mkPen("w", width=2), brush=None, pxMode=True)
        self.cursor.setZValue(10)
        self.stroke_curve = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=2, style=Qt.PenStyle.DashLine))
        self.stroke_curve.setZValue(11)
        for item in (self.prior_scatter, self.scatter, self.cursor, self.stroke_curve):
            self.plot.addItem(item)
        split.addWidget(self.plot)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        self.inset = Tile(80)
        self.inset.set_array(None, "hover a\npoint")
        self.inset_text = QLabel("")
        self.inset_text.setWordWrap(True)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.manifold = ImageView("")
        self.manifold.setMinimumSize(120, 120)
        self.manifold.setToolTip("The decoder's view of the 2-D latent: a grid over the prior's quantiles")
        sl.addWidget(self.inset, 0, Qt.AlignmentFlag.AlignHCenter)
        sl.addWidget(self.inset_text)
        sl.addWidget(self.legend)
        sl.addWidget(self.manifold, 1)
        sl.addStretch(0)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout.addWidget(split, 1)
        self.message = caption_label("Click a point to go there · Shift+drag to draw a path")
        layout.addWidget(self.message)

        self.stack = install_hint_stack(self, body)

    def _wire(self) -> None:
        ms = self.model_state
        ms.model_changed.connect(self._on_model_changed)
        ms.weights_updated.connect(self._on_weights)
        self.latent_state.changed.connect(self._update_cursor)
        self.encode_btn.clicked.connect(self.encode)
        self.cancel_btn.clicked.connect(self.cancel)
        self.projection.currentIndexChanged.connect(lambda _i: self.show_map())
        self.colour.currentIndexChanged.connect(lambda _i: self._apply_colours())
        self.show_prior.toggled.connect(lambda _on: self._apply_colours())
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        # the scatter takes clicks that land on a point before the view box sees them
        self.scatter.sigClicked.connect(self._on_scatter_clicked)
        for runner in (self.jobs,):
            runner.busy_changed.connect(self._on_busy)
            runner.progress.connect(self._on_progress)
            runner.failed.connect(self._say)
        self.manifold_jobs.failed.connect(self._say)

    # -- model -------------------------------------------------------------------------
    def refresh_availability(self) -> None:
        model = self.model_state.model
        if model is None:
            self.stack.show_hint("Open or train a model to map its latent space.")
        elif not has_encoder(model):
            self.stack.show_hint(f"The latent map needs a model with an encoder (AE, VAE, β-VAE, AAE).\n"
                                 f"This {model.family} model only maps latents to images: use Projection to find "
                                 "the latent of a given image.")
        else:
            self.stack.show_hint(None)

    def _on_model_changed(self, model: object) -> None:
        self.jobs.cancel()
        self.encoded, self.coords, self.tsne, self.stale, self.hovered = None, None, None, False, None
        self.scatter.setData([], [])
        self.prior_scatter.setData([], [])
        self.cursor.setData([], [])
        self.stroke_curve.setData([], [])
        self.inset.set_array(None, "hover a\npoint")
        self.inset_text.setText("")
        self.manifold.clear("")
        self.refresh_availability()
        spec = self.model_state.spec
        self.projection.blockSignals(True)
        self.projection.clear()
        if spec is not None and spec.z_dim == 2:
            self.projection.addItem("Latent z0 × z1", MODE_LATENT)
        self.projection.addItem("PCA", MODE_PCA)
        self.projection.addItem("t-SNE", MODE_TSNE)
        self.projection.blockSignals(False)
        self.manifold.setVisible(self._manifold_applies())
        self._manifold_dirty = True
        self._auto_start()

    def on_dataset_changed(self) -> None:
        """Points of another dataset mean nothing now: clear, re-encode when seen."""
        self._auto_encoded_for = -1
        self._on_model_changed(self.model_state.model)

    def _on_weights(self) -> None:
        if self.encoded is not None and not self.stale:
            self.stale = True
            self.encode_btn.setText("Re-encode")
            self._say("The weights changed since the map was encoded: Re-encode to update it.")
        if self._manifold_applies():
            self._manifold_dirty = True
            if self.shown:
                self._manifold_timer.start()

    def _manifold_applies(self) -> bool:
        spec = self.model_state.spec
        return spec is not None and spec.z_dim == 2 and has_encoder(self.model_state.model)

    @property
    def shown(self) -> bool:
        return self.on_screen and self.isVisible()

    def set_on_screen(self, on: bool) -> None:
        self.on_screen = on
        if on:
            self._auto_start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # next turn: a dock shown as a tab behind another learns so only after this event
        QTimer.singleShot(0, self._auto_start)

    def _auto_start(self) -> None:
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
        problem = dataset_problem(model, dataset) if has_encoder(model) else "This model has no encoder."
        if problem:
            self._say(problem)
            return
        snapshot, n, generation = snapshot_model(self.model_state), self.sample.value(), self.model_state.generation
        test = dataset.test
        self._say(f"Encoding {min(n, len(test))} test images…")

        def job(ctx) -> Encoded | None:
            split = _ProgressSplit(test, min(n, len(test)), ctx)
            try:
                codes, labels, factors, indices = encode_dataset(snapshot, split, n=n, batch=250)
            except JobCancelled:
                return None
            prior = None
            if snapshot.has_prior:  # seeded: the same grey cloud each time
                prior = snapshot.sample_latents(len(codes), generator=torch.Generator().manual_seed(0)).numpy()
            return Encoded(codes, labels, factors, indices, pca_2d(codes), generation, prior)

        self.jobs.submit(job, on_done=self._on_encoded)

    def _on_encoded(self, enc: Encoded | None) -> None:
        if enc is None:
            self._say("Encoding cancelled.")
            return
        if enc.generation != self.model_state.generation:
            return  # made for a model that is gone
        self.encoded, self.tsne, self.stale = enc, None, False
        self.encode_btn.setText("Encode test set")
        self._fill_colour_choices()
        self.show_map()
        self._say(f"{len(enc.codes)} points · click one to go there · Shift+drag to draw a path")

    def cancel(self) -> None:
        self.jobs.cancel()

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_btn.setEnabled(busy)
        if busy:
            self.progress.setRange(0, 0)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(0, total))
        self.progress.setValue(done)

    def _run_tsne(self) -> None:
        enc = self.encoded
        if enc is None:
            return
        codes = enc.codes
        self._say(f"Running t-SNE on {len(codes)} points (this can take a while; Cancel stops it)…")

        def job(ctx) -> np.ndarray | None:
            return tsne_2d(codes, progress=ctx.progress, should_stop=ctx.cancelled)

        def back_to_shown() -> None:
            # the combo says what the scatter shows: back to the coordinates still on screen
            self.projection.blockSignals(True)
            self.projection.setCurrentIndex(max(0, self.projection.findData(self._shown_mode)))
            self.projection.blockSignals(False)

        def done(coords: np.ndarray | None) -> None:
            if coords is None:
                back_to_shown()
                self._say("t-SNE cancelled.")
                return
            if self.encoded is enc:
                self.tsne = coords
                self.show_map()

        self.jobs.submit(job, on_done=done, on_error=lambda _text: back_to_shown())

    def _render_manifold(self) -> None:
        spec = self.model_state.spec
        if spec is None or spec.z_dim != 2 or not has_encoder(self.model_state.model):
            return
        model = snapshot_model(self.model_state)
        self._manifold_dirty = False
        self.manifold_jobs.submit(lambda ctx: manifold_grid(model, n=15), on_done=self.manifold.set_image)

    # -- the map -----------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.projection.currentData() or MODE_PCA

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
            if self.tsne is None:
                self._run_tsne()
                return
            coords = self.tsne
        self.coords = np.ascontiguousarray(coords, np.float32)
        self._shown_mode = mode
        self.plot.setLabel("bottom", {MODE_LATENT: "z0", MODE_PCA: "PC 1", MODE_TSNE: "t-SNE 1"}[mode])
        self.plot.setLabel("left", {MODE_LATENT: "z1", MODE_PCA: "PC 2", MODE_TSNE: "t-SNE 2"}[mode])
        self._apply_colours()
        self.viewbox.autoRange(padding=0.05, items=[self.scatter])  # framed on the data, not on prior outliers
        self._update_cursor(self.latent_state.flat)
        self.map_ready.emit()

    def _show_prior(self) -> None:
        enc = self.encoded
        self.show_prior.setEnabled(enc is not None and enc.prior is not None and self._shown_mode != MODE_TSNE)
        if enc is None or enc.prior is None or not self.show_prior.isChecked() or self._shown_mode == MODE_TSNE:
            self.prior_scatter.setData([], [])
            return
        xy = enc.prior[:, :2] if self._shown_mode == MODE_LATENT else enc.pca.project(enc.prior)
        self.prior_scatter.setData(x=xy[:, 0], y=xy[:, 1])
        self.legend.setText(self.legend.text() + ("<br>" if self.legend.text() else "")
                            + "<span style='color:#888888'>■</span>&nbsp;prior samples (white dust)")

    def _fill_colour_choices(self) -> None:
        enc = self.encoded
        ds = self.dataset_provider()
        self.colour.blockSignals(True)
        current = self.colour.currentData()
        self.colour.clear()
        if enc is not None and enc.labels is not None:
            self.colour.addItem("Label", ("label", 0))
        if enc is not None and enc.factors is not None:
            names = tuple(ds.test.factor_names) if ds is not None else ()
            for j in range(enc.factors.shape[1]):
                self.colour.addItem(names[j] if j < len(names) else f"factor {j}", ("factor", j))
        self.colour.addItem("None", ("none", 0))
        i = self.colour.findData(current)
        self.colour.setCurrentIndex(max(0, i))
        self.colour.blockSignals(False)

    def _apply_colours(self) -> None:
        enc, coords = self.encoded, self.coords
        if enc is None or coords is None:
            return
        kind, j = self.colour.currentData() or ("none", 0)
        legend = ""
        if kind == "label" and enc.labels is not None:
            brushes_by = [pg.mkBrush(c) for c in PALETTE]
            brushes = [brushes_by[int(y) % len(PALETTE)] for y in enc.labels]
            ds = self.dataset_provider()
            names = ds.class_names if ds is not None else ()
            legend = " ".join(f"<span style='color:{PALETTE[int(y) % len(PALETTE)]}'>■</span>&nbsp;"
                              f"{names[int(y)] if int(y) < len(names) else int(y)}" for y in np.unique(enc.labels)[:20])
        elif kind == "factor" and enc.factors is not None:
            v = enc.factors[:, j].astype(np.float64)
            lo, hi = float(v.min()), float(v.max())
            t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
            rgba = pg.colormap.get("viridis").map(t, mode="byte")
            cache: dict[bytes, Any] = {}
            brushes = [cache.setdefault(c.tobytes(), pg.mkBrush(*c)) for c in rgba]
            legend = f"{self.colour.currentText()}: dark {lo:g} → bright {hi:g}"
        else:
            brushes = pg.mkBrush("#8ab4f8")
        self.scatter.setData(x=coords[:, 0], y=coords[:, 1], brush=brushes)
        self.legend.setText(legend)
        self._show_prior()

    def _to_map(self, flat: np.ndarray) -> tuple[float, float] | None:
        """Where a latent lies on the map (None under t-SNE, which has no such map)."""
        enc = self.encoded
        if enc is None or flat.shape[0] != enc.codes.shape[1]:
            return None
        if self.mode == MODE_LATENT:
            return float(flat[0]), float(flat[1])
        if self.mode == MODE_PCA:
            c = (flat.astype(np.float64) - enc.pca.mean) @ enc.pca.components.T.astype(np.float64)
            return float(c[0]), float(c[1])
        return None

    def _update_cursor(self, flat: np.ndarray) -> None:
        pos = self._to_map(np.asarray(flat))
        self.cursor.setData([pos[0]] if pos else [], [pos[1]] if pos else [])

    def nearest(self, x: float, y: float, radius_px: float = HIT_PX) -> int | None:
        """Index of the point nearest (x, y) in screen pixels, if within ``radius_px``."""
        if self.coords is None or not len(self.coords):
            return None
        px, py = self.viewbox.viewPixelSize()
        px, py = px or 1.0, py or 1.0
        d2 = ((self.coords[:, 0] - x) / px) ** 2 + ((self.coords[:, 1] - y) / py) ** 2
        i = int(np.argmin(d2))
        return i if d2[i] <= radius_px**2 else None

    def _latent_at(self, x: float, y: float, snap: bool = False) -> np.ndarray | None:
        """The latent at a map position: the inverse map, or the nearest code (t-SNE)."""
        enc, spec = self.encoded, self.model_state.spec
        if enc is None or spec is None:
            return None
        if self.mode == MODE_LATENT:
            flat = spec.zeros(1)[0].numpy()
            flat[0], flat[1] = x, y
            return flat
        if self.mode == MODE_PCA:
            return enc.pca.to_latent((x, y))
        if snap and self.coords is not None:
            i = int(np.argmin(((self.coords - np.array([x, y], np.float32)) ** 2).sum(1)))
            return enc.codes[i].copy()
        return None

    # -- mouse -------------------------------------------------------------------------
    def click_at(self, x: float, y: float) -> None:
        """A click at map coordinates: a point goes to its code, empty space to the inverse map."""
        i = self.nearest(x, y)
        if i is not None:
            self.select_point(i)
            return
        flat = self._latent_at(x, y)
        if flat is None:
            if self.encoded is not None:
                self._say("t-SNE positions can't be mapped back to latents: click a point.")
            return
        self.latent_state.set_flat(flat)
        self._say(f"({x:.2f}, {y:.2f}) on the {'latent plane' if self.mode == MODE_LATENT else 'PCA plane'}")

    def select_point(self, i: int) -> None:
        enc = self.encoded
        if enc is None or not 0 <= i < len(enc.codes):
            return
        self.latent_state.set_flat(enc.codes[i])
        self._say(f"Test image #{int(enc.indices[i])}{self._label_text(i)}: its code is now the slider state.")

    def _label_text(self, i: int) -> str:
        enc = self.encoded
        if enc is None or enc.labels is None:
            return ""
        y = int(enc.labels[i])
        ds = self.dataset_provider()
        return f" (label {ds.class_names[y] if ds is not None and y < len(ds.class_names) else y})"

    def _on_scatter_clicked(self, _item: object, _points: object, ev: Any) -> None:
        p = self.viewbox.mapSceneToView(ev.scenePos())
        self.click_at(p.x(), p.y())

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.coords is None or not self.viewbox.sceneBoundingRect().contains(scene_pos):
            return
        p = self.viewbox.mapSceneToView(scene_pos)
        self.hover_at(p.x(), p.y())

    def hover_at(self, x: float, y: float) -> None:
        i = self.nearest(x, y)
        if i is None or i == self.hovered:
            return
        self.hovered = i
        ds, enc = self.dataset_provider(), self.encoded
        if ds is None or enc is None:
            return
        index = int(enc.indices[i])
        image = ds.test.batch(torch.tensor([index]))[0]
        self.inset.set_array(to_display(image))
        self.inset_text.setText(f"test #{index}{self._label_text(i)}")

    def stroke_start(self, x: float, y: float) -> None:
        self._stroke = []

    def stroke_add(self, x: float, y: float) -> None:
        self._stroke.append((x, y))
        s = np.asarray(self._stroke, np.float32)
        self.stroke_curve.setData(s[:, 0], s[:, 1])

    def stroke_finish(self) -> LatentPath | None:
        """Turn the drawn stroke into a path: keyframes evenly spaced along it."""
        pts, self._stroke = np.asarray(self._stroke, np.float64), []
        model = self.model_state.model
        if model is None or self.encoded is None or len(pts) < 2:
            return None
        seg = np.sqrt((np.diff(pts, axis=0) ** 2).sum(1))
        along = np.concatenate([[0.0], np.cumsum(seg)])
        if along[-1] <= 0:
            return None
        at = np.linspace(0.0, along[-1], STROKE_KEYFRAMES)
        xs, ys = np.interp(at, along, pts[:, 0]), np.interp(at, along, pts[:, 1])
        keys: list[np.ndarray] = []
        for x, y in zip(xs, ys):
            flat = self._latent_at(float(x), float(y), snap=True)
            if flat is not None and not (keys and np.array_equal(keys[-1], flat)):
                keys.append(flat)
        if len(keys) < 2:
            self._say("Draw a longer stroke: it passed too few distinct points.")
            return None
        with self.model_state.lock:
            # linear: the stroke lies in a plane of the latent space (latent dims or PCA)
            path = path_from_keyframes(model, keys, kind="linear", checkpoint=self.model_state.source)
        self.path_drawn.emit(path)
        self._say(f"Drawn path with {len(keys)} keyframes sent to the Paths panel.")
        return path

    # -- misc --------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.status.emit(text)

    def shutdown(self) -> None:
        self._manifold_timer.stop()
        self.jobs.shutdown()
        self.manifold_jobs.shutdown()
