"""The Paths panel's Playback box: play, pause and scrub a path's frames, with frames per
segment, fps, loop and ping-pong.

Playing a path *is* setting LatentState to successive frames: each frame is handed to
``show`` (the panel passes ``LatentState.set_flat``) and the main view decodes it, so
playback costs one decode per tick and needs no view of its own.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QSlider, QWidget

from ...widgets.layout import check_box, double_spin_box, hrow, spin_box
from ...widgets.playback import frame_interval_ms, play_button, show_playing
from ...widgets.qt_utils import signals_blocked

#: the path's (n, D) frame latents at the current frames/segment, or None without a path
Frames = Callable[[], "np.ndarray | None"]


class PathPlayback(QGroupBox):
    """Steps through ``frames()`` on a timer, or to where the timeline is dragged."""

    #: frames per segment or fps changed: the panel's frames are stale
    changed = Signal()

    def __init__(self, frames: Frames, show: Callable[[np.ndarray], None], parent: QWidget | None = None) -> None:
        super().__init__("Playback", parent)
        self.frames, self.show_latent = frames, show
        self._frame = 0
        self._direction = 1
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._build()
        self._wire()

    def _build(self) -> None:
        pl = QGridLayout(self)
        self.play_btn = play_button()
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setRange(0, 0)
        self.timeline.setToolTip("Scrub through the path")
        self.frame_label = QLabel("0 / 0")
        self.frame_label.setMinimumWidth(64)
        self.frames_per_segment = spin_box(2, 240, 24, suffix=" frames/seg.",
                                           tooltip="Frames per segment (between two keyframes)")
        self.fps = double_spin_box(0.5, 60.0, 12.0, suffix=" fps")
        self.loop = check_box("Loop", True)
        self.pingpong = check_box("Ping-pong")
        pl.addWidget(self.play_btn, 0, 0)
        pl.addWidget(self.timeline, 0, 1, 1, 3)
        pl.addWidget(self.frame_label, 0, 4)
        for row, pair in enumerate(((self.frames_per_segment, self.fps), (self.loop, self.pingpong)), start=1):
            pl.addLayout(hrow(*pair, stretch=True), row, 0, 1, 5)

    def _wire(self) -> None:
        self.play_btn.toggled.connect(self._on_play_toggled)
        self.timeline.valueChanged.connect(self._on_scrub)
        self.frames_per_segment.valueChanged.connect(lambda _n: self.changed.emit())
        self.fps.valueChanged.connect(self._on_fps)

    def set_frame_count(self, n: int, playable: bool) -> None:
        """The path now has ``n`` frames (0: none); ``playable``: it has a segment to play."""
        with signals_blocked(self.timeline):
            self.timeline.setRange(0, max(0, n - 1))
        self._frame = min(self._frame, max(0, n - 1))
        self.frame_label.setText(f"{self._frame + 1 if n else 0} / {n}")
        self.play_btn.setEnabled(playable)
        self.timeline.setEnabled(playable)

    # -- playing -----------------------------------------------------------------------
    def play(self) -> None:
        self.play_btn.setChecked(True)

    def stop(self) -> None:
        if self.play_btn.isChecked():
            self.play_btn.setChecked(False)  # -> _on_play_toggled(False)
        self.timer.stop()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def _on_play_toggled(self, on: bool) -> None:
        show_playing(self.play_btn, on)
        if not on:
            self.timer.stop()
            return
        frames = self.frames()
        if frames is None or len(frames) < 2:
            self.play_btn.setChecked(False)
            return
        if self._frame >= len(frames) - 1 and not self.loop.isChecked():
            self._frame, self._direction = 0, 1  # replay a finished one-shot from the start
        self._show_frame(self._frame)
        self.timer.start(frame_interval_ms(self.fps.value()))

    def _on_fps(self, fps: float) -> None:
        self.changed.emit()
        if self.timer.isActive():
            self.timer.setInterval(frame_interval_ms(fps))

    def _tick(self) -> None:
        frames = self.frames()
        if frames is None:
            self.stop()
            return
        last = len(frames) - 1
        loop, pingpong = self.loop.isChecked(), self.pingpong.isChecked()
        nxt = self._frame + self._direction
        if nxt > last:  # only when looping: a one-shot stops on its last frame
            self._direction, nxt = (-1, max(0, last - 1)) if pingpong else (1, 0)
        elif nxt < 0:  # ping-pong, looping: turn again at the start
            self._direction, nxt = 1, min(1, last)
        self._show_frame(nxt)
        # a one-shot ends on the frame it stops at (the last, or the first after ping-pong)
        if not loop and ((nxt == last and not pingpong) or (nxt == 0 and self._direction < 0)):
            self._direction = 1
            self.stop()

    def _show_frame(self, i: int) -> None:
        frames = self.frames()
        if frames is None:
            return
        self._frame = int(np.clip(i, 0, len(frames) - 1))
        with signals_blocked(self.timeline):
            self.timeline.setValue(self._frame)
        self.frame_label.setText(f"{self._frame + 1} / {len(frames)}")
        self.show_latent(frames[self._frame])

    def _on_scrub(self, value: int) -> None:
        self.stop()
        self._show_frame(value)
