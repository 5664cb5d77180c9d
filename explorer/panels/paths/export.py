"""The Paths panel's way out and in: GIF and PNG-strip export (rendered in a background job on
a model copy), the path as JSON (save; load, read and checked in a background job too,
the newest file asked for winning), and "Send to compare"."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QWidget

from models.explore.latent_paths import LatentPath, load_path, save_path
from models.explore.render import render_frames, save_gif, save_strip

from ...jobs import JobRunner
from ...model_access import snapshot_model
from ...state import ModelState
from ...widgets.layout import push_button
from ..base import open_file, save_file

PATH_FILTER = "Latent path (*.json)"
#: writes the rendered frames of a path to a file and returns where
Writer = Callable[[list, Path, LatentPath], Path]


class PathExport(QWidget):
    """Buttons and file work for the panel's path (``path()``; None without keyframes).
    A loaded path is handed to ``apply_path(path, label)``, which replaces the keyframes
    (or says why not, and returns False).
    Frames are rendered in ``jobs``, the panel's runner."""

    #: short user-facing messages
    status = Signal(str)
    #: "Send to compare": the current path, for playing across several models
    path_ready = Signal(object)  # LatentPath

    def __init__(self, model_state: ModelState, path: Callable[[], LatentPath | None], frame_count: Callable[[], int],
                 apply_path: Callable[[LatentPath, str], bool], jobs: JobRunner, load_jobs: JobRunner,
                 parent: QWidget | None = None) -> None:
        """``jobs`` renders exports; ``load_jobs`` (newest wins, failures said by its owner) reads path files."""
        super().__init__(parent)
        self.model_state, self.path, self.frame_count, self.apply_path = model_state, path, frame_count, apply_path
        self.last_export: Path | None = None
        self.jobs, self.load_jobs = jobs, load_jobs
        self._build()
        self._wire()

    def _build(self) -> None:
        out = QGridLayout(self)
        out.setContentsMargins(0, 0, 0, 0)
        self.gif_btn = push_button("GIF…", "Export the path as an animated GIF (fps, loop and ping-pong as set)")
        self.strip_btn = push_button("PNG strip…", "Export the path as one row of frames (frames/segment as set)")
        self.save_btn = push_button("Save…", "Save the path as JSON")
        self.load_btn = push_button("Load…", "Load a path JSON (you can also drop one here)")
        self.compare_btn = push_button("Send to compare", "Play this path side by side on the models of the Compare panel")
        for i, w in enumerate((self.gif_btn, self.strip_btn, self.compare_btn, self.save_btn, self.load_btn)):
            out.addWidget(w, i // 3, i % 3)

    def _wire(self) -> None:
        self.gif_btn.clicked.connect(lambda: self.export_gif())
        self.strip_btn.clicked.connect(lambda: self.export_strip())
        self.save_btn.clicked.connect(lambda: self.save_path_file())
        self.load_btn.clicked.connect(lambda: self.load_path_file())
        self.compare_btn.clicked.connect(self.send_to_compare)

    def set_available(self, has_path: bool, has_keyframes: bool) -> None:
        """A path (two keyframes or more) can be exported and sent; one keyframe can be saved."""
        for w in (self.gif_btn, self.strip_btn, self.compare_btn):
            w.setEnabled(has_path)
        self.save_btn.setEnabled(has_keyframes)

    # -- images ------------------------------------------------------------------------
    def _export(self, file: str | Path | None, title: str, filters: str, suffix: str, write: Writer) -> None:
        path = self.path()
        if path is None or len(path.keyframes) < 2:
            self.status.emit("Add at least two keyframes first.")
            return
        file = save_file(self, file, title, f"path{suffix}", filters)
        if file is None:
            return
        file = Path(file)
        if not file.suffix:
            file = file.with_suffix(suffix)
        model = snapshot_model(self.model_state)
        n = self.frame_count()
        self.status.emit(f"Rendering {n} frames…")

        def job(ctx) -> Path:
            frames = render_frames(model, path, n)  # decodes in batches: the slow part
            return write(frames, file, path)

        self.jobs.submit(job, on_done=self._exported)

    def export_gif(self, file: str | Path | None = None) -> None:
        self._export(file, "Export GIF", "GIF (*.gif)", ".gif",
                     lambda frames, f, p: save_gif(frames, f, fps=p.fps, loop=p.loop, pingpong=p.pingpong))

    def export_strip(self, file: str | Path | None = None) -> None:
        self._export(file, "Export PNG strip", "PNG (*.png)", ".png", lambda frames, f, p: save_strip(frames, f))

    def _exported(self, file: Path) -> None:
        self.last_export = Path(file)
        self.status.emit(f"Saved {Path(file).name}")

    # -- JSON --------------------------------------------------------------------------
    def save_path_file(self, file: str | Path | None = None) -> Path | None:
        path = self.path()
        if path is None:
            return None
        file = save_file(self, file, "Save path", "path.json", PATH_FILTER)
        if file is None:
            return None
        try:
            out = save_path(path, file)
        except OSError as e:
            self.status.emit(f"Could not save {Path(file).name}: {e.strerror or e}")
            return None
        self.status.emit(f"Saved {out.name}")
        return out

    def load_path_file(self, file: str | Path | None = None) -> bool:
        """Read a path file in the background (a long one takes a while) and apply it when
        read; True when the read was started. A newer request replaces one still running."""
        model = snapshot_model(self.model_state)  # the job's own copy: the path is checked against it
        if model is None:
            self.status.emit("Open or train a model before loading a path: a path is points of a model's latent space.")
            return False
        file = open_file(self, file, "Load path", PATH_FILTER)
        if file is None:
            return False
        file = Path(file)
        generation = self.model_state.generation
        self.status.emit(f"Reading {file.name}…")

        def loaded(path: LatentPath) -> None:
            if generation != self.model_state.generation:
                self.status.emit(f"Did not apply {file.name}: another model was opened meanwhile.")
                return
            if self.apply_path(path, file.stem) and not path.notes:
                self.status.emit(f"Loaded {file.name}: {len(path.keyframes)} keyframes")

        self.load_jobs.submit(lambda _ctx: load_path(file, model), on_done=loaded)
        return True

    # -- other panels ------------------------------------------------------------------
    def send_to_compare(self) -> None:
        path = self.path()  # carries the Playback box's fps
        if path is not None and len(path.keyframes) >= 2:
            self.path_ready.emit(path)
            self.status.emit("Sent to the Compare panel.")
