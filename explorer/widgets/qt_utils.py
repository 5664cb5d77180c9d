"""Small Qt helpers shared by the window and its panels.

``connect_all`` wires a table of (signal, slot) pairs: what a view listens to reads as one list.

``signals_blocked`` is how a view is updated from its state object without the update
coming back as a user edit (napari's ``qt_signals_blocked``)::

    with signals_blocked(self.slider):
        self.slider.setValue(state.value)
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from PySide6.QtCore import QObject, SignalInstance


@contextmanager
def signals_blocked(*objects: QObject) -> Iterator[None]:
    """Block the signals of ``objects`` for the ``with`` body, then restore each one's
    previous state (so nested blocks, or an object blocked already, stay as they were)."""
    previous = [obj.blockSignals(True) for obj in objects]
    try:
        yield
    finally:
        for obj, was_blocked in zip(objects, previous):
            obj.blockSignals(was_blocked)


def connect_all(pairs: "list[tuple[SignalInstance, Callable[..., Any] | SignalInstance]]") -> None:
    """Connect each signal to its slot (or to another signal, which then re-emits it)."""
    for signal, slot in pairs:
        signal.connect(slot)
