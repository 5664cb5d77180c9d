"""Loss curves and preview images of the current training run.

Cheap by construction, because every millisecond the GUI spends here is taken from
training on a 2-core machine:

* one PlotDataItem per loss term, created the first time the term appears, then only
  ``setData``; points are buffered in numpy arrays that grow by doubling;
* redraws happen on a ~10 Hz timer and only when points arrived since the last one;
  the timer stops itself when the run goes quiet;
* clip-to-view and peak downsampling keep long runs cheap to draw;
* preview grids are bare ImageItems refreshed once per snapshot.

Its Export button saves the curves (PNG, SVG, CSV of the values as they came in) and the
preview grids (PNG), through :mod:`explorer.widgets.view_export`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from models.io.images import grid
from models.training.loop import StepMetrics

from ..widgets.image_view import BACKGROUND, ImageGrid
from ..widgets.layout import check_box, double_spin_box
from ..widgets.view_export import ExportButton, ExportFormat, array_png, curves_csv_format, plot_png, plot_svg
from .training_curves import ADVERSARIAL_TERMS, QUALITY_SERIES, STAGE_TERMS, Series, drawn, finite, stage_prefix

if TYPE_CHECKING:
    import torch

REDRAW_INTERVAL_MS = 100


class TrainingView(QWidget):
    """Curves on the left, sample grid and reconstructions on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # -- curves
        self.plot_widget = pg.PlotWidget(background=BACKGROUND)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setClipToView(True)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setMenuEnabled(False)
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="8pt", colCount=2)
        self.legend.setBrush(pg.mkBrush(30, 31, 34, 200))  # readable over the curves
        # the adversarial terms' plot, shown only for models that also have a likelihood (AAE)
        self.adv_plot_widget, self.adv_plot, self.adv_legend = self._side_plot("adversarial")
        self.split_adversarial = False
        # the samples' inception score at each checkpoint, shown when the run scores them
        self.quality_plot_widget, self.quality_plot, self.quality_legend = self._side_plot("sample IS")
        self.quality_plot_widget.setToolTip("Inception score of 2,000 samples (the dataset's classifier) at each checkpoint;\n"
                                            "the best checkpoint is the one of lowest sample FID")
        self.log_scale = check_box("Log scale", tooltip="Logarithmic loss axis (terms that go negative, "
                                                        "e.g. a WGAN critic, are hidden)")
        self.log_scale.toggled.connect(self._on_log_toggled)
        self.smoothing = double_spin_box(0.0, 0.99, 0.6, decimals=2, step=0.1,
                                         tooltip="Exponential moving average of the curves (0 = raw values)")
        self.smoothing.valueChanged.connect(lambda _: self._mark_dirty())
        self.summary = QLabel("No training run yet")
        self.summary.setStyleSheet("color: #9aa0a6;")
        # long summaries are cut, not allowed to widen the dock (and the window's minimum)
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        controls = QHBoxLayout()
        controls.addWidget(self.log_scale)
        controls.addStretch(1)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing)
        self.export_btn = ExportButton(self._export_formats())
        controls.addWidget(self.export_btn)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(2)
        left_layout.addLayout(controls)
        left_layout.addWidget(self.plot_widget, 3)
        left_layout.addWidget(self.adv_plot_widget, 2)
        left_layout.addWidget(self.quality_plot_widget, 2)
        left_layout.addWidget(self.summary)

        # -- previews
        self.preview_widget = pg.GraphicsLayoutWidget()
        self.preview_widget.setBackground(BACKGROUND)
        layout = self.preview_widget.ci
        layout.setContentsMargins(2, 2, 2, 2)
        self.samples = ImageGrid(layout, "Samples (fixed noise)", row=0, col=0)
        self.recons = ImageGrid(layout, "Test images / reconstructions", row=0, col=1)
        self._preview_layout = layout
        # until a run says whether its model has an encoder, the samples take the whole area
        # (a GAN's form must not promise reconstructions)
        self.set_reconstructions_shown(False)
        self.preview_widget.setMinimumWidth(200)
        self.preview_widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.preview_widget)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 5)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(splitter)

        self.series: dict[str, Series] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False
        self.redraws = 0
        self.preview_columns = 8
        #: metrics records shown by show_history / extend_history since the last reset
        self.history_records = 0
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._redraw)

    def _side_plot(self, left_label: str) -> tuple[pg.PlotWidget, pg.PlotItem, pg.LegendItem]:
        """A plot under the loss plot, sharing its step axis; hidden until a run needs it."""
        widget = pg.PlotWidget(background=BACKGROUND)
        plot = widget.getPlotItem()
        plot.setLabel("bottom", "step")
        plot.setLabel("left", left_label)
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        plot.setMenuEnabled(False)
        plot.setXLink(self.plot)
        legend = plot.addLegend(offset=(-10, 10), labelTextSize="8pt", colCount=2)
        legend.setBrush(pg.mkBrush(30, 31, 34, 200))
        widget.setVisible(False)
        return widget, plot, legend

    def _export_formats(self) -> list[ExportFormat | None]:
        """The Export menu: the curves as drawn (PNG, SVG) and as numbers (CSV), and the previews."""
        has_curves = {"ready": lambda: self.point_count() > 0, "empty": "No curves to export yet."}
        return [
            plot_png("Loss curves as PNG…", "loss-curves.png", self.shown_plots, **has_curves),
            plot_svg("Loss curves as SVG…", "loss-curves.svg", self.shown_plots, **has_curves),
            curves_csv_format("Loss curves as CSV…", "loss-curves.csv", self.curve_values, **has_curves),
            None,
            array_png("Samples as PNG…", "samples.png", lambda: self.samples.item.image, empty="No samples yet."),
            array_png("Reconstructions as PNG…", "reconstructions.png",
                      lambda: self.recons.item.image if self.reconstructions_shown else None,
                      empty="No reconstructions yet."),
        ]

    def shown_plots(self) -> list[pg.PlotItem]:
        """The plots on screen, top to bottom (the side plots only when the run has them)."""
        side = [(self.adv_plot_widget, self.adv_plot), (self.quality_plot_widget, self.quality_plot)]
        return [self.plot] + [plot for widget, plot in side if not widget.isHidden()]

    def curve_values(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every curve's steps and values as they came in (not smoothed, not log-filtered)."""
        return {name: (s.x[: s.n], s.y[: s.n]) for name, s in self.series.items()}

    def set_reconstructions_shown(self, shown: bool) -> None:
        """Models without an encoder (GANs) have no reconstructions: their samples take the
        whole preview area instead of sharing it with an empty slot."""
        self.reconstructions_shown = shown
        # 8 sample columns beside 4 reconstruction columns: 3:2 keeps their tiles of similar size
        self._preview_layout.layout.setColumnStretchFactor(0, 3)
        self._preview_layout.layout.setColumnStretchFactor(1, 2 if shown else 0)
        for item in (self.recons.label, self.recons.viewbox):
            item.setVisible(shown)
            item.setMaximumWidth(1e6 if shown else 0)

    # -- feeding -----------------------------------------------------------------------
    def reset(self, preview_columns: int = 8, reconstructions: bool = True, samples_title: str = "Samples (fixed noise)") -> None:
        """A new run: drop old curves and previews (``reconstructions``: whether the model
        has an encoder, so test images and their reconstructions will come)."""
        for name, curve in self.curves.items():
            self._plot_of(name).removeItem(curve)
        self.legend.clear()
        self.adv_legend.clear()
        self.quality_legend.clear()
        self.split_adversarial = False
        self.adv_plot_widget.setVisible(False)
        self.quality_plot_widget.setVisible(False)
        self.plot.setLabel("bottom", "step")
        self.series.clear()
        self.curves.clear()
        self.samples.clear()
        self.recons.clear()
        self.samples.label.setText(samples_title)
        self.recons.label.setText("Test images / reconstructions")
        self.preview_columns = preview_columns
        self.set_reconstructions_shown(reconstructions)
        self.summary.setText("Starting…")
        self.history_records = 0

    def add_metrics(self, batch: list[StepMetrics]) -> None:
        for m in batch:
            self._note_terms(m.terms)
            for name, value in m.terms.items():
                if drawn(name):
                    self._series(name).append(m.step, value)
            for name, value in (m.validation or {}).items():
                if drawn(f"val {name}"):
                    self._series(f"val {name}").append(m.step, value)
            if m.terms:
                self.summary.setText(stage_prefix(m.terms) + "   ".join(
                    f"{k} {v:.4g}" for k, v in m.terms.items() if k not in STAGE_TERMS) + f"   (step {m.step})")
        previews = next((m.previews for m in reversed(batch) if m.previews), None)
        if previews is not None:
            self.show_previews(previews)
        self._mark_dirty()

    def show_history(self, records: list[dict], title: str, samples: np.ndarray | None = None) -> None:
        """A past run's curves (its metrics.jsonl records: step, epoch, seconds and the
        terms, validation ones prefixed ``val_``) and its newest sample grid (uint8 image),
        shown when a run or one of its checkpoints is opened."""
        self.reset(reconstructions=False)  # the run folder keeps sample grids only
        self.extend_history(records, title)
        if samples is not None:
            self.show_sample_grid(samples, "Samples (last saved grid)")

    def extend_history(self, records: list[dict], title: str | None = None) -> None:
        """More of a run's metrics.jsonl records (as ``show_history`` takes them) added to
        the curves: a run another process is writing grows this way. With ``title`` (the
        run's name) the summary says how far the run has come."""
        last = None
        for r in records:  # a file's records: anything that is not a finite number is left out
            step = r.get("step") if isinstance(r, dict) else None
            if not finite(step):
                continue
            self._note_terms([str(k) for k in r])
            for key, value in r.items():
                if key in ("step", "epoch", "seconds") or not isinstance(key, str) or not finite(value):
                    continue
                name = f"val {key[4:]}" if key.startswith("val_") else key
                if drawn(name):
                    self._series(name).append(step, float(value))
            last = r
        self.history_records += len(records)
        if title is not None and last is not None:
            epoch = last.get("epoch")
            stage = stage_prefix(last).strip()
            self.summary.setText(f"{title}: {self.history_records} logs up to step {last.get('step')}"
                                 + (f", epoch {epoch:.2f}" if finite(epoch) else "") + (f", {stage}" if stage else ""))
        elif title is not None and self.history_records == 0:
            self.summary.setText(f"{title}: no metrics recorded")
        self._mark_dirty()

    def show_sample_grid(self, image: np.ndarray, title: str = "Samples (newest grid)") -> None:
        """A sample grid as a run folder keeps it (a uint8 image), in place of the samples preview."""
        self.samples.set_image(_grey(image))
        self.samples.label.setText(title)

    def show_previews(self, previews: dict) -> None:
        samples = previews.get("samples")
        if samples is not None:
            self.samples.set_image(_grey(grid(samples, ncol=self.preview_columns)))
        originals, recons = previews.get("originals"), previews.get("reconstructions")
        if originals is not None and recons is not None:
            if not self.reconstructions_shown:  # reconstructions came: the model has an encoder after all
                self.set_reconstructions_shown(True)
            self.recons.set_image(_grey(grid(_pairs(originals, recons), ncol=4)))
            self.recons.label.setText("Test images / reconstructions")
        elif samples is not None:
            self.recons.label.setText("No encoder: no reconstructions")

    def _series(self, name: str) -> Series:
        s = self.series.get(name)
        if s is None and name in QUALITY_SERIES:
            s = self.series[name] = Series()
            # one point per checkpoint: markers, and never smoothed (see _redraw)
            curve = self.quality_plot.plot([], [], pen=pg.mkPen("#e0b050", width=1.5), symbol="o", symbolSize=5,
                                           symbolBrush="#e0b050")  # one curve: the axis names it
            self.curves[name] = curve
            self.quality_plot_widget.setVisible(True)
            self.plot.setLabel("bottom", "")  # the plot below says "step"
            return s
        if s is None:
            s = self.series[name] = Series()
            validation = name.startswith("val ")
            base = name[4:] if validation else name
            color = pg.intColor(self._color_index(base), hues=9, values=1, maxValue=230, sat=200)
            pen = pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine if validation else Qt.PenStyle.SolidLine)
            curve = self._plot_of(name).plot([], [], pen=pen, name=name)
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            self.curves[name] = curve
        return s

    def _note_terms(self, names) -> None:
        """A run whose terms mix a likelihood with the adversarial game gets the second plot
        (decided from its first record, before any curve exists)."""
        if self.split_adversarial or self.series:
            return
        terms = {n for n in names if n not in ("step", "epoch", "seconds") and not n.startswith("val") and n not in STAGE_TERMS}
        if terms & ADVERSARIAL_TERMS and terms - ADVERSARIAL_TERMS:
            self.split_adversarial = True
            self.adv_plot_widget.setVisible(True)
            self.plot.setLabel("bottom", "")  # the plot below (same x) says "step"

    def _plot_of(self, name: str) -> pg.PlotItem:
        if name in QUALITY_SERIES:
            return self.quality_plot
        return self.adv_plot if self.split_adversarial and name in ADVERSARIAL_TERMS else self.plot

    def _color_index(self, base: str) -> int:
        bases = [n for n in self.series if not n.startswith("val ")]
        return bases.index(base) if base in bases else len(bases)

    # -- drawing -----------------------------------------------------------------------
    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def _redraw(self) -> None:
        if not self._dirty:
            self._timer.stop()  # nothing new: sleep until the next point arrives
            return
        self._dirty = False
        alpha = self.smoothing.value()
        log = self.log_scale.isChecked()
        for name, s in self.series.items():
            quality = name in QUALITY_SERIES
            y = s.smoothed(0.0 if quality else alpha)  # a checkpoint's score is a measurement, not noise
            x = s.x[: s.n]
            if log and not quality:  # log10 of non-positive values is undefined: leave those points out
                keep = y > 0
                x, y = x[keep], y[keep]
            self.curves[name].setData(x.copy(), y.copy())
        self.redraws += 1

    def _on_log_toggled(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self.adv_plot.setLogMode(y=on)
        self._mark_dirty()

    def point_count(self) -> int:
        return sum(s.n for s in self.series.values())

    def stop_timers(self) -> None:
        self._timer.stop()


def _pairs(originals: "torch.Tensor", recons: "torch.Tensor", per_row: int = 4) -> "torch.Tensor":
    """Interleave rows of originals with rows of their reconstructions (each original sits
    right above its reconstruction), so 8 pairs make a square 4x4 grid."""
    import torch

    n = min(len(originals), len(recons), 8)
    rows = []
    for a in range(0, n, per_row):
        b = min(n, a + per_row)
        rows += [originals[a:b], recons[a:b].clamp(0, 1)]
    return torch.cat(rows)


def _grey(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
