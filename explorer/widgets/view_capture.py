"""Capturing what a view shows and encoding it, for :mod:`.view_export`: a pyqtgraph plot
rendered to pixels (through pyqtgraph's ImageExporter) or to SVG (its SVGExporter), several
plots stacked into one image or document, a widget's drawn area, and curves as a CSV table.

Rendering and SVG run on the GUI thread (Qt paints scenes there only); :func:`curves_csv`
and the PNG encoding that follows a capture are pure and run on the export worker.

CSV is written here rather than by pyqtgraph's CSVExporter, which gives each curve its own
x column of whatever it draws (smoothed, downsampled, log-filtered). A user opening the file
in pandas wants one ``step`` column and one column per curve of the values that came in,
empty where a curve has no point at that step (validation runs every few steps).
"""
from __future__ import annotations

import csv
import importlib
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6.QtCore import QRect, QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget

#: a plot's PNG has this many pixels per pixel on screen (a "2x" screenshot: sharp text, same layout)
PLOT_SCALE = 2.0
#: pixels kept around a widget's children when it is exported
WIDGET_MARGIN = 4
#: what renders as a plot: a PlotItem (axes, curves, legend) or a bare ViewBox (an image with labels)
PlotLike = pg.GraphicsWidget


def qimage_to_array(image: QImage) -> np.ndarray:
    """A QImage as a fresh uint8 (H, W, 3) RGB array."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = rgb.width(), rgb.height()
    rows = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.sizeInBytes()).reshape(h, rgb.bytesPerLine())
    return rows[:, : w * 3].reshape(h, w, 3).copy()


def content_rect(widget: QWidget, margin: int = WIDGET_MARGIN) -> QRect:
    """The part of ``widget`` its visible children cover, ``margin`` pixels around, inside the widget."""
    return widget.childrenRect().adjusted(-margin, -margin, margin, margin).intersected(widget.rect())


def render_plot(plot: PlotLike, scale: float = PLOT_SCALE) -> np.ndarray:
    """``plot`` (axes, grid, curves, legend) as uint8 (H, W, 3) at ``scale`` image pixels per
    screen pixel, antialiased, as a screen of that pixel ratio would show it.

    pyqtgraph's ImageExporter picks the area, the background and the items' export mode; the
    painting is done here on an image of that device pixel ratio, because the exporter's own
    enlargement scales the axes' text but not the legend's, nor symbol sizes consistently."""
    exporter = ImageExporter(plot)
    source = exporter.getSourceRect()
    w, h = source.width(), source.height()
    image = QImage(max(1, round(w * scale)), max(1, round(h * scale)), QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(scale)
    image.fill(exporter.parameters()["background"])
    painter = QPainter(image)
    try:
        # resolutionScale 1: the device pixel ratio already scales what the items draw
        exporter.setExportMode(True, {"antialias": True, "background": exporter.parameters()["background"],
                                      "painter": painter, "resolutionScale": 1.0})
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        exporter.getScene().render(painter, QRectF(0, 0, w, h), source)
    finally:
        exporter.setExportMode(False)
        painter.end()
    return qimage_to_array(image)


def render_plots(plots: Sequence[PlotLike], scale: float = PLOT_SCALE) -> np.ndarray:
    """Plots rendered one under the other (plots that share an x axis stay aligned)."""
    if not plots:
        raise ValueError("no plot to render")
    images = [render_plot(p, scale) for p in plots]
    width = max(a.shape[1] for a in images)
    background = images[0][0, 0]
    padded = [a if a.shape[1] == width else
              np.concatenate([a, np.broadcast_to(background, (a.shape[0], width - a.shape[1], 3))], axis=1)
              for a in images]
    return np.concatenate(padded, axis=0)


def plots_svg(plots: Sequence[PlotLike]) -> bytes:
    """Plots as one SVG document, one under the other, each drawn by pyqtgraph's SVGExporter
    (vector curves, axes and text at the size on screen)."""
    if not plots:
        raise ValueError("no plot to export")
    _allow_closed_svg_paths()
    parts, y, width, style = [], 0.0, 0.0, ""
    for i, plot in enumerate(plots):
        rect = plot.sceneBoundingRect()
        with _whole_curves(plot):
            text = SVGExporter(plot).export(toBytes=True).decode("utf-8")
        style = style or "".join(re.findall(r"<style>.*?</style>", text, re.DOTALL))
        parts.append(_svg_group(text, f"p{i}_", y, rect.width(), rect.height()))
        y += rect.height()
        width = max(width, rect.width())
    # SVG Tiny, as pyqtgraph writes it: Qt's own renderer reads only that profile
    head = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.2" '
            f'baseProfile="tiny" width="{width:g}" height="{y:g}" viewBox="0 0 {width:g} {y:g}">\n'
            "<title>Latent Explorer plot</title>\n")
    return (head + style + "\n" + "".join(parts) + "</svg>\n").encode("utf-8")


@contextmanager
def _whole_curves(plot: PlotLike) -> Iterator[None]:
    """Each curve in ``plot`` drawn as one path for the ``with`` body. On screen pyqtgraph draws
    a thick curve as separate segments (faster there); in an SVG that is an element per
    segment, and the exporter's pass over thousands of them takes seconds."""
    curves, stack = [], [plot]
    while stack:
        item = stack.pop()
        if isinstance(item, pg.PlotCurveItem):
            curves.append(item)
        stack.extend(item.childItems())
    modes = [c.opts["segmentedLineMode"] for c in curves]
    for c in curves:
        c.opts["segmentedLineMode"] = "off"  # not setSegmentedLineMode: that schedules a repaint
    try:
        yield
    finally:
        for c, mode in zip(curves, modes):
            c.opts["segmentedLineMode"] = mode


