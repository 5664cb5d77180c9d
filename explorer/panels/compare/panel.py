"""The Compare panel: a list of models and three tabs that compare them side by side.

The panel keeps its own list of models, each a private CPU eval copy ("Add current" copies
the explored model as it is now; files are loaded in a job), so comparing never touches
the model the rest of the window explores or trains. Every computation runs in a
background job; each kind (loading, reconstructions, metrics, path frames) has its own
runner, so starting one never cancels another, while repeating one replaces it.

The tabs share the panel's list of entries and do their own work: ``reconstructions``
(images and error maps), ``metrics_table`` (test-set and sample-quality figures) and
``path_playback`` (a path from the Paths panel played through every model of its size).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QListWidget, QTabWidget, QVBoxLayout

from models.explore.latent_paths import LatentPath
from models.families.base import LatentModel
from models.foreign.open import open_model, trust_needed
from models.runs.listing import model_label

from ...errors import about_file
from ...model_access import snapshot_model
from ...state import recorded_step
from ...widgets.layout import push_button
from ...widgets.tiles import Tile
from ..base import IMAGE_FILE, MODEL_FILE, MODEL_FILTER, Dropped, ExplorePanel, dropped_of, open_files, open_folder
from .entry import CompareEntry
from .metrics_table import MetricsTab
from .path_playback import PathPlaybackTab
from .reconstructions import ReconstructionsTab


class ComparePanel(ExplorePanel):
    """Models side by side. The tabs' controls and results that the window and the tests use
    are reachable from the panel too (``table``, ``recon_grid``, ``path_frames``...)."""

    grid_ready = Signal()
    metrics_ready = Signal()
    path_frames_ready = Signal()

    def _setup(self) -> None:
        self.entries: list[CompareEntry] = []  # shared with the tabs: changed in place, never replaced
        self.load_jobs = self.job_runner("compare-load")

    # -- construction ------------------------------------------------------------------
    def _build(self) -> None:
        layout = self.make_body(hints=False)  # it compares models of its own: it works without one open
        top = QHBoxLayout()
        self.model_list = QListWidget()
        self.model_list.setMaximumHeight(96)
        self.model_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        top.addWidget(self.model_list, 1)
        buttons = QVBoxLayout()
        self.add_current_btn = push_button("Add current model", clicked=self.add_current)
        self.add_file_btn = push_button("Add models…", "Checkpoints, state dicts, ONNX models (a pickle or an adapter "
                                                       "file: open it with File ▸ Open, then Add current model)",
                                        clicked=self.add_files)
        self.add_run_btn = push_button("Add folder…", "A training run folder, or a folder with an ONNX manifest.json",
                                       clicked=self._add_run_dialog)
        self.remove_btn = push_button("Remove", clicked=self.remove_selected)
        for b in (self.add_current_btn, self.add_file_btn, self.add_run_btn, self.remove_btn):
            buttons.addWidget(b)
        top.addLayout(buttons)
        layout.addLayout(top)

        self.tabs = QTabWidget()
        self.reconstructions = ReconstructionsTab(self.entries, self.dataset_provider, self.job_runner("compare-recon"))
        self.metrics_tab = MetricsTab(self.entries, self.dataset_provider, self.job_runner("compare-metrics"))
        self.path_tab = PathPlaybackTab(self.entries, self.dataset_provider, self.job_runner("compare-path"))
        self.tabs.addTab(self.reconstructions, "Reconstructions")
        self.tabs.addTab(self.metrics_tab, "Metrics")
        self.tabs.addTab(self.path_tab, "Path")
        layout.addWidget(self.tabs, 1)

        # the tabs' controls the window and tests reach through the panel
        self.recon_grid = self.reconstructions.recon_grid
        self.heatmap = self.reconstructions.heatmap
        self.sample_quality = self.metrics_tab.sample_quality
        self.table = self.metrics_tab.table
        self.copy_btn = self.metrics_tab.copy_btn
        self.path_frames_per_segment = self.path_tab.path_frames_per_segment

        # the metrics tab has its own progress bar; the panel's shows the other jobs
        self.progress = self.add_busy_bar(layout, self.load_jobs, self.reconstructions.jobs, self.path_tab.jobs, height=8)
        self.add_message_line(layout)

    def _wire(self) -> None:
        self.reconstructions.grid_ready.connect(self.grid_ready)
        self.metrics_tab.metrics_ready.connect(self.metrics_ready)
        self.path_tab.path_frames_ready.connect(self.path_frames_ready)
        self.path_tab.path_shown.connect(lambda: self.tabs.setCurrentWidget(self.path_tab))
        for tab in (self.reconstructions, self.metrics_tab, self.path_tab):
            tab.status.connect(self.say)

    def on_dataset_changed(self) -> None:
        self.metrics_tab.clear_metrics()
        self.reconstructions.reconstruct()

    def on_model_changed(self, model: object) -> None:
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
        self.add_model(model, self._unique_name(model_label(source, self.model_state.step)), source)

    def _unique_name(self, name: str) -> str:
        """``name``, or "name (2)", "name (3)"... when the list already holds it."""
        taken = {e.name for e in self.entries}
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name} ({n})"
        return candidate

    def add_files(self, files: list[str | Path] | None = None) -> None:
        """Load models (anything File > Open takes but files that would run code) in a job,
        then add them."""
        files = open_files(self, files, "Add models", MODEL_FILTER)
        if not files:
            return
        paths = [Path(f) for f in files]
        # a pickle or an adapter runs code: File > Open asks first, then "Add current model" adds it
        refused = [f"{p.name}: it could run code, so Compare does not open it; open it with File ▸ Open "
                   "(which asks first), then Add current model" for p in paths if not p.is_dir() and trust_needed(p)]
        paths = [p for p in paths if p.is_dir() or not trust_needed(p)]
        if not paths:
            self.say("; ".join(refused))
            return
        self.say(f"Loading {len(paths)} model(s)…")

        def job(ctx) -> tuple[list[tuple[Path, LatentModel, int | None]], list[str]]:
            loaded, errors = [], list(refused)
            for p in paths:
                try:
                    ckpt = open_model(p)
                    loaded.append((p, ckpt.model, recorded_step(ckpt.train_state)))
                except Exception as e:  # noqa: BLE001 - report each file, keep the others
                    errors.append(about_file(p, e))
            return loaded, errors

        self.load_jobs.submit(job, on_done=self._on_loaded)

    def replace_files(self, files: list[Path]) -> None:
        """The list becomes the models of ``files`` (a session's), loaded as Add models loads
        them: in a job, each file's problem said, files that would run code refused."""
        self.entries.clear()
        self._models_changed()
        if files:
            self.add_files(list(files))

    def _add_run_dialog(self) -> None:
        folder = open_folder(self, "Add a run folder or an ONNX model's folder")
        if folder:
            self.add_files([folder])

    def _on_loaded(self, result: tuple[list[tuple[Path, LatentModel, int | None]], list[str]]) -> None:
        loaded, errors = result
        for path, model, step in loaded:
            self.entries.append(CompareEntry(self._unique_name(model_label(path, step)), model.cpu().eval(), path))
        self._models_changed()
        self.say("; ".join(errors) if errors else f"Added {len(loaded)} model(s).")

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
        self.metrics_tab.clear_metrics()
        self.reconstructions.reconstruct()
        self.path_tab.replay()

    # -- the tabs' work, reached through the panel -------------------------------------
    def compute_metrics(self) -> None:
        self.metrics_tab.compute_metrics()

    @property
    def metrics(self) -> list[dict | None]:
        return self.metrics_tab.metrics

    def play_path(self, path: LatentPath) -> None:
        """Decode ``path`` with every model of its latent size (job), then play them together."""
        self.path_tab.play_path(path)

    @property
    def path(self) -> LatentPath | None:
        return self.path_tab.path

    @property
    def path_frames(self) -> dict[int, list[np.ndarray]]:
        return self.path_tab.path_frames

    @property
    def path_tiles(self) -> dict[int, Tile]:
        return self.path_tab.path_tiles

    @property
    def _path_frame(self) -> int:
        return self.path_tab.frame

    def stop(self) -> None:
        self.path_tab.stop()

    @property
    def playing(self) -> bool:
        return self.path_tab.playing

    # -- dropped files -----------------------------------------------------------------
    def files_dropped(self, files: list[Dropped]) -> None:
        images, models = dropped_of(files, IMAGE_FILE), dropped_of(files, MODEL_FILE)
        if images:
            self.reconstructions.add_image_files(images)
        if models:
            self.add_files(models)

    def shutdown(self) -> None:
        self.stop()
        super().shutdown()
