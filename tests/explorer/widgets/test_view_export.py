"""Export of what the views show: curves as PNG, SVG and CSV, previews, the latent map and
Compare's grids as PNG, through the Export button and its save dialog."""
from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PIL import Image

from explorer.panels.training_view import TrainingView
from explorer.widgets import view_capture, view_export
from explorer.widgets.view_capture import curves_csv
from explorer.widgets.view_export import ExportButton
from models.training.loop import StepMetrics

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def dialog(monkeypatch, tmp_path):
    """The save dialog, answered without blocking: each call records (title, suggested path,
    filter) and returns the next answer (a file under tmp_path, or None: cancelled)."""
    calls: list[tuple[str, Path, str]] = []
    answers: list[str | None] = []

    def ask(parent, title, suggested, file_filter):
        calls.append((title, Path(suggested), file_filter))
        return answers.pop(0)

    monkeypatch.setattr(view_export, "ask_export_path", ask)
    ask.calls, ask.answers = calls, answers  # type: ignore[attr-defined]
    return ask


def choose(qtbot, button: ExportButton, label: str, dialog, answer: Path | None) -> Path | None:
    """Pick ``label`` in the button's menu, answer the dialog with ``answer``; the file once written."""
    dialog.answers.append(None if answer is None else str(answer))
    action = next(a for a in button.menu().actions() if a.text().startswith(label))
    if answer is None:
        action.trigger()
        return None
    with qtbot.waitSignal(button.exported, timeout=5000) as written:
        action.trigger()
    return written.args[0]


def _metrics(step: int, validation=None, previews=None) -> StepMetrics:
    return StepMetrics(step, 100, step / 10, 1.0, {"recon": 10.0 / step, "kl": 0.5 * step}, 50.0,
                       validation=validation, previews=previews)


@pytest.fixture
def view(qtbot):
    v = TrainingView()
    qtbot.addWidget(v)
    v.resize(900, 360)
    v.show()
    qtbot.waitExposed(v)
    yield v
    v.stop_timers()


def test_curves_export_as_png_svg_and_csv_of_the_values_fed_in(qtbot, view, dialog, tmp_path):
    view.add_metrics([_metrics(s, validation={"total": 7.0 + s} if s % 2 == 0 else None) for s in range(1, 6)])
    view._redraw()
    btn = view.export_btn

    png = choose(qtbot, btn, "Loss curves as PNG", dialog, tmp_path / "out" / "curves")  # typed without ".png"
    assert png == tmp_path / "out" / "curves.png"
    with Image.open(png) as im:
        pixels = np.asarray(im.convert("RGB"))
    w, h = view.plot.sceneBoundingRect().width(), view.plot.sceneBoundingRect().height()
    assert pixels.shape[:2] == (round(2 * h), round(2 * w))  # twice the plot's size on screen
    recon = np.array(view.curves["recon"].opts["pen"].color().getRgb()[:3])
    assert (np.abs(pixels.astype(int) - recon).sum(axis=2) < 40).sum() > 50  # the recon curve is drawn

    svg = choose(qtbot, btn, "Loss curves as SVG", dialog, tmp_path / "out" / "curves.svg")
    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG}svg" and float(root.get("width")) == pytest.approx(w)
    assert root.findall(f".//{SVG}path")

    table = choose(qtbot, btn, "Loss curves as CSV", dialog, tmp_path / "out" / "curves.csv")
    with open(table, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "recon", "kl", "val total"]
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3, 4, 5]
    assert [float(r[1]) for r in rows[1:]] == [10.0 / s for s in range(1, 6)]  # raw, not the smoothed curve
    assert [float(r[2]) for r in rows[1:]] == [0.5 * s for s in range(1, 6)]
    assert [r[3] for r in rows[1:]] == ["", "9.0", "", "11.0", ""]  # empty where no validation ran

    # each dialog after the first opened in the folder the last export went to
    assert [c[1] for c in dialog.calls[1:]] == [tmp_path / "out" / "loss-curves.svg", tmp_path / "out" / "loss-curves.csv"]
    assert dialog.calls[2][2] == "CSV tables (*.csv)"


