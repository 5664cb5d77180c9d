"""How long does exporting a view take, and how much of it is on the GUI thread?

The Export button captures on the GUI thread (a plot rendered at 2x, its SVG, a copy of an
image) and encodes and writes on a worker. This times each part for sizes a user meets: the
loss plot of a long run (``--points`` steps of ``--curves`` terms), a large image grid
(``--grid`` pixels square, RGB, e.g. a 25 x 25 traversal of 64 px tiles), and the CSV of that
run's curves.

Prints ONE JSON object: seconds per part (median of ``--repeat``), split into "gui" and "worker".

    QT_QPA_PLATFORM=offscreen python benchmarks/view_export.py [--points 200000] [--curves 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import numpy as np


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--curves", type=int, default=5)
    parser.add_argument("--grid", type=int, default=1650)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from explorer.panels.training_view import TrainingView
    from explorer.widgets import view_capture as ve
    from models.io.images import save_png

    view = TrainingView()
    view.resize(900, 360)
    view.show()
    app.processEvents()
    steps = np.arange(1, args.points + 1, dtype=np.float64)
    rng = np.random.default_rng(0)
    for c in range(args.curves):
        s = view._series(f"term{c}")
        for x, y in zip(steps, 10.0 / np.sqrt(steps) + rng.normal(0, 0.1, len(steps))):
            s.append(x, y)
    view._mark_dirty()
    view._redraw()
    app.processEvents()
    plots = view.shown_plots()
    image = rng.integers(0, 256, (args.grid, args.grid, 3), dtype=np.uint8)
    values = {k: (v[0].copy(), v[1].copy()) for k, v in view.curve_values().items()}
    rendered = ve.render_plots(plots)
    with tempfile.TemporaryDirectory() as tmp:
        out = {
            "points_per_curve": args.points, "curves": args.curves, "grid_pixels": [args.grid, args.grid],
            "gui": {
                "plot_png_render_s": timed(lambda: ve.render_plots(plots), args.repeat),
                "plot_svg_s": timed(lambda: ve.plots_svg(plots), args.repeat),
                "image_copy_s": timed(lambda: np.array(image, np.uint8), args.repeat),
                "curves_copy_s": timed(lambda: {k: (np.array(x), np.array(y)) for k, (x, y) in
                                                view.curve_values().items()}, args.repeat),
            },
            "worker": {
                "plot_png_write_s": timed(lambda: save_png(rendered, Path(tmp) / "plot.png"), args.repeat),
                "grid_png_write_s": timed(lambda: save_png(image, Path(tmp) / "grid.png"), args.repeat),
                "curves_csv_write_s": timed(lambda: (Path(tmp) / "c.csv").write_bytes(ve.curves_csv(values)),
                                            args.repeat),
            },
        }
    view.stop_timers()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
