"""Ctrl+C (SIGINT) and SIGTERM as a request to stop training, and the exit code that says so.

Training stops between two steps and leaves a checkpoint, then the command exits with the
shell's code for the signal, 128 + its number (130 after SIGINT, 143 after SIGTERM), so a
script or a scheduler never mistakes a stopped run for a finished one. Under torchrun every
rank gets the signal (the loop makes them stop at the same step); a rank stopped by another
rank's signal alone exits 143 too.
"""
from __future__ import annotations

import signal
from typing import Any, Callable

#: the signals that stop training; SIGTERM is what torchrun, schedulers and ``kill`` send
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: the code of a run stopped before its end by a signal this process did not receive itself
STOPPED_ELSEWHERE = 128 + signal.SIGTERM


class StopOnSignals:
    """While entered, SIGINT and SIGTERM call ``stop`` instead of ending the process;
    ``exit_code`` then gives the code for a stopped run. Enter it in the main thread."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self._previous: dict[int, Any] = {}
        self.received: int | None = None

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.received is None:
            self.received = signum
        self._stop()

    def __enter__(self) -> "StopOnSignals":
        for s in STOP_SIGNALS:
            self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *_: Any) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        self._previous.clear()

    @property
    def exit_code(self) -> int:
        """128 + the signal received, the shell's convention (130, 143)."""
        return 128 + int(self.received) if self.received is not None else STOPPED_ELSEWHERE