def _svg_group(text: str, prefix: str, y: float, width: float, height: float) -> str:
    """One exported plot's SVG as a group moved down by ``y`` (Tiny has no nested <svg>), its
    ids prefixed (each export names its items ViewBox_1, ... and clips by those names) and
    its full-page background sized to the plot."""
    body = text[text.index(">", text.index("<svg")) + 1: text.rindex("</svg>")]
    body = re.sub(r"<(title|desc|style)>.*?</\1>", "", body, flags=re.DOTALL)
    body = body.replace('<rect width="100%" height="100%"', f'<rect width="{width:g}" height="{height:g}"', 1)
    body = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}\1"', body)
    body = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}\1)", body)
    body = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}\1"', body)
    return f'<g transform="translate(0,{y:g})">{body}</g>\n'


def curves_csv(series: Mapping[str, tuple[np.ndarray, np.ndarray]], x_name: str = "step") -> bytes:
    """Curves as one table: an ``x_name`` column of every x any curve has (ascending), then
    one column per curve, named as the curve, empty where the curve has no point at that x
    (pandas reads it as NaN). A curve given two values at one x keeps the later one (a run
    resumed from an earlier checkpoint repeats steps). Values are written in full (``repr``)."""
    xs = [np.asarray(x, np.float64) for x, _ in series.values()]
    steps = np.unique(np.concatenate(xs)) if xs else np.empty(0)
    table = np.full((len(steps), 1 + len(series)), np.nan)
    table[:, 0] = steps
    for j, (x, y) in enumerate(series.values(), start=1):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        last = len(x) - 1 - np.unique(x[::-1], return_index=True)[1]  # the later of repeated x
        table[np.searchsorted(steps, x[last]), j] = y[last]
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow([x_name, *series])  # quotes a name with a comma
    # one %-format per row: far faster than a csv writer call per row for a long run
    row = ("%d" if np.all(steps == np.round(steps)) else "%r") + ",%r" * len(series)
    body = "".join(row % tuple(r) + "\n" for r in table.tolist()).replace("nan", "")
    return (head.getvalue() + body).encode("utf-8")


def table_csv(columns: Mapping[str, np.ndarray | Sequence[str]]) -> bytes:
    """Equal-length columns as one CSV table, a row per point: numbers in full (``repr``;
    integers as integers), text quoted where it needs to be (a class name with a comma)."""
    names = list(columns)
    cells = []
    for name in names:
        col = columns[name]
        arr = np.asarray(col)
        if arr.dtype.kind in "iub":
            cells.append([str(int(v)) for v in arr.tolist()])
        elif arr.dtype.kind == "f":
            cells.append([repr(float(v)) if np.isfinite(v) else "" for v in arr.tolist()])
        else:
            cells.append([str(v) for v in arr.tolist()])
    if len({len(c) for c in cells}) > 1:
        raise ValueError(f"columns of different lengths: {dict(zip(names, map(len, cells)))}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(zip(*cells))
    return out.getvalue().encode("utf-8")


def _allow_closed_svg_paths() -> None:
    """pyqtgraph 0.14's SVG exporter reads every path as "x,y" pairs, but Qt 6.10+ closes
    rectangles (a plot's clip area) with a bare "Z" and the exporter raises. Rewriting each
    "Z" as a line back to its subpath's start draws the same shape; done once, before
    pyqtgraph's own coordinate correction, and harmless where a newer pyqtgraph parses "Z"."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    correct = getattr(module, "correctCoordinates", None)
    if correct is None or getattr(correct, "closes_paths", False):
        return

    def correct_closed(node, defs, item, options):
        for path in node.getElementsByTagName("path"):
            d = path.getAttribute("d")
            if "Z" in d or "z" in d:
                path.setAttribute("d", _close_as_lines(d))
        return correct(node, defs, item, options)

    correct_closed.closes_paths = True  # type: ignore[attr-defined]
    module.correctCoordinates = correct_closed


def _close_as_lines(d: str) -> str:
    """SVG path data with each close ("Z") replaced by a line to the subpath's start."""
    out, start = [], None
    for token in d.split():
        if token in ("Z", "z"):
            if start is not None:
                out.append(f"L{start}")
            continue
        if token[:1] == "M":
            start = token[1:]
        out.append(token)
    return " ".join(out)