def test_the_side_plots_are_stacked_under_the_loss_plot(qtbot, view, tmp_path):
    """An AAE's adversarial terms have their own plot: the PNG and SVG hold both."""
    view.add_metrics([StepMetrics(s, 100, s / 10, 1.0, {"recon": 100.0 / s, "d_loss": 0.7}, 50.0) for s in range(1, 4)])
    view._redraw()
    qtbot.waitUntil(lambda: view.adv_plot_widget.isVisible())
    plots = view.shown_plots()
    assert plots == [view.plot, view.adv_plot]
    heights = [round(2 * p.sceneBoundingRect().height()) for p in plots]
    assert view_capture.render_plots(plots).shape[0] == sum(heights)
    root = ET.fromstring(view_capture.plots_svg(plots))
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))  # each plot's clip paths keep their own names


def test_previews_export_the_pixels_shown(qtbot, view, dialog, tmp_path):
    btn = view.export_btn
    btn.menu().aboutToShow.emit()
    samples_action = next(a for a in btn.menu().actions() if a.text().startswith("Samples"))
    assert not samples_action.isEnabled()  # nothing shown yet: greyed out in the menu
    assert not btn.export("Samples as PNG") and dialog.calls == []  # and never asks where
    previews = {"samples": torch.rand(16, 1, 28, 28), "originals": torch.rand(8, 1, 28, 28),
                "reconstructions": torch.rand(8, 1, 28, 28)}
    view.add_metrics([_metrics(1, previews=previews)])
    btn.menu().aboutToShow.emit()
    assert samples_action.isEnabled()
    for label, grid in (("Samples as PNG", view.samples), ("Reconstructions as PNG", view.recons)):
        out = choose(qtbot, btn, label, dialog, tmp_path / f"{label[:7]}.png")
        with Image.open(out) as im:
            assert np.array_equal(np.asarray(im), grid.item.image)  # the grid on screen, pixel for pixel
    view.reset(reconstructions=False)  # a GAN: no reconstructions to export
    view.show_previews({"samples": torch.rand(8, 1, 28, 28)})
    assert not btn.export("Reconstructions as PNG", tmp_path / "gan.png")


def test_cancelled_dialog_and_failed_write_are_said(qtbot, view, dialog, tmp_path):
    said: list[str] = []
    view.export_btn.say = said.append
    view.add_metrics([_metrics(1), _metrics(2)])
    assert choose(qtbot, view.export_btn, "Loss curves as CSV", dialog, None) is None
    assert said == [] and list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    assert view.export_btn.export("Loss curves as CSV", tmp_path / "file" / "curves.csv")  # a file as folder
    qtbot.waitUntil(lambda: said[-1].startswith("Could not export"), timeout=5000)
    assert "curves.csv" in said[-1]


def test_csv_joins_curves_on_their_steps():
    table = curves_csv({"a": (np.array([0, 10, 10, 20]), np.array([1.0, 2.0, 3.0, 4.0])),
                        "b": (np.array([5.0]), np.array([0.25]))}).decode()
    assert table.splitlines() == ["step,a,b", "0,1.0,", "5,,0.25", "10,3.0,", "20,4.0,"]  # a repeated step: the later


def test_latent_map_exports_png_and_svg(qtbot, dialog, tmp_path):
    from explorer.panels.map.plot import MapPlot

    plot = MapPlot()
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.show()
    qtbot.waitExposed(plot)
    said: list[str] = []
    plot.export_btn.say = said.append
    assert not plot.export_btn.export("Map as PNG", tmp_path / "empty.png")
    assert said == ["No points on the map yet: Encode first."]
    xy = np.random.default_rng(0).normal(size=(200, 2))
    plot.scatter.setData(xy[:, 0], xy[:, 1], brush=pg.mkBrush("#f28e2b"))
    plot.frame_points()
    png = choose(qtbot, plot.export_btn, "Map as PNG", dialog, tmp_path / "map.png")
    with Image.open(png) as im:
        pixels = np.asarray(im.convert("RGB")).astype(int)
    assert (np.abs(pixels - [0xF2, 0x8E, 0x2B]).sum(axis=2) < 30).sum() > 100  # the points are in it
    svg = choose(qtbot, plot.export_btn, "Map as SVG", dialog, tmp_path / "map.svg")
    assert ET.parse(svg).getroot().findall(f".//{SVG}path")
    assert plot.export_btn.geometry().right() < plot.width()  # in the plot's corner, inside it


