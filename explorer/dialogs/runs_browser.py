"""The run browser: every training run in a folder as a sortable table, with its newest
sample grid and its last ``eval`` figures, and buttons to open a run or add it to Compare.

The folder is scanned in a worker (``models.runs.listing.find_runs`` reads configs and the tail of
each metrics file, no weights), so a folder of hundreds of runs never stalls the window.
Sample grids are decoded in a worker too (the newest run's with the scan, the others when
selected, the newest selection winning) and the last few are kept, so the table never waits
on a large or slow image. The dialog only lists and asks: opening and comparing are the
window's, via signals.
"""
from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from pathlib import Path

import numpy as np

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from models.io.images import load_png
from models.runs.listing import RunSummary, find_runs, format_duration

from ..errors import describe_error, error_text
from ..jobs import JobRunner
from ..widgets.layout import caption_label
from ..widgets.tiles import array_to_qimage

COLUMNS = ("Run", "Family", "Dataset", "Steps", "Epochs", "Time", "Last eval", "Last losses", "Changed")
#: the preview's side in pixels (sample grids are small; they are scaled up with crisp pixels)
PREVIEW_SIDE = 280
#: decoded sample grids kept for runs selected again
PREVIEWS_KEPT = 32

def _decode(samples: Path) -> np.ndarray | str:
    """A run's sample grid through the app's one image reader (Qt's decoders never see the
    file), or the reason it can't be shown."""
    try:
        return load_png(samples)
    except (ValueError, OSError) as e:
        return f"No samples to show ({error_text(e)})"


class _NumberItem(QTableWidgetItem):
    """A cell that sorts by its number, not its text (so 900 < 1,000); blank sorts first."""

    def __init__(self, value: float | None, text: str) -> None:
        super().__init__(text)
        self.value = float("-inf") if value is None else float(value)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return self.value < other.value
        return super().__lt__(other)


def _eval_text(r: RunSummary) -> str:
    """The last eval's headline, with the disentanglement scores where the run has them
    (eval.json is read unchecked past its known fields, so only numbers are shown)."""
    parts = [r.headline] if r.headline else []
    for key, label in (("mig", "MIG"), ("dci", "DCI")):
        value = r.scores.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{label} {value:.3f}")
    return ", ".join(parts)


def _losses(last: dict[str, float], most: int = 3) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in list(last.items())[:most])


