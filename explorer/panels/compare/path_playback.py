"""The Compare panel's Path tab: a path sent from the Paths panel, decoded by every model whose
flat latent has the path's size, its frames played in one row with every model in step; Export
saves the row as it is shown (the current frame of every model, with their names) as a PNG."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from models.explore.latent_paths import LatentPath
from models.explore.render import render_frames

from ...widgets.layout import check_box, hrow, scroll_area, spin_box
from ...widgets.playback import frame_interval_ms, play_button, show_playing
from ...widgets.tiles import Tile
from ...widgets.view_export import ExportButton, widget_png
from .tab import CompareTab

PATH_TILE = 96


class PathPlaybackTab(CompareTab):
    """One tile per model, all showing the same frame of the path; play, pause, loop."""

    #: a path arrived: the panel brings this tab to the front
    path_shown = Signal()
    #: every fitting model's frames are decoded and the row shows them (tests wait for it)
    path_frames_ready = Signal()

    def _setup(self) -> None:
        self.path: LatentPath | None = None
        self.path_frames: dict[int, list[np.ndarray]] = {}  # entry index -> uint8 frames
        self.frame = 0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)

    def _build(self) -> None:
        pl = QVBoxLayout(self)
        self.path_label = QLabel("No path yet: build one in the Paths panel and press “Send to compare”.")
        self.path_label.setWordWrap(True)
        self.play_btn = play_button(enabled=False)
        self.path_fps = spin_box(1, 60, 12, suffix=" fps")
        self.path_frames_per_segment = spin_box(2, 120, 16, suffix=" frames/segment")
        self.path_loop = check_box("Loop", True)
        pl.addWidget(self.path_label)
        self.export_btn = ExportButton([widget_png(
            "Current frames as PNG…", "compare-path-frame.png", lambda: self.path_row,
            ready=lambda: bool(self.path_tiles), empty="No path frames yet: send a path from the Paths panel.")],
            say=self.status.emit)
        row = hrow(self.play_btn, self.path_fps, self.path_frames_per_segment, self.path_loop, stretch=True)
        row.addWidget(self.export_btn)
        pl.addLayout(row)
        self.path_row = QWidget()
        self.path_layout = QGridLayout(self.path_row)
        self.path_layout.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.path_tiles: dict[int, Tile] = {}
        pl.addWidget(scroll_area(self.path_row), 1)

    def _wire(self) -> None:
        self.play_btn.toggled.connect(self._on_play_toggled)
        self.path_fps.valueChanged.connect(lambda fps: self.timer.setInterval(frame_interval_ms(fps)))
        self.path_frames_per_segment.valueChanged.connect(lambda _v: self.play_path(self.path) if self.path else None)

    def replay(self) -> None:
        """Decode the current path again (the models changed); nothing without a path."""
        if self.path is not None:
            self.play_path(self.path)

    # -- decoding ----------------------------------------------------------------------
    def play_path(self, path: LatentPath) -> None:
        """Decode ``path`` with every model of its latent size (job), then play them together."""
        self.stop()
        self.path = path
        n = 1 + len(path.kinds) * self.path_frames_per_segment.value()
        fits = {i: e.model for i, e in enumerate(self.entries) if e.model.latent_spec.input_dim == path.dim}
        self.path_label.setText(f"Path of {len(path.keyframes)} keyframes, {n} frames; "
                                f"{len(fits)} of {len(self.entries)} models take latents of size {path.dim}.")
        self.path_fps.setValue(max(1, round(path.fps)))
        self.path_shown.emit()
        if not fits:
            self.status.emit("Add models with a latent of the path's size to play it side by side.")
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

        self.jobs.submit(job, on_done=self._on_path_frames)

    def _on_path_frames(self, frames: dict[int, list[np.ndarray]]) -> None:
        self.path_frames = frames
        self.frame = 0
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

    # -- playing -----------------------------------------------------------------------
    def _on_play_toggled(self, on: bool) -> None:
        show_playing(self.play_btn, on)
        if on and self.path_frames:
            if self.frame >= self._frame_count() - 1:
                self.frame = 0
            self.timer.start(frame_interval_ms(self.path_fps.value()))
        else:
            self.timer.stop()

    def _frame_count(self) -> int:
        return min((len(f) for f in self.path_frames.values()), default=0)

    def _tick(self) -> None:
        n = self._frame_count()
        if n == 0:
            self.stop()
            return
        nxt = self.frame + 1
        if nxt >= n:
            if not self.path_loop.isChecked():
                self.stop()
                return
            nxt = 0
        self.frame = nxt
        for i, tile in self.path_tiles.items():  # all models on the same frame
            tile.set_array(self.path_frames[i][nxt])

    def stop(self) -> None:
        self.play_btn.setChecked(False)
        self.timer.stop()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()