def test_compare_grids_export_as_shown(qtbot, dialog, tiny_dataset, tmp_path):
    from explorer.panels.compare import ComparePanel
    from explorer.state import LatentState, ModelState
    from models.explore.latent_paths import random_path
    from models.families.registry import build_model

    ms, ls = ModelState(), LatentState()
    model = build_model("vae", latent_dim=4, hidden=16)
    ms.set_model(model)
    ls.reset(model.latent_spec)
    panel = ComparePanel(ms, ls, lambda: tiny_dataset)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    try:
        panel.add_current()
        qtbot.waitUntil(lambda: len(panel.recon_grid.tiles) == 2, timeout=5000)
        grid = panel.recon_grid
        qtbot.waitUntil(lambda: grid.tiles[1][-1].isVisible())  # laid out, as a user sees it
        out = choose(qtbot, panel.reconstructions.export_btn, "Grid as PNG", dialog, tmp_path / "grid.png")
        with Image.open(out) as im:
            pixels = np.asarray(im.convert("RGB"))
        first, last = grid.tiles[0][0], grid.tiles[1][-1]
        area = view_capture.content_rect(grid)
        assert area.contains(first.geometry()) and area.contains(last.geometry())  # every tile, at its size
        assert pixels.shape[:2] == (area.height(), area.width())
        for tile in (first, last):  # each tile's image where it sits, pixel for pixel as the tile draws it
            shown = view_capture.qimage_to_array(tile.pixmap().toImage())  # the array, scaled with crisp pixels
            frame = tile.contentsRect()
            x = tile.x() - area.x() + frame.x() + (frame.width() - shown.shape[1]) // 2
            y = tile.y() - area.y() + frame.y() + (frame.height() - shown.shape[0]) // 2
            assert len(np.unique(shown)) > 1  # an image, not a blank that any blank export would match
            assert np.array_equal(pixels[y : y + shown.shape[0], x : x + shown.shape[1]], shown)

        with qtbot.waitSignal(panel.path_frames_ready, timeout=10_000):
            panel.play_path(random_path(model, 3, seed=0))
        panel.stop()
        qtbot.waitUntil(lambda: all(t.isVisible() for t in panel.path_tiles.values()))
        out = choose(qtbot, panel.path_tab.export_btn, "Current frames as PNG", dialog, tmp_path / "path.png")
        with Image.open(out) as im:
            area = view_capture.content_rect(panel.path_tab.path_row)
            assert im.size == (area.width(), area.height())
    finally:
        panel.shutdown()


def test_in_the_window_the_messages_reach_the_status_bar(qtbot, window, tmp_path):
    """The training view has no message line: its Export button speaks in the window's status bar."""
    view = window.training_view
    view.add_metrics([_metrics(1), _metrics(2)])
    with qtbot.waitSignal(view.export_btn.exported, timeout=5000):
        assert view.export_btn.export("Loss curves as CSV", tmp_path / "c.csv")
    assert window.statusBar().currentMessage() == f"Exported {tmp_path / 'c.csv'}"


def test_a_file_asked_for_is_written_even_if_the_view_closes_meanwhile(qtbot, tmp_path):
    view = TrainingView()
    view.add_metrics([_metrics(s) for s in range(1, 50)])
    assert view.export_btn.export("Loss curves as CSV", tmp_path / "late.csv")
    view.stop_timers()
    view.deleteLater()
    qtbot.wait(10)  # the view is gone; its file's result arrives to no one
    assert view_export.wait_for_exports(5.0)
    qtbot.wait(10)
    assert (tmp_path / "late.csv").read_text().startswith("step,recon,kl\n")
