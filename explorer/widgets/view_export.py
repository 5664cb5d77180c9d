"""Exporting what a view shows: plots as PNG and SVG, their curves as CSV, images and tile grids
as PNG, behind one "Export…" button with a menu of formats.

A view lists :class:`ExportFormat` s (built with :func:`plot_png`, :func:`plot_svg`,
:func:`curves_csv_format`, :func:`table_csv_format`, :func:`array_png`, :func:`widget_png`) and puts an :class:`ExportButton`
beside its controls. Choosing a format asks where to save (starting in the folder of the last
export, remembered across sessions), then:

* captures on the GUI thread what is on screen now, since Qt paints scenes and widgets
  there only: a plot rendered through pyqtgraph's ImageExporter at twice its size on
  screen (:data:`~.view_capture.PLOT_SCALE`), its SVG by pyqtgraph's SVGExporter, a widget grabbed
  at its size on screen, a copy of an image's pixels, a copy of the curves' or points' numbers;
* encodes and writes on the one export runner (:func:`export_jobs`, run-once): PNG
  compression of a large image and a CSV of a long run take from tens of milliseconds to
  seconds, and a network drive can stall any write, so the window never waits for them.
  Every file is written atomically (:mod:`models.io.atomic`; PNGs through
  :func:`models.io.images.save_png`, as the CLI writes its grids), so a reader never sees
  half a file.

How each view is captured and encoded is :mod:`.view_capture`'s.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMenu, QToolButton, QWidget
from shiboken6 import isValid

from models.io.atomic import atomic_write_bytes
from models.io.images import save_png

from .. import settings
from ..errors import about_file
from ..jobs import JobRunner
from .view_capture import PlotLike, content_rect, curves_csv, plots_svg, qimage_to_array, render_plots, table_csv

#: the settings key of the folder the last export went to
LAST_FOLDER_KEY = "export_folder"
_FILTERS = {".png": "PNG images (*.png)", ".svg": "SVG images (*.svg)", ".csv": "CSV tables (*.csv)"}

#: runs on the export worker: encode what was captured and write it to the path given
Writer = Callable[[Path], object]


# -- what a view offers --------------------------------------------------------------------
@dataclass(frozen=True)
class ExportFormat:
    """One entry of an Export menu: its text, the file name offered, what to say when there
    is nothing to export, and ``prepare``, which captures the view on the GUI thread and
    returns the :data:`Writer` that writes the file (None: nothing to export)."""

    label: str
    file_name: str
    prepare: Callable[[], Writer | None]
    ready: Callable[[], bool] = lambda: True
    empty: str = "Nothing to export yet."

    @property
    def suffix(self) -> str:
        return Path(self.file_name).suffix.lower()

    @property
    def filter(self) -> str:
        return _FILTERS.get(self.suffix, f"{self.suffix[1:].upper()} files (*{self.suffix})")


def plot_png(label: str, file_name: str, plots: Callable[[], Sequence[PlotLike]], **kw) -> ExportFormat:
    """The plots ``plots()`` gives, rendered one under the other, as a PNG."""
    def prepare() -> Writer | None:
        shown = list(plots())
        if not shown:
            return None
        image = render_plots(shown)
        return lambda path: save_png(image, path)

    return ExportFormat(label, file_name, prepare, **kw)


def plot_svg(label: str, file_name: str, plots: Callable[[], Sequence[PlotLike]], **kw) -> ExportFormat:
    """The plots ``plots()`` gives as one SVG."""
    def prepare() -> Writer | None:
        shown = list(plots())
        if not shown:
            return None
        data = plots_svg(shown)
        return lambda path: atomic_write_bytes(Path(path), data)

    return ExportFormat(label, file_name, prepare, **kw)


def curves_csv_format(label: str, file_name: str, series: Callable[[], Mapping[str, tuple[np.ndarray, np.ndarray]]],
                      x_name: str = "step", **kw) -> ExportFormat:
    """The curves ``series()`` gives (name -> (x, y), copied now) as a CSV table (:func:`curves_csv`)."""
    def prepare() -> Writer | None:
        data = {name: (np.array(x, np.float64), np.array(y, np.float64)) for name, (x, y) in series().items()}
        if not data:
            return None
        return lambda path: atomic_write_bytes(Path(path), curves_csv(data, x_name))

    return ExportFormat(label, file_name, prepare, **kw)


def table_csv_format(label: str, file_name: str, table: Callable[[], Mapping[str, np.ndarray | Sequence[str]] | None],
                     **kw) -> ExportFormat:
    """The columns ``table()`` gives (name -> equal-length values, copied now) as a CSV table,
    a row per point (:func:`table_csv`); None: nothing to export."""
    def prepare() -> Writer | None:
        columns = table()
        if not columns:
            return None
        data = {name: np.array(values) for name, values in columns.items()}
        return lambda path: atomic_write_bytes(Path(path), table_csv(data))

    return ExportFormat(label, file_name, prepare, **kw)


def array_png(label: str, file_name: str, image: Callable[[], np.ndarray | None], **kw) -> ExportFormat:
    """The uint8 (H, W) or (H, W, C) image ``image()`` gives, pixel for pixel, as a PNG."""
    def prepare() -> Writer | None:
        pixels = image()
        if pixels is None:
            return None
        pixels = np.array(pixels, np.uint8)  # a copy: the view may replace its image meanwhile
        return lambda path: save_png(pixels, path)

    kw.setdefault("ready", lambda: image() is not None)
    return ExportFormat(label, file_name, prepare, **kw)


def widget_png(label: str, file_name: str, widget: Callable[[], QWidget | None], **kw) -> ExportFormat:
    """The widget ``widget()`` gives, as drawn on screen at its size, as a PNG: the area its
    visible children cover and a small margin (a grid in a scroll area is as wide as the
    area, its tiles usually are not)."""
    def prepare() -> Writer | None:
        w = widget()
        if w is None:
            return None
        area = content_rect(w)
        if area.isEmpty():
            return None
        pixels = qimage_to_array(w.grab(area).toImage())
        return lambda path: save_png(pixels, path)

    return ExportFormat(label, file_name, prepare, **kw)


# -- the writer thread ---------------------------------------------------------------------
_jobs: JobRunner | None = None


def export_jobs() -> JobRunner:
    """The one runner every Export button writes through: run-once, so every file asked for
    is written, in order. No panel owns it: a panel's shutdown cancels its own work, but a
    file the user asked for is still written; the window waits for it when it closes
    (:func:`wait_for_exports`)."""
    global _jobs
    if _jobs is None:
        _jobs = JobRunner("export", newest_wins=False)
    return _jobs


def wait_for_exports(timeout_s: float = 10.0) -> bool:
    """Block until the files being exported are written (the window is closing). True when they are."""
    return _jobs is None or _jobs.wait(timeout_s)


# -- asking where, and remembering --------------------------------------------------------
def ask_export_path(parent: QWidget, title: str, suggested: Path, file_filter: str) -> str | None:
    """The file the user picks to export to (None: cancelled)."""
    chosen, _ = QFileDialog.getSaveFileName(parent, title, str(suggested), file_filter)
    return chosen or None


def last_folder() -> Path:
    """The folder the last export went to, while it exists; else the home folder."""
    text = settings.read_text(LAST_FOLDER_KEY)
    folder = Path(text) if text else None
    return folder if folder is not None and folder.is_dir() else Path.home()


def remember_folder(folder: Path) -> None:
    settings.settings().setValue(LAST_FOLDER_KEY, str(folder))


def with_suffix(path: str | Path, suffix: str) -> Path:
    """``path``, with ``suffix`` added when it has another one (a name typed without ".png")."""
    path = Path(path)
    return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)


# -- the button ----------------------------------------------------------------------------
class ExportButton(QToolButton):
    """"Export…" with a menu of ``formats`` (None in the list: a separator). Its messages
    ("Exported …", "Could not export …") go to ``say``, else to the status bar of the main
    window it is in; ``exported`` carries each file written."""

    #: the Path of a file once it is written
    exported = Signal(object)

    def __init__(self, formats: Sequence[ExportFormat | None], say: Callable[[str], None] | None = None,
                 text: str = "Export…", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setText(text)
        self.setToolTip("Save what this view shows as a file")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.say = say
        self.formats = [f for f in formats if f is not None]
        menu = QMenu(self)
        self._actions = {}
        for fmt in formats:
            if fmt is None:
                menu.addSeparator()
                continue
            action = menu.addAction(fmt.label)
            action.triggered.connect(lambda _checked=False, f=fmt: self.export(f))
            self._actions[fmt.label] = action
        menu.aboutToShow.connect(self._enable_ready)
        self.setMenu(menu)

    def format(self, label: str) -> ExportFormat:
        """The format whose menu text is (or starts with) ``label``."""
        for fmt in self.formats:
            if fmt.label == label or fmt.label.startswith(label):
                return fmt
        raise KeyError(label)

    def export(self, fmt: ExportFormat | str, path: str | Path | None = None) -> bool:
        """Export in ``fmt`` to ``path`` (None: ask, starting in the last export's folder).
        The file is written in the background; returns whether the write was started."""
        fmt = self.format(fmt) if isinstance(fmt, str) else fmt
        if not fmt.ready():
            self._say(fmt.empty)
            return False
        if path is None:
            chosen = ask_export_path(self, fmt.label.rstrip("…").strip(), last_folder() / fmt.file_name, fmt.filter)
            if not chosen:
                return False
            path = with_suffix(chosen, fmt.suffix)
            remember_folder(path.parent)
        path = Path(path)
        # the capture is the GUI thread's (an SVG of long curves takes a few tenths of a second)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            writer = fmt.prepare()
        except Exception as e:  # noqa: BLE001 - a view that cannot be drawn: say so, keep the window
            self._say(f"Could not export: {about_file(path, e)}")
            return False
        finally:
            QApplication.restoreOverrideCursor()
        if writer is None:
            self._say(fmt.empty)
            return False

        def job(_ctx) -> Path:
            writer(path)
            return path

        export_jobs().submit(job, on_done=self._on_written, on_error=lambda e: self._on_failed(path, e))
        self._say(f"Exporting {path.name}…")
        return True

    def _on_written(self, path: Path) -> None:
        if isValid(self):  # the view may have closed while the file was written
            self._say(f"Exported {path}")
            self.exported.emit(path)

    def _on_failed(self, path: Path, error: BaseException) -> None:
        if isValid(self):
            self._say(f"Could not export: {about_file(path, error)}")

    def _enable_ready(self) -> None:
        for fmt in self.formats:
            self._actions[fmt.label].setEnabled(bool(fmt.ready()))

    def _say(self, text: str) -> None:
        if self.say is not None:
            self.say(text)
            return
        w = self.parentWidget()
        while w is not None and not isinstance(w, QMainWindow):
            w = w.parentWidget()
        if w is not None:
            w.statusBar().showMessage(text, 8000)
