"""Projection: find the latent that best reproduces a real image (GAN inversion).

``models.explore.projection.project`` runs Adam on the latent in a background job on a model
copy, reporting progress each few steps and polling Cancel (``should_stop``) every step;
a cancelled run still returns its best latent so far, which is shown like a finished one.
The result becomes the slider state (so the main view shows it) and/or a path keyframe
(``keyframe_ready``, wired to the Paths panel). Encoder models work too: projection then
refines the encoder's guess.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QWidget,
)

from models.data.base import Dataset
from models.explore.projection import ProjectionResult, project
from models.io.images import IMAGE_SUFFIXES

from ..image_input import IMAGE_FILTER, load_image_file
from ..jobs import JobRunner
from ..model_access import dataset_problem, snapshot_model, to_display
from ..state import LatentState, ModelState
from ..widgets.layout import caption_label, install_hint_stack, panel_body
from ..widgets.tiles import Tile

DatasetProvider = Callable[[], "Dataset | None"]
TILE = 128
#: progress reaches the GUI at most every this many steps (each is a queued signal)
PROGRESS_EVERY = 5


class ProjectionPanel(QWidget):
    status = Signal(str)
    #: "Add to path": the projected latent, for the Paths panel
    keyframe_ready = Signal(object, str)  # np.ndarray flat latent, label
    finished = Signal(object)  # ProjectionResult

    def __init__(self, model_state: ModelState, latent_state: LatentState, dataset_provider: DatasetProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_state, self.latent_state, self.dataset_provider = model_state, latent_state, dataset_provider
        self.target: torch.Tensor | None = None  # (C, H, W) in [0, 1]
        self.target_name = ""
        self.result: ProjectionResult | None = None
        self._loss = float("nan")  # written by the job's callback, read on progress
        self.jobs = JobRunner("projection", self)
        self.setAcceptDrops(True)
        self._build()
        self._wire()
        self._on_model_changed(model_state.model)

    def _build(self) -> None:
        body, layout = panel_body()
        src = QHBoxLayout()
        self.test_index = QSpinBox()
        self.test_index.setPrefix("#")
        self.use_test_btn = QPushButton("Use test image")
        self.open_btn = QPushButton("Open image…")
        self.open_btn.setToolTip("Any image file; it is resized to the model's size (you can also drop one here)")
        for w in (self.use_test_btn, self.test_index, self.open_btn):
            src.addWidget(w)
        src.addStretch(1)
        layout.addLayout(src)

        form = QGridLayout()
        self.steps = QSpinBox()
        self.steps.setRange(1, 20000)
        self.steps.setValue(300)
        self.steps.setSuffix(" steps")
        self.restarts = QSpinBox()
        self.restarts.setRange(1, 64)
        self.restarts.setValue(4)
        self.restarts.setSuffix(" restarts")
        self.restarts.setToolTip("Random starts optimised side by side; the best wins (the objective is non-convex)")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(3)
        self.lr.setRange(0.001, 1.0)
        self.lr.setSingleStep(0.01)
        self.lr.setValue(0.05)
        self.lr.setPrefix("lr ")
        form.addWidget(self.steps, 0, 0)
        form.addWidget(self.restarts, 0, 1)
        form.addWidget(self.lr, 0, 2)
        layout.addLayout(form)

        run = QHBoxLayout()
        self.run_btn = QPushButton("Project")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        run.addWidget(self.run_btn)
        run.addWidget(self.cancel_btn)
        run.addWidget(self.progress, 1)
        layout.addLayout(run)

        pics = QGridLayout()
        self.target_tile, self.result_tile = Tile(TILE), Tile(TILE)
        self.target_tile.set_array(None, "target")
        self.result_tile.set_array(None, "result")
        self.target_caption, self.result_caption = QLabel("Target"), QLabel("Projection")
        for c, (tile, cap) in enumerate(((self.target_tile, self.target_caption), (self.result_tile, self.result_caption))):
            cap.setAlignment(Qt.AlignmentFlag.AlignHCenter)
            cap.setWordWrap(True)
            pics.addWidget(tile, 0, c, Qt.AlignmentFlag.AlignHCenter)
            pics.addWidget(cap, 1, c)
        layout.addLayout(pics)

        after = QHBoxLayout()
        self.apply_when_done = QCheckBox("Set sliders when done")
        self.apply_when_done.setChecked(True)
        self.apply_btn = QPushButton("Set sliders")
        self.keyframe_btn = QPushButton("Add to path")
        self.keyframe_btn.setToolTip("Add the projected latent as a keyframe of the Paths panel")
        for w in (self.apply_when_done, self.apply_btn, self.keyframe_btn):
            after.addWidget(w)
        layout.addLayout(after)
        layout.addStretch(1)
        self.message = caption_label()
        layout.addWidget(self.message)

        self.stack = install_hint_stack(self, body)

    def _wire(self) -> None:
        self.model_state.model_changed.connect(self._on_model_changed)
        self.use_test_btn.clicked.connect(lambda: self.use_test_image())
        self.open_btn.clicked.connect(lambda: self.open_image())
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn.clicked.connect(self.cancel)
        self.apply_btn.clicked.connect(self.apply)
        self.keyframe_btn.clicked.connect(self.add_to_path)
        self.jobs.busy_changed.connect(self._on_busy)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.failed.connect(self._say)

    # -- model -------------------------------------------------------------------------
    def _on_model_changed(self, model: object) -> None:
        self.jobs.cancel()
        self.result = None
        self.result_tile.set_array(None, "result")
        self._update_buttons()
        if model is None:
            self.stack.show_hint("Open or train a model to project images into its latent space.")
            return
        self.stack.show_hint(None)
        self.on_dataset_changed()
        if self.target is not None and tuple(self.target.shape) != tuple(self.model_state.model.config.image_shape):
            self.target = None
            self.target_tile.set_array(None, "target")
            self.target_caption.setText("Target")
        self._update_buttons()

    def on_dataset_changed(self) -> None:
        ds = self.dataset_provider()
        self.test_index.setRange(0, max(0, len(ds.test) - 1) if ds is not None else 0)

    def _update_buttons(self) -> None:
        busy = self.jobs.busy
        self.run_btn.setEnabled(self.target is not None and self.model_state.model is not None and not busy)
        self.cancel_btn.setEnabled(busy)
        for w in (self.apply_btn, self.keyframe_btn):
            w.setEnabled(self.result is not None and not busy)

    # -- target ------------------------------------------------------------------------
    def set_target(self, image: torch.Tensor, name: str) -> None:
        """(C, H, W) in [0, 1] of the model's size."""
        self.target, self.target_name = image.float().clamp(0, 1), name
        self.target_tile.set_array(to_display(self.target))
        self.target_caption.setText(f"Target: {name}")
        self.result = None
        self.result_tile.set_array(None, "result")
        self.result_caption.setText("Projection")
        self._update_buttons()

    def use_test_image(self, index: int | None = None) -> None:
        model, ds = self.model_state.model, self.dataset_provider()
        problem = dataset_problem(model, ds)
        if problem:
            self._say(problem)
            return
        self.test_index.setRange(0, len(ds.test) - 1)
        index = self.test_index.value() if index is None else int(index)
        if not 0 <= index < len(ds.test):
            self._say(f"The test set has images 0..{len(ds.test) - 1}.")
            return
        self.test_index.setValue(index)
        self.set_target(ds.test.batch(torch.tensor([index]))[0], f"test #{index}")

    def open_image(self, file: str | Path | None = None) -> None:
        model = self.model_state.model
        if model is None:
            return
        if file is None:
            file, _ = QFileDialog.getOpenFileName(self, "Project an image", "", IMAGE_FILTER)
            if not file:
                return
        try:
            x, inverted = load_image_file(str(file), tuple(model.config.image_shape))
        except ValueError as e:
            self._say(str(e))
            return
        self.set_target(x[0], Path(file).name + (" (inverted)" if inverted else ""))

    # -- running -----------------------------------------------------------------------
    def run(self) -> None:
        if self.target is None:
            self._say("Choose a target image first.")
            return
        model = snapshot_model(self.model_state)
        if model is None:
            return
        target, steps, restarts, lr = self.target.clone(), self.steps.value(), self.restarts.value(), self.lr.value()
        generation = self.model_state.generation
        self._loss = float("nan")
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self._say(f"Projecting {self.target_name} ({steps} steps × {restarts} restarts)…")

        def callback_for(ctx):
            def callback(step: int, total: int, loss: float) -> None:
                self._loss = loss  # a float assignment: read on the GUI thread with the progress
                if step % PROGRESS_EVERY == 0 or step == total:
                    ctx.progress(step, total)
            return callback

        def job(ctx) -> ProjectionResult:
            return project(model, target, steps=steps, lr=lr, restarts=restarts,
                           callback=callback_for(ctx), should_stop=ctx.cancelled)

        self.jobs.submit(job, on_done=lambda r: self._on_done(r, generation))

    def cancel(self) -> None:
        self.jobs.cancel()

    def _on_busy(self, busy: bool) -> None:
        self._update_buttons()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"%v / %m · loss {self._loss:.4f}")

    def _on_done(self, result: ProjectionResult, generation: int) -> None:
        if generation != self.model_state.generation:
            return  # the model changed while it ran: the latent means nothing to the new one
        self.result = result
        if result.image is not None:
            self.result_tile.set_array(to_display(result.image))
        what = f"cancelled at step {result.steps_done}, best so far" if result.cancelled else f"{result.steps_done} steps"
        self.result_caption.setText(f"Projection ({what})\nMSE {result.mse:.4f} · restart {result.restart}")
        self._say("Cancelled: the best latent found so far is shown." if result.cancelled else "Done.")
        self._update_buttons()
        if self.apply_when_done.isChecked():
            self.apply()
        self.finished.emit(result)

    def apply(self) -> None:
        if self.result is not None and self.model_state.spec is not None:
            self.latent_state.set_flat(self.result.latent)

    def add_to_path(self) -> None:
        if self.result is not None:
            self.keyframe_ready.emit(self.result.latent.copy(), f"projection of {self.target_name}")
            self._say("Added to the Paths panel.")

    # -- drops -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.toLocalFile().lower().endswith(IMAGE_SUFFIXES):
                self.open_image(url.toLocalFile())
                break
        event.acceptProposedAction()

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.status.emit(text)

    def shutdown(self) -> None:
        self.jobs.shutdown()
