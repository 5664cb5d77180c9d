"""Projection: find the latent that best reproduces a real image (GAN inversion).

``models.explore.projection.project`` runs Adam on the latent in a background job on a model
copy, reporting progress each few steps and polling Cancel (``should_stop``) every step;
a cancelled run still returns its best latent so far, which is shown like a finished one.
The result becomes the slider state (so the main view shows it) and/or a path keyframe
(``keyframe_ready``, wired to the Paths panel). Encoder models work too: projection then
refines the encoder's guess. An image dropped on the window with a model that has no encoder
comes here (``project_file``): it becomes the target and projection starts. A decoder
without gradients (an ONNX graph) cannot be projected through: the panel says so
(``NEEDS``) instead of its controls.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar

from models.explore.projection import ProjectionResult, project

from models.io.images import to_display
from ..model_access import dataset_problem, snapshot_model
from ..widgets.layout import check_box, double_spin_box, hrow, push_button, spin_box
from ..widgets.tiles import Tile
from .base import IMAGE_FILE, Dropped, ExplorePanel, dropped_of

TILE = 128
#: progress reaches the GUI at most every this many steps (each is a queued signal)
PROGRESS_EVERY = 5


class ProjectionPanel(ExplorePanel):
    #: "Add to path": the projected latent, for the Paths panel
    keyframe_ready = Signal(object, str)  # np.ndarray flat latent, label
    finished = Signal(object)  # ProjectionResult

    NO_MODEL_HINT = "Open or train a model to project images into its latent space."
    NEEDS = ("project",)

    def _setup(self) -> None:
        self.target: torch.Tensor | None = None  # (C, H, W) in [0, 1]
        self.target_name = ""
        self.result: ProjectionResult | None = None
        self._loss = float("nan")  # written by the job's callback, read on progress
        self.jobs = self.job_runner("projection")

    def _build(self) -> None:
        layout = self.make_body()
        self.test_index = spin_box(0, 0, prefix="#")
        self.use_test_btn = push_button("Use test image", clicked=self.use_test_image)
        self.open_btn = push_button("Open image…", "Any image file; it is resized to the model's size "
                                                   "(you can also drop one here)", clicked=self.open_image)
        layout.addLayout(hrow(self.use_test_btn, self.test_index, self.open_btn, stretch=True))

        form = QGridLayout()
        self.steps = spin_box(1, 20000, 300, suffix=" steps")
        self.restarts = spin_box(1, 64, 4, suffix=" restarts",
                                 tooltip="Random starts optimised side by side; the best wins (the objective is non-convex)")
        self.lr = double_spin_box(0.001, 1.0, 0.05, decimals=3, step=0.01, prefix="lr ")
        for c, w in enumerate((self.steps, self.restarts, self.lr)):
            form.addWidget(w, 0, c)
        layout.addLayout(form)

        self.run_btn = push_button("Project", clicked=self.run)
        self.cancel_btn = push_button("Cancel", enabled=False, clicked=self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        layout.addLayout(hrow(self.run_btn, self.cancel_btn, (self.progress, 1)))

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

        self.apply_when_done = check_box("Set sliders when done", True)
        self.apply_btn = push_button("Set sliders", clicked=self.apply)
        self.keyframe_btn = push_button("Add to path", "Add the projected latent as a keyframe of the Paths panel",
                                        clicked=self.add_to_path)
        layout.addLayout(hrow(self.apply_when_done, self.apply_btn, self.keyframe_btn))
        layout.addStretch(1)
        self.add_message_line(layout)

    def _wire(self) -> None:
        self.jobs.busy_changed.connect(self._on_busy)
        self.jobs.progress.connect(self._on_progress)

    # -- model -------------------------------------------------------------------------
    def on_model_changed(self, model: object) -> None:
        self.jobs.cancel()
        self.result = None
        self.result_tile.set_array(None, "result")
        self._update_buttons()
        if not self.refresh_availability():
            return
        self.on_dataset_changed()
        if self.target is not None and tuple(self.target.shape) != tuple(self.model_state.model.config.image_shape):
            self.target = None
            self.target_tile.set_array(None, "target")
            self.target_caption.setText("Target")
        self._update_buttons()

    def on_dataset_changed(self) -> None:
        self.refresh_test_range()

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
        picked = self.pick_test_image(index, dataset_problem(self.model_state.model, self.dataset_provider()))
        if picked is not None:
            x, index = picked
            self.set_target(x[0], f"test #{index}")

    def open_image(self, file: str | Path | None = None) -> bool:
        """Make an image file (None: ask for one) the target; False, said why, when it can't be read."""
        read = self.read_image_file(file, "Project an image")
        if read is not None:
            self.set_target(read[0][0], read[1])
        return read is not None

    def project_file(self, file: str | Path) -> bool:
        """Make ``file`` the target and start projecting it (an image dropped on the window);
        False, said why, when it can't be read or this model can't be projected through."""
        reason = self.unavailable_reason()
        if reason is not None:
            self.say(reason)
            return False
        if not self.open_image(file):
            return False
        self.run()
        return True

    # -- running -----------------------------------------------------------------------
    def run(self) -> None:
        reason = self.unavailable_reason()
        if reason is not None:  # no model, or a decoder without gradients
            self.say(reason)
            return
        if self.target is None:
            self.say("Choose a target image first.")
            return
        model = snapshot_model(self.model_state)
        if model is None:
            return
        target, steps, restarts, lr = self.target.clone(), self.steps.value(), self.restarts.value(), self.lr.value()
        generation = self.model_state.generation
        self._loss = float("nan")
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self.say(f"Projecting {self.target_name} ({steps} steps × {restarts} restarts)…")

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
        self.say("Cancelled: the best latent found so far is shown." if result.cancelled else "Done.")
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
            self.say("Added to the Paths panel.")

    def files_dropped(self, files: list[Dropped]) -> None:
        images = dropped_of(files, IMAGE_FILE)
        if images:
            self.open_image(images[0])
