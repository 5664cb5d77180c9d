"""What every player in the app (the Timeline panel, the Paths panel's Playback box, the
Compare panel's Path tab) shows and times the same way: a checkable Play / Pause button and
the timer interval of a frames-per-second setting."""
from __future__ import annotations

from PySide6.QtWidgets import QPushButton

from .layout import push_button

PLAY_TEXT = "▶ Play"
PAUSE_TEXT = "‖ Pause"


def play_button(tooltip: str = "", *, enabled: bool = True) -> QPushButton:
    """A checkable button reading Play; checked means playing (see :func:`show_playing`)."""
    return push_button(PLAY_TEXT, tooltip, enabled=enabled, checkable=True)


def show_playing(button: QPushButton, on: bool) -> None:
    """Label ``button`` with what a click does next: Pause while playing, Play otherwise."""
    button.setText(PAUSE_TEXT if on else PLAY_TEXT)


def frame_interval_ms(fps: float) -> int:
    """The timer interval showing ``fps`` frames a second (at least 1 ms: Qt treats 0 as "as fast as possible")."""
    return max(1, round(1000.0 / fps))
