"""Compare models side by side: reconstructions, error heatmaps, test-set metrics, one path.

The panel keeps its own list of models, each a private CPU eval copy ("Add current" copies
the explored model as it is now; files are loaded in a job), so comparing never touches
the model the rest of the window explores or trains. Every computation runs in a
background job; each kind (loading, reconstructions, metrics, path frames) has its own
runner, so starting one never cancels another, while repeating one replaces it.

A path sent from the Paths panel (``play_path``) is decoded by every model whose flat
latent has the path's size, and the frames play in one row, all in step.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QApplication, QCheckBox, QFileDialog, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QListWidget, QProgressBar, QPushButton, QScrollArea, QSpinBox, QTableWidget, QTableWidgetItem, QTabWidget,
    QVBoxLayout, QWidget,
)

from models.families.base import LatentModel
from models.runs.checkpoint import load_checkpoint
from models.metrics.reconstruction import error_heatmap, reconstruction_metrics
from models.data.base import Dataset
from models.explore.latent_paths import LatentPath, render_frames
from models.runs.run_dir import model_label

from ..decoder import IMAGE_FILTER, IMAGE_SUFFIXES, load_image_file
from ..explore_workers import JobCancelled, LatestJobRunner, Tile, parse_indices, snapshot_model, to_display
from ..state import LatentState, ModelState
from .common import caption_label, thin_busy_bar

DatasetProvider = Callable[[], "Dataset | None"]
RECON_TILE, PATH_TILE = 64, 96
#: error heatmaps share fixed levels (|error| 0..HEAT_MAX) so models compare by colour
HEAT_MAX = 1.0


@dataclass
class CompareEntry:
    name: str
    model: LatentModel  # a private CPU eval copy
    source: Path | None = None

    @property
    def description(self) -> str:
        spec = self.model.latent_spec
        return f"{self.name}  ·  {self.model.family}, latent {spec.input_dim}"


#: prior samples per model in the sample-quality columns (a few seconds per model on a CPU)
SAMPLE_SCORE_N = 2000

#: the metrics table: header, key in a model's metrics row, which way is better, tooltip
COLUMNS: list[tuple[str, str, str, str]] = [
    ("Model", "name", "", ""),
    ("Family", "family", "", ""),
    ("MSE ↓", "mse", "min", "Per-pixel mean squared error of the reconstructions"),
    ("BCE ↓", "bce", "min", "Per-pixel binary cross-entropy of the reconstructions"),
    ("SSIM ↑", "ssim", "max", "Structural similarity of reconstruction and original (1 = identical)"),
    ("Images", "n", "", "Test images reconstructed"),
    ("IS ↑", "inception_score", "max", f"Inception score of {SAMPLE_SCORE_N:,} prior samples under the dataset's "
                                       "classifier (at most the number of classes)"),
    ("Sample FID ↓", "sample_fid", "min", f"Fréchet distance between {SAMPLE_SCORE_N:,} prior samples and the test "
                                          "set in the classifier's feature space"),
    ("Classes", "classes", "", "Share of classes holding at least 5 % of the samples"),
]


def _cell(key: str, value) -> str:
    if value is None:
        return "—"
    formats = {"mse": "{:.5f}", "bce": "{:.4f}", "ssim": "{:.4f}", "n": "{}", "inception_score": "{:.2f}",
               "sample_fid": "{:.1f}", "classes": "{:.0%}"}
    return formats[key].format(value)


def heat_rgb(error: np.ndarray) -> np.ndarray:
    """(H, W) |error| in [0, HEAT_MAX] -> (H, W, 3) uint8 through the inferno colour map."""
    t = np.clip(error / HEAT_MAX, 0.0, 1.0)
    return pg.colormap.get("inferno").map(t.reshape(-1), mode="byte")[:, :3].reshape(*t.shape, 3).copy()


class _TileGrid(QWidget):
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


class ComparePanel(QWidget):
    status = Signal(str)
    grid_ready = Signal()
    metrics_ready = Signal()
    path_frames_ready = Signal()

    def __init__(self, model_state: ModelState, latent_state: LatentState, dataset_provider: DatasetProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_state, self.latent_state, self.dataset_provider = model_state, latent_state, dataset_provider
        self.entries: list[CompareEntry] = []
        self.extra_images: list[tuple[str, torch.Tensor]] = []  # dropped files: (name, (C, H, W))
        self.indices: list[int] = list(range(8))
        self.originals: np.ndarray | None = None  # (N, C, H, W) float32
        self.recons: list[np.ndarray | None] = []  # per entry (N, C, H, W), None: can't
        self.metrics: list[dict | None] = []
        self.path: LatentPath | None = None
        self.path_frames: dict[int, list[np.ndarray]] = {}  # entry index -> uint8 frames
        self._path_frame = 0
        self.load_jobs = LatestJobRunner("compare-load", self)
        self.recon_jobs = LatestJobRunner("compare-recon", self)
        self.metric_jobs = LatestJobRunner("compare-metrics", self)
        self.path_jobs = LatestJobRunner("compare-path", self)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.setAcceptDrops(True)
        self._build()
        self._wire()
        self._on_model_changed(model_state.model)

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        top = QHBoxLayout()
        self.model_list = QListWidget()
        self.model_list.setMaximumHeight(96)
        self.model_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        top.addWidget(self.model_list, 1)
        buttons = QVBoxLayout()
        self.add_current_btn = QPushButton("Add current model")
        self.add_file_btn = QPushButton("Add checkpoints…")
        self.add_run_btn = QPushButton("Add run folder…")
        self.remove_btn = QPushButton("Remove")
        for b in (self.add_current_btn, self.add_file_btn, self.add_run_btn, self.remove_btn):
            buttons.addWidget(b)
        top.addLayout(buttons)
        layout.addLayout(top)

        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        # reconstructions
        rec = QWidget()
        rl = QVBoxLayout(rec)
        row = QHBoxLayout()
        self.index_edit = QLineEdit("0-7")
        self.index_edit.setToolTip("Test image indices, e.g. 0-7 or 3, 14, 15")
        self.show_btn = QPushButton("Show")
        self.random_btn = QPushButton("Random")
        self.random_n = QSpinBox()
        self.random_n.setRange(1, 32)
        self.random_n.setValue(8)
        self.add_image_btn = QPushButton("Image files…")
        self.add_image_btn.setToolTip("Add your own images as originals (or drop them here)")
        self.heatmap = QCheckBox("Error heatmaps")
        self.heatmap.setToolTip(f"|original − reconstruction| per pixel, inferno colour map, fixed scale 0–{HEAT_MAX:g}")
        for w in (QLabel("Images"), self.index_edit, self.show_btn, self.random_btn, self.random_n, self.add_image_btn, self.heatmap):
            row.addWidget(w)
        row.addStretch(1)
        rl.addLayout(row)
        self.recon_grid = _TileGrid(RECON_TILE)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.recon_grid)
        rl.addWidget(scroll, 1)
        self.tabs.addTab(rec, "Reconstructions")

        # metrics
        met = QWidget()
        ml = QVBoxLayout(met)
        mrow = QHBoxLayout()
        self.metrics_btn = QPushButton("Compute on the test set")
        self.metrics_btn.setToolTip("Per-pixel MSE, BCE and SSIM of every model over the whole test set")
        self.sample_quality = QCheckBox("Sample quality")
        self.sample_quality.setChecked(True)
        self.sample_quality.setToolTip(
            f"Also score {SAMPLE_SCORE_N:,} prior samples of every model that has a prior (VAEs, AAEs, GANs) with the "
            "dataset's classifier: inception score, classifier FID and classes covered, the figures of `eval`. "
            "Needs a labelled dataset; the classifier is trained once (about a minute on a CPU) and cached. "
            f"FID falls with sample size, so it reads higher than eval's 10,000-sample figure.")
        self.metrics_cancel = QPushButton("Cancel")
        self.metrics_cancel.setEnabled(False)
        self.metrics_progress = QProgressBar()
        self.metrics_progress.setMaximumHeight(14)
        self.copy_btn = QPushButton("Copy table")
        self.copy_btn.setToolTip("Copy the table as tab-separated text (pastes into a spreadsheet or a notebook)")
        self.copy_btn.setEnabled(False)
        mrow.addWidget(self.metrics_btn)
        mrow.addWidget(self.sample_quality)
        mrow.addWidget(self.metrics_cancel)
        mrow.addWidget(self.copy_btn)
        mrow.addWidget(self.metrics_progress, 1)
        ml.addLayout(mrow)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        for c, (_, _, _, tip) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # numbers never elided
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        ml.addWidget(self.table, 1)
        self.tabs.addTab(met, "Metrics")

        # path
        pth = QWidget()
        pl = QVBoxLayout(pth)
        prow = QHBoxLayout()
        self.path_label = QLabel("No path yet: build one in the Paths panel and press “Send to compare”.")
        self.path_label.setWordWrap(True)
        self.play_btn = QPushButton("▶ Play")
        self.play_btn.setCheckable(True)
        self.play_btn.setEnabled(False)
        self.path_fps = QSpinBox()
        self.path_fps.setRange(1, 60)
        self.path_fps.setValue(12)
        self.path_fps.setSuffix(" fps")
        self.path_frames_per_segment = QSpinBox()
        self.path_frames_per_segment.setRange(2, 120)
        self.path_frames_per_segment.setValue(16)
        self.path_frames_per_segment.setSuffix(" frames/segment")
        self.path_loop = QCheckBox("Loop")
        self.path_loop.setChecked(True)
        for w in (self.play_btn, self.path_fps, self.path_frames_per_segment, self.path_loop):
            prow.addWidget(w)
        prow.addStretch(1)
        pl.addWidget(self.path_label)
        pl.addLayout(prow)
        self.path_row = QWidget()
        self.path_layout = QGridLayout(self.path_row)
        self.path_layout.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.path_tiles: dict[int, Tile] = {}
        pscroll = QScrollArea()
        pscroll.setWidgetResizable(True)
        pscroll.setWidget(self.path_row)
        pl.addWidget(pscroll, 1)
        self.tabs.addTab(pth, "Path")

        self.progress = thin_busy_bar(8)
        layout.addWidget(self.progress)
        self.message = caption_label()
        layout.addWidget(self.message)

    def _wire(self) -> None:
        self.model_state.model_changed.connect(self._on_model_changed)
        self.add_current_btn.clicked.connect(self.add_current)
        self.add_file_btn.clicked.connect(lambda: self.add_files())
        self.add_run_btn.clicked.connect(self._add_run_dialog)
        self.remove_btn.clicked.connect(self.remove_selected)
        self.show_btn.clicked.connect(self._on_show_indices)
        self.index_edit.returnPressed.connect(self._on_show_indices)
        self.random_btn.clicked.connect(self.random_images)
        self.add_image_btn.clicked.connect(lambda: self.add_image_files())
        self.heatmap.toggled.connect(lambda _on: self._show_grid())
        self.metrics_btn.clicked.connect(self.compute_metrics)
        self.copy_btn.clicked.connect(self.copy_table)
        self.metrics_cancel.clicked.connect(self.metric_jobs.cancel)
        self.metric_jobs.busy_changed.connect(self._on_metrics_busy)
        self.metric_jobs.progress.connect(self._on_metrics_progress)
        self.play_btn.toggled.connect(self._on_play_toggled)
        self.path_fps.valueChanged.connect(lambda fps: self.timer.setInterval(max(1, round(1000 / fps))))
        self.path_frames_per_segment.valueChanged.connect(lambda _v: self.play_path(self.path) if self.path else None)
        for runner in (self.load_jobs, self.recon_jobs, self.metric_jobs, self.path_jobs):
            runner.failed.connect(self._say)
            runner.busy_changed.connect(lambda _b: self.progress.setVisible(
                any(r.busy for r in (self.load_jobs, self.recon_jobs, self.path_jobs))))

    def on_dataset_changed(self) -> None:
        self.metrics = [None] * len(self.entries)
        self._fill_table()
        self.reconstruct()

    def _on_model_changed(self, model: object) -> None:
        self.add_current_btn.setEnabled(model is not None)

    # -- models ------------------------------------------------------------------------
    def add_model(self, model: LatentModel, name: str, source: Path | None = None) -> None:
        """Add a model (the panel keeps it; pass a copy if it is used elsewhere)."""
        self.entries.append(CompareEntry(name, model.cpu().eval(), source))
        self._models_changed()

    def add_current(self) -> None:
        model = snapshot_model(self.model_state)
        if model is None:
            return
        source = self.model_state.source
        self.add_model(model, self._unique_name(model_label(source, self.model_state.train_state.get("step"))), source)

    def _unique_name(self, name: str) -> str:
        """``name``, or "name (2)", "name (3)"... when the list already holds it."""
        taken = {e.name for e in self.entries}
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name} ({n})"
        return candidate

    def add_files(self, files: list[str | Path] | None = None) -> None:
        """Load checkpoints / run folders in a job, then add them."""
        if files is None:
            chosen, _ = QFileDialog.getOpenFileNames(self, "Add checkpoints", "", "Checkpoints (*.safetensors)")
            files = list(chosen)
        if not files:
            return
        paths = [Path(f) for f in files]
        self._say(f"Loading {len(paths)} model(s)…")

        def job(ctx) -> tuple[list[tuple[Path, LatentModel, int | None]], list[str]]:
            loaded, errors = [], []
            for p in paths:
                try:
                    ckpt = load_checkpoint(p)
                    loaded.append((p, ckpt.model, ckpt.train_state.get("step")))
                except Exception as e:  # noqa: BLE001 - report each file, keep the others
                    errors.append(f"{p.name}: {e}")
            return loaded, errors

        self.load_jobs.submit(job, on_done=self._on_loaded)

    def _add_run_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a run folder")
        if folder:
            self.add_files([folder])

    def _on_loaded(self, result: tuple[list[tuple[Path, LatentModel, int | None]], list[str]]) -> None:
        loaded, errors = result
        for path, model, step in loaded:
            self.entries.append(CompareEntry(self._unique_name(model_label(path, step)), model.cpu().eval(), path))
        self._models_changed()
        self._say("; ".join(errors) if errors else f"Added {len(loaded)} model(s).")

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.model_list.selectedIndexes()}, reverse=True)
        for r in rows:
            del self.entries[r]
        if rows:
            self._models_changed()

    def _models_changed(self) -> None:
        self.model_list.clear()
        for e in self.entries:
            self.model_list.addItem(e.description)
        self.metrics = [None] * len(self.entries)
        self._fill_table()
        self.reconstruct()
        if self.path is not None:
            self.play_path(self.path)

    # -- reconstructions ---------------------------------------------------------------
    def _on_show_indices(self) -> None:
        ds = self.dataset_provider()
        if ds is None:
            self._say("No dataset is loaded: the test images come from the current dataset.")
            return
        try:
            self.indices = parse_indices(self.index_edit.text(), len(ds.test))
        except ValueError as e:
            self._say(str(e))
            return
        self.reconstruct()

    def set_indices(self, indices: list[int]) -> None:
        self.indices = [int(i) for i in indices]
        self.index_edit.setText(", ".join(map(str, self.indices)))
        self.reconstruct()

    def random_images(self) -> None:
        ds = self.dataset_provider()
        if ds is None:
            self._say("No dataset is loaded.")
            return
        n = min(self.random_n.value(), len(ds.test))
        self.set_indices(sorted(np.random.choice(len(ds.test), n, replace=False).tolist()))

    def add_image_files(self, files: list[str | Path] | None = None) -> None:
        if files is None:
            chosen, _ = QFileDialog.getOpenFileNames(self, "Add images", "", IMAGE_FILTER)
            files = list(chosen)
        shape = self._image_shape()
        if shape is None:
            self._say("Add a model or load a dataset first: images are resized to the models' size.")
            return
        for f in files:
            try:
                x, _ = load_image_file(str(f), shape)
            except ValueError as e:
                self._say(str(e))
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

        self.recon_jobs.submit(job, on_done=self._on_reconstructed)

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
                notes.append("No encoder: this model cannot reconstruct images (its samples are scored under Metrics)."
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

    # -- metrics -----------------------------------------------------------------------
    def compute_metrics(self) -> None:
        ds = self.dataset_provider()
        if ds is None:
            self._say("Metrics need the test set: load a dataset first.")
            return
        if not self.entries:
            self._say("Add models to compare first.")
            return
        models, test = [e.model for e in self.entries], ds.test
        scores = self.sample_quality.isChecked() and any(m.has_prior for m in models)
        if scores and not ds.labelled:
            self._say(f"Sample quality needs class labels; {ds.name} has none: reconstruction metrics only.")
            scores = False
        if scores:
            from models.metrics.classifier import cache_path

            if not cache_path(ds).exists():
                self._say(f"Training the {ds.name} classifier that scores samples (once; cached for next time)…")

        def job(ctx) -> list[dict | None]:
            scorer = None
            if scores:
                from models.metrics.classifier import get_classifier
                from models.metrics.sample_quality import SampleScorer

                def training(step: int, total: int) -> None:  # the classifier's first training: shown, cancellable
                    if ctx.cancelled():
                        raise JobCancelled
                    ctx.progress(step, total)

                try:
                    scorer = SampleScorer(get_classifier(ds, progress=training), test)  # on the GPU if any; once, then cached
                except JobCancelled:
                    return []
            out: list[dict | None] = []
            for i, m in enumerate(models):
                if ctx.cancelled():
                    break
                row: dict = {}
                fits = tuple(m.config.image_shape) == tuple(test.image_shape)
                if fits and m.latent_spec.has_encoder:
                    row.update(reconstruction_metrics(m, test))
                if fits and scorer is not None and m.has_prior:
                    s = scorer(m, n=SAMPLE_SCORE_N)
                    row.update(inception_score=s["inception_score"], sample_fid=s["classifier_fid"],
                               classes=s["class_coverage"])
                out.append(row or None)
                ctx.progress(i + 1, len(models))
            return out

        self.metrics_progress.setRange(0, len(models))
        self.metrics_progress.setValue(0)
        self.metric_jobs.submit(job, on_done=self._on_metrics)

    def _on_metrics(self, metrics: list[dict | None]) -> None:
        self.metrics = metrics + [None] * (len(self.entries) - len(metrics))
        self._fill_table()
        self.copy_btn.setEnabled(bool(self.entries))
        if len(metrics) < len(self.entries):
            self._say("Metrics cancelled: the rows computed so far are shown.")
        self.metrics_ready.emit()

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.entries))
        best: dict[str, float] = {}
        for _, key, better, _ in COLUMNS:
            values = [m[key] for m in self.metrics if m and key in m]
            if better and len(values) > 1:
                best[key] = max(values) if better == "max" else min(values)
        for r, e in enumerate(self.entries):
            m = (self.metrics[r] if r < len(self.metrics) else None) or {}
            for c, (_, key, _, _) in enumerate(COLUMNS):
                text = {"name": e.name, "family": e.model.family}.get(key) or _cell(key, m.get(key))
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if key in best and m.get(key) == best[key]:
                    font = item.font()
                    font.setBold(True)  # the best of each column
                    item.setFont(font)
                self.table.setItem(r, c, item)

    def table_text(self) -> str:
        """The metrics table as tab-separated text: a header line, then a line per model."""
        t = self.table
        header = [t.horizontalHeaderItem(c).text() for c in range(t.columnCount())]
        rows = [[(t.item(r, c).text() if t.item(r, c) else "") for c in range(t.columnCount())] for r in range(t.rowCount())]
        return "\n".join("\t".join(cells) for cells in [header, *rows]) + "\n"

    def copy_table(self) -> None:
        QApplication.clipboard().setText(self.table_text())
        self._say(f"Copied the metrics of {self.table.rowCount()} model(s) to the clipboard.")

    def _on_metrics_busy(self, busy: bool) -> None:
        self.metrics_btn.setEnabled(not busy)
        self.metrics_cancel.setEnabled(busy)

    def _on_metrics_progress(self, done: int, total: int) -> None:
        self.metrics_progress.setRange(0, total)
        self.metrics_progress.setValue(done)

    # -- a path across models ----------------------------------------------------------
    def play_path(self, path: LatentPath) -> None:
        """Decode ``path`` with every model of its latent size (job), then play them together."""
        self.stop()
        self.path = path
        n = 1 + len(path.kinds) * self.path_frames_per_segment.value()
        fits = {i: e.model for i, e in enumerate(self.entries) if e.model.latent_spec.input_dim == path.dim}
        self.path_label.setText(f"Path of {len(path.keyframes)} keyframes, {n} frames; "
                                f"{len(fits)} of {len(self.entries)} models take latents of size {path.dim}.")
        self.path_fps.setValue(max(1, round(path.fps)))
        self.tabs.setCurrentIndex(2)
        if not fits:
            self._say("Add models with a latent of the path's size to play it side by side.")
            self._build_path_row({})
            return

        def job(ctx) -> dict[int, list[np.ndarray]]:
            out = {}
            for i, m in fits.items():
                if ctx.cancelled():
                    break
                frames = render_frames(m, path, n)  # (H, W, C) uint8 each
                out[i] = [f[..., 0].copy() if f.shape[2] == 1 else f for f in frames]
            return out

        self.path_jobs.submit(job, on_done=self._on_path_frames)

    def _on_path_frames(self, frames: dict[int, list[np.ndarray]]) -> None:
        self.path_frames = frames
        self._path_frame = 0
        self._build_path_row(frames)
        self.play_btn.setEnabled(bool(frames))
        self.path_frames_ready.emit()
        if frames:
            self.play_btn.setChecked(True)

    def _build_path_row(self, frames: dict[int, list[np.ndarray]]) -> None:
        while self.path_layout.count():
            w = self.path_layout.takeAt(0).widget()
            if w is not None:
                w.hide()  # now: deletion waits for the event loop
                w.deleteLater()
        self.path_tiles = {}
        for col, e in enumerate(self.entries):
            tile = Tile(PATH_TILE)
            if col in frames:
                tile.set_array(frames[col][0])
                self.path_tiles[col] = tile
            else:
                tile.set_array(None, "other\nlatent size")
            name = QLabel(e.name)
            name.setMaximumWidth(PATH_TILE + 20)
            name.setWordWrap(True)
            name.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.path_layout.addWidget(tile, 0, col)
            self.path_layout.addWidget(name, 1, col)

    def _on_play_toggled(self, on: bool) -> None:
        self.play_btn.setText("‖ Pause" if on else "▶ Play")
        if on and self.path_frames:
            if self._path_frame >= self._frame_count() - 1:
                self._path_frame = 0
            self.timer.start(max(1, round(1000 / self.path_fps.value())))
        else:
            self.timer.stop()

    def _frame_count(self) -> int:
        return min((len(f) for f in self.path_frames.values()), default=0)

    def _tick(self) -> None:
        n = self._frame_count()
        if n == 0:
            self.stop()
            return
        nxt = self._path_frame + 1
        if nxt >= n:
            if not self.path_loop.isChecked():
                self.stop()
                return
            nxt = 0
        self._path_frame = nxt
        for i, tile in self.path_tiles.items():  # all models on the same frame
            tile.set_array(self.path_frames[i][nxt])

    def stop(self) -> None:
        self.play_btn.setChecked(False)
        self.timer.stop()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    # -- drops -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls()]
        images = [f for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
        models = [f for f in files if f.lower().endswith(".safetensors") or Path(f).is_dir()]
        if images:
            self.add_image_files(images)
        if models:
            self.add_files(models)
        event.acceptProposedAction()

    # -- misc --------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.status.emit(text)

    def shutdown(self) -> None:
        self.stop()
        for runner in (self.load_jobs, self.recon_jobs, self.metric_jobs, self.path_jobs):
            runner.shutdown()
