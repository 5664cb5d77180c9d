"""The latent map's plot: the scatter of encoded points, the prior's samples behind them, a
marker at the current latent and the stroke being drawn, plus the colours of the points.

The scatter is one ScatterPlotItem made once and fed with setData. A left click and a
shift+left drag are the panel's (reported as signals, in map coordinates); other mouse
input pans and zooms as usual. An Export button in the plot's top right corner saves the map
as it is shown (PNG, SVG) and its points as numbers (CSV: the table the panel gives).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QResizeEvent

from ...widgets.view_export import ExportButton, plot_png, plot_svg, table_csv_format
from .coordinates import MODE_LATENT, MODE_PCA, MODE_TSNE, MODE_UMAP
from .jobs import Encoded

#: categorical colours (label i -> PALETTE[i % 10]), Tableau 10
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
#: (bottom, left) axis titles in each kind of map coordinates
AXIS_LABELS = {MODE_LATENT: ("z0", "z1"), MODE_PCA: ("PC 1", "PC 2"), MODE_TSNE: ("t-SNE 1", "t-SNE 2"),
               MODE_UMAP: ("UMAP 1", "UMAP 2")}


class MapViewBox(pg.ViewBox):
    """Pan/zoom as usual; a left click and a shift+left drag are reported instead."""

    #: a left click at (x, y) in map coordinates
    clicked = Signal(float, float)
    #: shift+drag: the stroke starts, passes a point, ends
    stroke_started = Signal(float, float)
    stroke_moved = Signal(float, float)
    stroke_finished = Signal()

    def __init__(self) -> None:
        super().__init__(enableMenu=False)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt naming
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.clicked.emit(p.x(), p.y())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            if ev.isStart():
                self.stroke_started.emit(p.x(), p.y())
            self.stroke_moved.emit(p.x(), p.y())
            if ev.isFinish():
                self.stroke_finished.emit()
        else:
            super().mouseDragEvent(ev, axis)


class MapPlot(pg.PlotWidget):
    """The map's plot widget and its items (``scatter``, ``prior_scatter``, ``marker`` at
    the current latent, ``stroke_curve``) in the view box ``viewbox``."""

    def __init__(self, points_table: Callable[[], dict[str, Any] | None] = lambda: None) -> None:
        viewbox = MapViewBox()
        super().__init__(viewBox=viewbox)
        self.viewbox = viewbox
        self.setBackground("#1e1f22")
        self.showGrid(x=True, y=True, alpha=0.15)
        self.setMinimumSize(240, 160)
        for axis in ("bottom", "left"):
            self.getAxis(axis).enableAutoSIPrefix(False)  # "z0", not "z0 (x0.001)"
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, pxMode=True)
        # a light dust over the codes: a mismatch shows as dust where no colour is (and the reverse)
        self.prior_scatter = pg.ScatterPlotItem(size=2.5, pen=None, brush=pg.mkBrush(255, 255, 255, 120), pxMode=True)
        self.prior_scatter.setZValue(5)
        self.prior_scatter.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks go to the codes below
        self.marker = pg.ScatterPlotItem(size=15, symbol="o", pen=pg.mkPen("w", width=2), brush=None, pxMode=True)
        self.marker.setZValue(10)
        self.stroke_curve = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=2, style=Qt.PenStyle.DashLine))
        self.stroke_curve.setZValue(11)
        for item in (self.prior_scatter, self.scatter, self.marker, self.stroke_curve):
            self.addItem(item)
        # over the plot's corner, so the panel's controls keep their room; a widget, so never in an export
        has_points = {"ready": lambda: len(self.scatter.data) > 0, "empty": "No points on the map yet: Encode first."}
        self.export_btn = ExportButton([plot_png("Map as PNG…", "latent-map.png", self._plots, **has_points),
                                        plot_svg("Map as SVG…", "latent-map.svg", self._plots, **has_points), None,
                                        table_csv_format("Points as CSV…", "latent-map.csv", points_table,
                                                         **has_points)],
                                       parent=self)
        self.export_btn.setStyleSheet("QToolButton { background: rgba(40, 41, 45, 200); color: #c8c8c8; "
                                      "border: 1px solid #3a3b3e; padding: 1px 6px; }")

    def _plots(self) -> list[pg.PlotItem]:
        return [self.getPlotItem()]

    def resizeEvent(self, ev: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(ev)
        button = getattr(self, "export_btn", None)  # None while the base class is being set up
        if button is not None:
            hint = button.sizeHint()
            button.setGeometry(self.width() - hint.width() - 6, 6, hint.width(), hint.height())

    def clear_points(self) -> None:
        """Empty map: no points, prior, marker or stroke."""
        self.scatter.setData([], [])
        self.prior_scatter.setData([], [])
        self.marker.setData([], [])
        self.stroke_curve.setData([], [])

    def set_axes(self, mode: str) -> None:
        bottom, left = AXIS_LABELS[mode]
        self.setLabel("bottom", bottom)
        self.setLabel("left", left)

    def frame_points(self) -> None:
        """Zoom to the encoded points (not to outliers of the prior's samples)."""
        self.viewbox.autoRange(padding=0.05, items=[self.scatter])

    def set_marker(self, pos: tuple[float, float] | None) -> None:
        self.marker.setData([pos[0]] if pos else [], [pos[1]] if pos else [])

    def set_stroke(self, points: np.ndarray) -> None:
        self.stroke_curve.setData(points[:, 0], points[:, 1])

    def pixel_size(self) -> tuple[float, float]:
        """Map units per screen pixel on each axis."""
        return self.viewbox.viewPixelSize()

    def to_map(self, scene_pos: QPointF) -> tuple[float, float]:
        p = self.viewbox.mapSceneToView(scene_pos)
        return p.x(), p.y()


def point_brushes(enc: Encoded, kind: str, j: int, class_names: Sequence[str], factor_name: str) -> tuple[Any, str]:
    """Brushes for the encoded points coloured by ``kind`` ("label", "factor" number ``j``, or
    "none") and the legend (HTML) that explains them."""
    if kind == "label" and enc.labels is not None:
        brushes_by = [pg.mkBrush(c) for c in PALETTE]
        brushes = [brushes_by[int(y) % len(PALETTE)] for y in enc.labels]
        legend = " ".join(f"<span style='color:{PALETTE[int(y) % len(PALETTE)]}'>■</span>&nbsp;"
                          f"{class_names[int(y)] if int(y) < len(class_names) else int(y)}"
                          for y in np.unique(enc.labels)[:20])
        return brushes, legend
    if kind == "factor" and enc.factors is not None:
        v = enc.factors[:, j].astype(np.float64)
        lo, hi = float(v.min()), float(v.max())
        t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
        rgba = pg.colormap.get("viridis").map(t, mode="byte")
        cache: dict[bytes, Any] = {}
        brushes = [cache.setdefault(c.tobytes(), pg.mkBrush(*c)) for c in rgba]
        return brushes, f"{factor_name}: dark {lo:g} → bright {hi:g}"
    return pg.mkBrush("#8ab4f8"), ""


def points_columns(enc: Encoded, coords: np.ndarray, axis_names: Sequence[str], class_names: Sequence[str],
                   factor_names: Sequence[str]) -> dict[str, Any]:
    """The encoded points as columns, a row per test image: its index in the test set, its
    label and class name and its factors where the data has them, its two map coordinates
    (named as the axes) and its whole code."""
    table: dict[str, Any] = {"test_index": enc.indices}
    if enc.labels is not None:
        table["label"] = enc.labels
        if class_names:  # indexed in numpy: 100,000 points on the GUI thread take a millisecond
            names = np.asarray([*class_names, ""], dtype=object)
            labels = np.asarray(enc.labels, np.int64)
            table["class"] = names[np.where((labels >= 0) & (labels < len(class_names)), labels, len(class_names))]
    if enc.factors is not None:
        for j in range(enc.factors.shape[1]):
            table[factor_label(factor_names, j)] = enc.factors[:, j]
    for axis, name in enumerate(axis_names):
        table[f"map {name}"] = coords[:, axis]
    table.update({f"code {d}": enc.codes[:, d] for d in range(enc.codes.shape[1])})
    return table


def factor_label(names: Sequence[str], j: int) -> str:
    """Factor ``j``'s name, or "factor j" where the data names fewer."""
    return names[j] if j < len(names) else f"factor {j}"