class RunsBrowser(QDialog):
    """Non-modal: it can stay open beside the window while runs are opened and compared."""

    open_requested = Signal(str)
    compare_requested = Signal(list)  # of run folder paths (str)
    #: the list is on screen (tests wait for it)
    scanned = Signal()
    #: the user pointed the browser at another folder (the window remembers it)
    root_changed = Signal(str)

    def __init__(self, root: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Training Runs")
        self.root = Path(root).expanduser()
        self.runs: list[RunSummary] = []
        self.jobs = JobRunner("runs-browser", self, newest_wins=False)
        self.preview_jobs = JobRunner("runs-preview", self, newest_wins=True)
        self._previews: OrderedDict[Path, np.ndarray | str] = OrderedDict()  # by sample file

        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("List the runs of another folder (e.g. where `train --out` wrote them)")
        self.folder_button.clicked.connect(self.choose_folder)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.folder_button)
        top.addWidget(self.refresh_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)  # one line per run; the full losses are beside the preview
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # several runs can go to Compare at once (Ctrl/Shift-click); Open takes the current one
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Last losses"), QHeaderView.ResizeMode.Stretch)
        # newest first until the user clicks another header (a refresh keeps their choice)
        header.setSortIndicator(COLUMNS.index("Changed"), Qt.SortOrder.DescendingOrder)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_selected())

        self.preview = QLabel("No run selected")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW_SIDE, PREVIEW_SIDE)
        self.details = caption_label()
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.preview, 1)
        side_layout.addWidget(self.details)
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self.message = caption_label()
        self.open_button = QPushButton("Open")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.open_selected)
        self.compare_button = QPushButton("Add to Compare")
        self.compare_button.clicked.connect(self.compare_selected)
        self.reveal_button = QPushButton("Show Folder")
        self.reveal_button.setToolTip("Open the run folder in the file manager")
        self.reveal_button.clicked.connect(self.reveal_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        for b in (self.open_button, self.compare_button, self.reveal_button, close):
            buttons.addWidget(b)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.resize(1100, 520)
        self._selection_changed()
        self.refresh()

    # -- scanning ----------------------------------------------------------------------
    def refresh(self) -> None:
        self.folder_label.setText(f"Runs in <b>{self.root}</b>")
        self.message.setText("Scanning…")
        root = self.root

        def scan(_ctx) -> tuple[list[RunSummary], dict[Path, np.ndarray | str]]:
            runs = find_runs(root)
            first = next((r.samples for r in runs if r.samples is not None), None)  # the newest: shown first
            return runs, ({first: _decode(first)} if first is not None else {})

        self.jobs.submit(scan, lambda result: self._show_runs(*result),
                         lambda e: self.message.setText(f"Could not list {root}: {describe_error(e)[1]}"))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of run folders", str(self.root))
        if folder:
            self.set_root(folder)

    def set_root(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self.root_changed.emit(str(self.root))
        self.refresh()

    def _show_runs(self, runs: list[RunSummary], previews: dict[Path, np.ndarray | str] | None = None) -> None:
        selected = self.selected()
        self.runs = runs
        for samples, preview in (previews or {}).items():
            self._keep_preview(samples, preview)
        self.table.setSortingEnabled(False)  # filling a sorted table reorders rows mid-fill
        self.table.setRowCount(len(runs))
        for row, r in enumerate(runs):
            changed = dt.datetime.fromtimestamp(r.modified).strftime("%Y-%m-%d %H:%M") if r.modified else ""
            cells = [
                QTableWidgetItem(r.name),
                QTableWidgetItem(r.family),
                QTableWidgetItem(r.dataset),
                _NumberItem(r.step, "" if r.step is None else f"{r.step:,}"),
                _NumberItem(r.epoch, "" if r.epoch is None else f"{r.epoch:.1f}"),
                _NumberItem(r.seconds, format_duration(r.seconds)),
                _NumberItem(r.headline_value, _eval_text(r)),  # sorts by IS, or by test loss (lower first)
                QTableWidgetItem(_losses(r.last)),
                _NumberItem(r.modified or None, changed),
            ]
            cells[0].setData(Qt.ItemDataRole.UserRole, row)  # the row's summary, whatever the sort
            tip = str(r.path) + (f"\n{r.problem}" if r.problem else "")
            for col, item in enumerate(cells):
                item.setToolTip(tip)
                if not r.openable:
                    item.setForeground(Qt.GlobalColor.gray)
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)  # sorts by the header's indicator
        n = len(runs)
        self.message.setText(f"{n} run{'s' if n != 1 else ''}" if n else
                             "No run folders here yet: train from the Model & data panel, or choose the folder "
                             "`latent-explorer train --out` wrote to.")
        self._select_path(selected.path if selected else (runs[0].path if runs else None))
        self.scanned.emit()

    def _select_path(self, path: Path | None) -> None:
        for row in range(self.table.rowCount()):
            summary = self._summary_at(row)
            if summary is not None and summary.path == path:
                self.table.selectRow(row)
                return
        self._selection_changed()

    # -- selection ---------------------------------------------------------------------
    def _summary_at(self, row: int) -> RunSummary | None:
        item = self.table.item(row, 0)
        index = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return self.runs[index] if isinstance(index, int) and 0 <= index < len(self.runs) else None

    def selected_all(self) -> list[RunSummary]:
        """The selected runs in table order."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows()) if self.table.selectionModel() else []
        return [s for s in (self._summary_at(r) for r in rows) if s is not None]

    def selected(self) -> RunSummary | None:
        """The run the preview shows: the current row when it is selected, else the first."""
        current = self.table.currentRow()
        if current >= 0 and self.table.selectionModel().isRowSelected(current):
            return self._summary_at(current)
        chosen = self.selected_all()
        return chosen[0] if chosen else None

    def _selection_changed(self) -> None:
        r = self.selected()
        openable = [s for s in self.selected_all() if s.openable]
        self.open_button.setEnabled(r is not None and r.openable)
        self.compare_button.setEnabled(bool(openable))
        self.compare_button.setText(f"Add {len(openable)} to Compare" if len(openable) > 1 else "Add to Compare")
        self.reveal_button.setEnabled(r is not None)
        if r is None:
            self.preview.setPixmap(QPixmap())
            self.preview.setText("No run selected")
            self.details.setText("")
            return
        self._show_preview(r)
        lines = [f"{r.family} on {r.dataset}"]
        if r.samples is not None:
            lines.append(f"samples: {r.samples.name}")
        if r.last:
            lines.append(", ".join(f"{k} {v:.4g}" for k, v in r.last.items()))
        if _eval_text(r):
            when = str(r.scores.get("evaluated", ""))[:16].replace("T", " ")
            lines.append(f"eval{' ' + when if when else ''}: {_eval_text(r)}")
        if r.problem:
            lines.append(r.problem)
        self.details.setText("\n".join(lines))

    # -- the preview -------------------------------------------------------------------
    def _show_preview(self, r: RunSummary) -> None:
        """The run's newest sample grid: kept, or decoded in a worker (newest selection wins)."""
        samples = r.samples
        if samples is None:
            self._set_preview("No samples saved yet")
            return
        kept = self._previews.get(samples)
        if kept is not None:
            self._previews.move_to_end(samples)
            self._set_preview(kept)
            return
        self._set_preview("Loading the samples…")

        def shown(preview: np.ndarray | str) -> None:
            self._keep_preview(samples, preview)
            current = self.selected()
            if current is not None and current.samples == samples:
                self._set_preview(preview)

        self.preview_jobs.submit(lambda _ctx: _decode(samples), shown)

    def _keep_preview(self, samples: Path, preview: np.ndarray | str) -> None:
        self._previews[samples] = preview
        while len(self._previews) > PREVIEWS_KEPT:
            self._previews.popitem(last=False)

    def _set_preview(self, preview: np.ndarray | str) -> None:
        if isinstance(preview, str):
            self.preview.setPixmap(QPixmap())
            self.preview.setText(preview)
            return
        pixmap = QPixmap.fromImage(array_to_qimage(preview))
        side = min(PREVIEW_SIDE, max(self.preview.width(), 1), max(self.preview.height(), 1))
        self.preview.setPixmap(pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.FastTransformation))  # crisp pixels

    # -- actions -----------------------------------------------------------------------
    def open_selected(self) -> None:
        r = self.selected()
        if r is not None and r.openable:
            self.open_requested.emit(str(r.path))

    def compare_selected(self) -> None:
        runs = [s for s in self.selected_all() if s.openable]
        if runs:
            self.compare_requested.emit([str(s.path) for s in runs])
            self.message.setText(f"{runs[0].name} added to Compare" if len(runs) == 1 else
                                 f"{len(runs)} runs added to Compare")

    def reveal_selected(self) -> None:
        r = self.selected()
        if r is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(r.path)))

    def shutdown(self) -> None:
        self.preview_jobs.shutdown()
        self.jobs.wait(2.0)
