"""The status bar's latency meter: how long the main view's decodes take, and how many
frames a second it shows, while the point moves (a slider drag, a path playing).

Fed one call per shown image (``record(seconds)``, connected to the live decoder's
``frame_timed``), it shows the rolling median decode time of the last frames and the frame
rate of the last second, e.g. "decode 4.2 ms · 38 fps". A second after the last frame it
greys to "decode 4.2 ms · idle": nothing is decoding, and a frame rate would only say how
long ago the user stopped. The text is redrawn a few times a second, not per frame: a drag
decodes 60+ times a second and the status bar should not repaint as often.

``clock`` (seconds, monotonic) is injectable so tests move time instead of sleeping.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

#: frames the decode time is the median of
MEDIAN_FRAMES = 30
#: the frame rate counts the frames of this many recent seconds
FPS_WINDOW_S = 1.0
#: no frame for this long: idle
IDLE_AFTER_S = 1.0
#: how often the text is redrawn while frames come
REFRESH_MS = 250
#: the text before anything was decoded
IDLE_TEXT = "decode idle"
TOOLTIP = ("The main view's decoder: the median time of its last decodes (one per image shown), and the "
           "images shown per second while the point moves (a slider drag, a path playing). Idle a second "
           "after the last image.")
_IDLE_STYLE = "color: #8a8a8a;"


def duration_text(seconds: float) -> str:
    """0.00018 -> "180 µs", 0.0042 -> "4.2 ms", 0.0421 -> "42 ms", 1.5 -> "1.5 s"."""
    ms = seconds * 1e3
    if ms < 1:  # small decoders take well under a millisecond on the CPU
        return f"{seconds * 1e6:.0f} µs"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.1f} s"


class LatencyMeter(QLabel):
    """Decode time and frame rate of the frames ``record`` hears of; idle text when none come."""

    def __init__(self, parent: QWidget | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(IDLE_TEXT, parent)
        self.clock = clock
        self._durations: deque[float] = deque(maxlen=MEDIAN_FRAMES)
        self._times: deque[float] = deque()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.setToolTip(TOOLTIP)
        self._greyed = False
        self._grey(True)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("decode 888 µs · 888 fps") + 4)

    # -- what it hears -------------------------------------------------------------------
    def record(self, seconds: float) -> None:
        """One image shown; its decode took ``seconds``."""
        now = self.clock()
        self._durations.append(float(seconds))
        self._times.append(now)
        if not self._timer.isActive():  # the first frame after a quiet spell shows at once
            self._timer.start()
            self.refresh()

    # -- what it shows -------------------------------------------------------------------
    @property
    def decode_s(self) -> float | None:
        """Median decode time of the recent frames (None before any)."""
        return float(np.median(self._durations)) if self._durations else None

    @property
    def fps(self) -> float | None:
        """Frames per second over the last FPS_WINDOW_S (None with too few frames to say)."""
        now = self.clock()
        while self._times and now - self._times[0] > FPS_WINDOW_S:
            self._times.popleft()
        if len(self._times) < 2:
            return None
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span >= 0.1 else None

    @property
    def idle(self) -> bool:
        return not self._times or self.clock() - self._times[-1] > IDLE_AFTER_S

    def refresh(self) -> None:
        """Redraw the text from the recent frames (the timer calls it; so may tests)."""
        decode = self.decode_s
        if decode is None:
            self.setText(IDLE_TEXT)
            self._grey(True)
            self._timer.stop()
            return
        if self.idle:
            self._times.clear()
            self.setText(f"decode {duration_text(decode)} · idle")
            self._grey(True)
            self._timer.stop()
            return
        fps = self.fps
        self.setText(f"decode {duration_text(decode)}" + (f" · {fps:.0f} fps" if fps is not None else ""))
        self._grey(False)

    def _grey(self, grey: bool) -> None:
        if grey != self._greyed:  # a style sheet change restyles the label: only when it differs
            self._greyed = grey
            self.setStyleSheet(_IDLE_STYLE if grey else "")

    @property
    def greyed(self) -> bool:
        return self._greyed
