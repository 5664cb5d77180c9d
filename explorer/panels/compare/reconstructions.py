"""The Compare panel's Reconstructions tab: test images and image files reconstructed by every
model, one row per model, optionally as error heatmaps on one fixed colour scale; Export saves
the grid as it is shown (model names and tiles) as a PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from models.foreign.protocol import unavailable
from models.metrics.reconstruction import error_heatmap

from ...image_input import IMAGE_FILTER, load_image_file
from models.io.images import to_display
from ...model_access import parse_indices
from ...widgets.layout import check_box, hrow, push_button, scroll_area, spin_box
from ...widgets.tiles import Tile
from ...widgets.view_export import ExportButton, widget_png
from ..base import open_files
from .tab import CompareTab

RECON_TILE = 64
#: error heatmaps share fixed levels (|error| 0..HEAT_MAX) so models compare by colour
HEAT_MAX = 1.0


def heat_rgb(error: np.ndarray) -> np.ndarray:
    """(H, W) |error| in [0, HEAT_MAX] -> (H, W, 3) uint8 through the inferno colour map."""
    t = np.clip(error / HEAT_MAX, 0.0, 1.0)
    return pg.colormap.get("inferno").map(t.reshape(-1), mode="byte")[:, :3].reshape(*t.shape, 3).copy()


class TileGrid(QWidget):
    """Rows of tiles with a name at the start of each row (rebuilt on user actions only)."""

    def __init__(self, tile: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile = tile
        self.grid = QGridLayout(self)
        self.grid.setSpacing(3)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.tiles: list[list[Tile]] = []

    def set_rows(self, names: list[str], rows: list[list[np.ndarray | None]], notes: list[str] | None = None) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.hide()  # now: deletion waits for the event loop
                w.deleteLater()
        self.tiles = []
        for r, (name, images) in enumerate(zip(names, rows)):
            label = QLabel(name)
            label.setWordWrap(True)
            label.setMaximumWidth(150)
            self.grid.addWidget(label, r, 0)
            row: list[Tile] = []
            note = notes[r] if notes else ""
            if note and images and all(image is None for image in images):
                # nothing to show in the whole row (a GAN has no encoder): say why once, across it
                why = QLabel(note)
                why.setWordWrap(True)
                why.setStyleSheet("color: #8a8a8a;")
                self.grid.addWidget(why, r, 1, 1, len(images))
                self.tiles.append(row)
                continue
            for c, image in enumerate(images):
                t = Tile(self.tile)
                t.set_array(image, notes[r] if notes and image is None else "")
                self.grid.addWidget(t, r, c + 1)
                row.append(t)
            self.tiles.append(row)


class ReconstructionsTab(CompareTab):
    """Originals on the first row, each model's reconstructions (or error heatmaps) below."""

    #: the grid was rebuilt (tests wait for it)
    grid_ready = Signal()

    def _setup(self) -> None:
        self.extra_images: list[tuple[str, torch.Tensor]] = []  # dropped files: (name, (C, H, W))
        self.indices: list[int] = list(range(8))
        self.originals: np.ndarray | None = None  # (N, C, H, W) float32
        self.recons: list[np.ndarray | None] = []  # per entry (N, C, H, W), None: can't

    def _build(self) -> None:
        rl = QVBoxLayout(self)
        self.index_edit = QLineEdit("0-7")
        self.index_edit.setToolTip("Test image indices, e.g. 0-7 or 3, 14, 15")
        self.show_btn = push_button("Show", clicked=self._on_show_indices)
        self.random_btn = push_button("Random", clicked=self.random_images)
        self.random_n = spin_box(1, 32, 8)
        self.add_image_btn = push_button("Image files…", "Add your own images as originals (or drop them here)",
                                         clicked=self.add_image_files)
        self.heatmap = check_box("Error heatmaps", tooltip=f"|original − reconstruction| per pixel, inferno colour map, "
                                                           f"fixed scale 0–{HEAT_MAX:g}")
        self.export_btn = ExportButton([widget_png(
            "Grid as PNG…", "compare-reconstructions.png", lambda: self.recon_grid,
            ready=lambda: bool(self.recon_grid.tiles), empty="Nothing to export yet: add models to compare.")],
            say=self.status.emit)
        row = hrow(QLabel("Images"), self.index_edit, self.show_btn, self.random_btn, self.random_n,
                   self.add_image_btn, self.heatmap, stretch=True)
        row.addWidget(self.export_btn)
        rl.addLayout(row)
        self.recon_grid = TileGrid(RECON_TILE)
        rl.addWidget(scroll_area(self.recon_grid), 1)

    def _wire(self) -> None:
        self.index_edit.returnPressed.connect(self._on_show_indices)
        self.heatmap.toggled.connect(lambda _on: self._show_grid())

    # -- which images ------------------------------------------------------------------
    def _on_show_indices(self) -> None:
        ds = self.dataset_or_say("No dataset is loaded: the test images come from the current dataset.")
        if ds is None:
            return
        try:
            self.indices = parse_indices(self.index_edit.text(), len(ds.test))
        except ValueError as e:
            self.status.emit(str(e))
            return
        self.reconstruct()

    def set_indices(self, indices: list[int]) -> None:
        self.indices = [int(i) for i in indices]
        self.index_edit.setText(", ".join(map(str, self.indices)))
        self.reconstruct()

    def random_images(self) -> None:
        ds = self.dataset_or_say("No dataset is loaded.")
        if ds is None:
            return
        n = min(self.random_n.value(), len(ds.test))
        self.set_indices(sorted(np.random.choice(len(ds.test), n, replace=False).tolist()))

    def add_image_files(self, files: list[str | Path] | None = None) -> None:
        files = open_files(self, files, "Add images", IMAGE_FILTER)
        shape = self._image_shape()
        if shape is None:
            self.status.emit("Add a model or load a dataset first: images are resized to the models' size.")
            return
        for f in files:
            try:
                x, _ = load_image_file(str(f), shape)
            except ValueError as e:
                self.status.emit(str(e))
                continue
            self.extra_images.append((Path(f).name, x[0]))
        self.reconstruct()

    def _image_shape(self) -> tuple[int, int, int] | None:
        ds = self.dataset_provider()
        if ds is not None:
            return tuple(ds.test.image_shape)
        return tuple(self.entries[0].model.config.image_shape) if self.entries else None

    def _originals(self) -> tuple[torch.Tensor | None, list[str]]:
        ds, parts, names = self.dataset_provider(), [], []
        shape = self._image_shape()
        if ds is not None and self.indices and tuple(ds.test.image_shape) == shape:
            idx = [i for i in self.indices if 0 <= i < len(ds.test)]
            parts.append(ds.test.batch(torch.tensor(idx, dtype=torch.long)))
            names += [f"#{i}" for i in idx]
        extra = [x for _, x in self.extra_images if tuple(x.shape) == shape]
        if extra:
            parts.append(torch.stack(extra))
            names += [n for n, x in self.extra_images if tuple(x.shape) == shape]
        return (torch.cat(parts) if parts else None), names

    # -- reconstructing ----------------------------------------------------------------
    def reconstruct(self) -> None:
        """Reconstruct the chosen images with every model (job), then show the grid."""
        x, _names = self._originals()
        if x is None or not self.entries:
            self.originals, self.recons = (x.numpy() if x is not None else None), []
            self._show_grid()
            return
        models = [e.model for e in self.entries]

        def job(ctx) -> tuple[np.ndarray, list[np.ndarray | None]]:
            out: list[np.ndarray | None] = []
            with torch.no_grad():
                for m in models:
                    if not m.latent_spec.has_encoder or tuple(m.config.image_shape) != tuple(x.shape[1:]):
                        out.append(None)
                    else:
                        out.append(m.decode(m.encode(x)).float().clamp(0, 1).numpy())
            return x.numpy(), out

        self.jobs.submit(job, on_done=self._on_reconstructed)

    def _on_reconstructed(self, result: tuple[np.ndarray, list[np.ndarray | None]]) -> None:
        self.originals, self.recons = result
        self._show_grid()

    def _show_grid(self) -> None:
        if self.originals is None:
            self.recon_grid.set_rows([], [])
            return
        n = len(self.originals)
        names, rows, notes = ["original"], [[to_display(o) for o in self.originals]], [""]
        heat = self.heatmap.isChecked()
        for e, r in zip(self.entries, self.recons):
            names.append(e.name + (" (error)" if heat else ""))
            if r is None:
                rows.append([None] * n)
                scored = " (its samples are scored under Metrics)" if unavailable(e.model, "sample_scores") is None else ""
                notes.append(f"No encoder: this model cannot reconstruct images{scored}."
                             if not e.model.latent_spec.has_encoder else
                             f"Works on {tuple(e.model.config.image_shape)} images, not these.")
            elif heat:
                rows.append([heat_rgb(error_heatmap(o, ri)) for o, ri in zip(self.originals, r)])
                notes.append("")
            else:
                rows.append([to_display(ri) for ri in r])
                notes.append("")
        self.recon_grid.set_rows(names, rows, notes)
        self.grid_ready.emit()
