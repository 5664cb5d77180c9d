"""Training > Evaluate Model: the figures ``latent-explorer eval`` prints, for the open model.

The evaluation (``models.metrics.report.evaluate_model``, the CLI's own) runs in a worker on a
private copy of the model, so training and decoding go on; the first scoring of a dataset
trains its classifier, with a progress bar and Cancel. When the model came from a run folder
the figures are also kept there (``eval.json``), where File > Browse Runs shows them.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QProgressBar, QPushButton,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from models.cancel import Cancelled
from models.data.base import Dataset
from models.families.base import LatentModel
from models.foreign.protocol import ForeignModel, unavailable
from models.metrics.disentanglement import has_factors

from ..errors import describe_error
from ..jobs import JobContext, JobRunner
from ..model_access import model_name
from ..state import recorded_step
from ..widgets.layout import caption_label

#: samples the classifier scores (the CLI's default too)
DEFAULT_SAMPLES = 10000


def result_rows(result: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(name, value) rows for a person: floats to 4 significant digits, nested dicts
    flattened with their key as a prefix ("reference inception_score")."""
    rows: list[tuple[str, str]] = []
    for key, value in result.items():
        name = f"{prefix}{key}"
        if prefix == "factor_dims ":  # a code dimension, as the Latent panel names it
            rows.append((name, f"z{value}" if isinstance(value, int) else "no one dimension"))
        elif isinstance(value, dict):
            rows += result_rows(value, prefix=f"{name} ")
        elif isinstance(value, float):
            rows.append((name, f"{value:.4g}" if math.isfinite(value) else str(value)))
        elif isinstance(value, (list, tuple)):
            rows.append((name, ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)))
        else:
            rows.append((name, str(value)))
    return rows


