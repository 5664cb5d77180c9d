"""The Compare panel's Metrics tab: one table of every model's reconstruction error on the test
set and the quality of its prior samples (inception score, classifier FID, classes covered),
so autoencoders and GANs read on one scale; on the shapes set also each encoder's
disentanglement (MIG, DCI). Computed in a cancellable job; copied as TSV."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QApplication, QHeaderView, QProgressBar, QTableWidget, QTableWidgetItem, QVBoxLayout,
)

from models.foreign.protocol import unavailable
from models.metrics.report import COMPARE_SAMPLES, compare_models

from ...model_access import model_name
from ...widgets.layout import check_box, hrow, push_button
from .tab import CompareTab

#: prior samples per model in the sample-quality columns (a few seconds per model on a CPU)
SAMPLE_SCORE_N = COMPARE_SAMPLES

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
    ("Class acc ↑", "class_accuracy", "max", f"Share of {SAMPLE_SCORE_N:,} samples of a class-conditional model "
                                             "(cvae, cgan), classes spread evenly, read as the class asked for"),
    ("MIG ↑", "mig", "max", "Mutual information gap of the encoder's codes against the dataset's ground-truth "
                            "factors (0: entangled, 1: each factor in one dimension; shapes only)"),
    ("DCI ↑", "dci", "max", "DCI disentanglement: how much each code dimension is about one factor alone "
                            "(Eastwood & Williams 2018; shapes only; needs scikit-learn)"),
]
#: columns shown only when some model has the figure (datasets with ground-truth factors)
OPTIONAL_COLUMNS = ("mig", "dci", "class_accuracy")


SAMPLE_QUALITY_TIP = (
    f"Also score {SAMPLE_SCORE_N:,} prior samples of every model that has a prior (VAEs, AAEs, GANs) with the "
    "dataset's classifier: inception score, classifier FID and classes covered, the figures of `eval`. "
    "Needs a labelled dataset; the classifier is trained once (about a minute on a CPU) and cached. "
    "FID falls with sample size, so it reads higher than eval's 10,000-sample figure.")


def _cell(key: str, value) -> str:
    if value is None:
        return "—"
    formats = {"mse": "{:.5f}", "bce": "{:.4f}", "ssim": "{:.4f}", "n": "{}", "inception_score": "{:.2f}",
               "sample_fid": "{:.1f}", "classes": "{:.0%}", "mig": "{:.3f}", "dci": "{:.3f}",
               "class_accuracy": "{:.1%}"}
    return formats[key].format(value)


class MetricsTab(CompareTab):
    """A row per model: reconstruction metrics, sample scores, the best of each column in bold."""

    #: a metrics job ended and the table shows its rows (tests wait for it)
    metrics_ready = Signal()

    def _setup(self) -> None:
        self.metrics: list[dict | None] = []

    def _build(self) -> None:
        ml = QVBoxLayout(self)
        self.metrics_btn = push_button("Compute on the test set",
                                       "Per-pixel MSE, BCE and SSIM of every model over the whole test set",
                                       clicked=self.compute_metrics)
        self.sample_quality = check_box("Sample quality", True, SAMPLE_QUALITY_TIP)
        self.metrics_cancel = push_button("Cancel", enabled=False, clicked=self.jobs.cancel)
        self.metrics_progress = QProgressBar()
        self.metrics_progress.setMaximumHeight(14)
        self.copy_btn = push_button("Copy table", "Copy the table as tab-separated text "
                                                  "(pastes into a spreadsheet or a notebook)", enabled=False,
                                    clicked=self.copy_table)
        ml.addLayout(hrow(self.metrics_btn, self.sample_quality, self.metrics_cancel, self.copy_btn,
                          (self.metrics_progress, 1)))
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

    def _wire(self) -> None:
        self.jobs.busy_changed.connect(self._on_metrics_busy)
        self.jobs.progress.connect(self._on_metrics_progress)

    def clear_metrics(self) -> None:
        """Forget every row's figures (the models or the dataset changed); names stay."""
        self.metrics = [None] * len(self.entries)
        self._fill_table()

    # -- computing ---------------------------------------------------------------------
    def compute_metrics(self) -> None:
        ds = self.dataset_or_say("Metrics need the test set: load a dataset first.")
        if ds is None:
            return
        if not self.entries:
            self.status.emit("Add models to compare first.")
            return
        models = [e.model for e in self.entries]
        scores = self.sample_quality.isChecked() and any(unavailable(m, "sample_scores") is None for m in models)
        if self.sample_quality.isChecked() and not scores:
            self.status.emit(f"No sample scores: {unavailable(models[0], 'sample_scores')}" if len(models) == 1 else
                             "No sample scores: no model here declares a prior its samples were trained to match.")
        if scores and not ds.labelled:
            self.status.emit(f"Sample quality needs class labels; {ds.name} has none: reconstruction metrics only.")
            scores = False
        if scores:
            from models.metrics.classifier import cache_path

            if not cache_path(ds).exists():
                self.status.emit(f"Training the {ds.name} classifier that scores samples (once; cached for next time)…")

        def job(ctx) -> list[dict | None]:
            # the classifier's first training and then each row report progress; Cancel stops
            # either, and the rows computed so far are shown
            return compare_models(models, ds, sample_scores=scores, n=SAMPLE_SCORE_N, progress=ctx.progress,
                                  classifier_progress=ctx.progress, cancel=ctx.cancelled)

        self.metrics_progress.setRange(0, len(models))
        self.metrics_progress.setValue(0)
        self.jobs.submit(job, on_done=self._on_metrics)

    def _on_metrics(self, metrics: list[dict | None]) -> None:
        self.metrics = metrics + [None] * (len(self.entries) - len(metrics))
        self._fill_table()
        self.copy_btn.setEnabled(bool(self.entries))
        if len(metrics) < len(self.entries):
            self.status.emit("Metrics cancelled: the rows computed so far are shown.")
        self.metrics_ready.emit()

    def _on_metrics_busy(self, busy: bool) -> None:
        self.metrics_btn.setEnabled(not busy)
        self.metrics_cancel.setEnabled(busy)

    def _on_metrics_progress(self, done: int, total: int) -> None:
        self.metrics_progress.setRange(0, total)
        self.metrics_progress.setValue(done)

    # -- the table ---------------------------------------------------------------------
    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.entries))
        best: dict[str, float] = {}
        for _, key, better, _ in COLUMNS:
            values = [m[key] for m in self.metrics if m and key in m]
            if better and len(values) > 1:
                best[key] = max(values) if better == "max" else min(values)
        for c, (_, key, _, _) in enumerate(COLUMNS):
            if key in OPTIONAL_COLUMNS:
                self.table.setColumnHidden(c, not any(m and key in m for m in self.metrics))
        for r, e in enumerate(self.entries):
            m = (self.metrics[r] if r < len(self.metrics) else None) or {}
            for c, (_, key, _, _) in enumerate(COLUMNS):
                text = {"name": e.name, "family": model_name(e.model)}.get(key) or _cell(key, m.get(key))
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
        shown = [c for c in range(t.columnCount()) if not t.isColumnHidden(c)]  # as the table reads
        header = [t.horizontalHeaderItem(c).text() for c in shown]
        rows = [[(t.item(r, c).text() if t.item(r, c) else "") for c in shown] for r in range(t.rowCount())]
        return "\n".join("\t".join(cells) for cells in [header, *rows]) + "\n"

    def copy_table(self) -> None:
        QApplication.clipboard().setText(self.table_text())
        self.status.emit(f"Copied the metrics of {self.table.rowCount()} model(s) to the clipboard.")