class EvaluationDialog(QDialog):
    """Non-modal; one evaluation per dialog (Evaluate again for another)."""

    #: the result dict once the evaluation is done (tests and the window listen)
    finished = Signal(object)

    def __init__(self, model: LatentModel, dataset: Dataset, source: Path | None = None,
                 train_state: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Evaluate {model_name(model)} on {dataset.name}")
        self.model, self.dataset, self.source = model, dataset, source
        self.train_state = dict(train_state or {})
        self.result: dict[str, Any] | None = None
        #: whether the evaluation under way trains the dataset's classifier first
        self._trains_classifier = False
        self.jobs = JobRunner("evaluation", self, newest_wins=False)

        self.samples = QSpinBox()
        # a generator is nothing but its samples: at least 100 of them
        self.samples.setRange(0 if model.latent_spec.has_encoder else 100, 100_000)
        self.samples.setSingleStep(1000)
        self.samples.setValue(DEFAULT_SAMPLES if model.has_prior else 0)
        self.samples.setEnabled(model.has_prior)
        self.samples.setPrefix("Score ")
        self.samples.setSuffix(" samples")
        self.samples.setSpecialValueText("No sample scores")
        self.samples.setToolTip("Samples the dataset's classifier scores (inception score, classifier FID, classes); "
                                "0 skips them for models with an encoder")
        self.run_button = QPushButton("Evaluate")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(self.samples, 1)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)

        self.progress = QProgressBar()
        self.progress.hide()
        self.message = caption_label(self._intro())
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Figure", "Value"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)

        self.copy_button = QPushButton("Copy as JSON")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.copy_button)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self.resize(600, 560)

    def _intro(self) -> str:
        what = "reconstruction figures on the test set" if self.model.latent_spec.has_encoder else ""
        if what and has_factors(self.dataset.test):  # the shapes set: codes scored against its factors
            what += ", disentanglement (MIG, DCI) against its ground-truth factors"
        if self.model.has_prior:
            what += (" and " if what else "") + "sample scores from the dataset's classifier (trained once, then cached)"
        return (f"{what[0].upper()}{what[1:]}." if what else "Nothing to evaluate for this model.") + self._foreign_note()

    def _foreign_note(self) -> str:
        """For a model made elsewhere: which test set serves (it comes with none) and what it cannot be scored on."""
        if not isinstance(self.model, ForeignModel):
            return ""
        note = f" It comes with no dataset: the figures are on the {self.dataset.name} test set chosen in Model & data."
        for feature, what in (("encode", "No reconstruction figures"), ("sample_scores", "No sample scores")):
            reason = unavailable(self.model, feature)
            if reason is not None:
                note += f" {what}: {reason}"
        return note

    # -- the job -------------------------------------------------------------------------
    def start(self) -> None:
        from models.metrics.classifier import cache_path

        model, dataset, n = self.model, self.dataset, self.samples.value()
        needs_classifier = model.has_prior and n > 0 and dataset.labelled and not cache_path(dataset).exists()
        self._trains_classifier = needs_classifier
        self.message.setText(f"Training the {dataset.name} classifier that scores samples (once; cached)…"
                             if needs_classifier else "Evaluating…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.run_button.setEnabled(False)
        self.samples.setEnabled(False)
        self.cancel_button.setEnabled(True)

        def job(ctx: JobContext) -> dict[str, Any] | None:
            from models.metrics.classifier import get_classifier
            from models.metrics.report import evaluate_model

            def classifier() -> Any:
                # on the GPU if there is one (the model is a CPU copy); the models' cancel
                # contract: the training stops at its next step once the job is cancelled
                clf = get_classifier(dataset, progress=ctx.progress, cancel=ctx.cancelled)
                ctx.progress(0, 0)  # scoring: no step count to show
                return clf

            try:
                return evaluate_model(model, dataset, n=n if model.has_prior else None, classifier=classifier,
                                      cancel=ctx.cancelled)
            except Cancelled:
                return None

        self.jobs.submit(job, self._done, self._failed, self._progress)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        if total:
            self.message.setText(f"Training the {self.dataset.name} classifier: step {done:,} of {total:,}…")
        else:
            self.message.setText("Scoring samples…")
            self.cancel_button.setEnabled(False)  # only the classifier's training stops midway

    def cancel(self) -> None:
        self.jobs.cancel()  # the engine sees it at its next check (a classifier step, a phase) and the job returns None
        self.message.setText("Cancelling…")

    def _finish_job(self) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(True)
        self.samples.setEnabled(self.model.has_prior)

    def _failed(self, error: BaseException) -> None:
        self._finish_job()
        title, text = describe_error(error)
        self.message.setText(f"{title}: {text}")

    def _done(self, result: dict[str, Any] | None) -> None:
        self._finish_job()
        if result is None:
            self.message.setText("Cancelled: the classifier was not trained (nothing was cached)."
                                 if self._trains_classifier else "Cancelled.")
            return
        self.result = result
        rows = result_rows(result)
        self.table.setRowCount(len(rows))
        for r, (name, value) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            if _is_number(value):  # figures line up on the right; words read from the left
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(r, 1, item)
        self.copy_button.setEnabled(True)
        self.message.setText(self._record(result))
        self.finished.emit(result)

    def _record(self, result: dict[str, Any]) -> str:
        """Keep the figures in the model's run folder, as `eval` does; say where."""
        from models.runs.run_dir import record_eval

        if self.train_state.get("dataset") != self.dataset.name:
            return "Done."
        try:
            path = record_eval(self.source, self.as_json(), seed=0)
        except OSError as e:
            return f"Done. (Not kept in the run folder: {e.strerror or e}.)"
        return f"Done; kept in {path} for File ▸ Browse Runs." if path is not None else "Done."

    def as_json(self) -> dict[str, Any]:
        step = recorded_step(self.train_state)
        return json.loads(json.dumps({"step": step, **(self.result or {})}, default=_plain))

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(json.dumps(self.as_json(), indent=2))

    def shutdown(self) -> None:
        self.jobs.cancel()
        self.jobs.wait(5.0)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _plain(value: Any) -> Any:
    """Tensors and numpy values as plain JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
