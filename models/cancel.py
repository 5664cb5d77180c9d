"""Stopping long engine work between its steps: one token type and one exception.

Long jobs (training the scoring classifier, evaluating, comparing models) take
``cancel``: a ``threading.Event`` (set it from any thread) or a function returning True
once the caller wants to stop, or None. They check it between steps and raise
:class:`Cancelled`, leaving nothing half-written behind (a classifier cancelled mid-training
is not cached). The window's job runners and the CLI pass their own token through as is.
"""
from __future__ import annotations

import threading
from typing import Callable, Union

#: what a long job accepts as its ``cancel`` argument
CancelToken = Union[threading.Event, Callable[[], bool], None]


class Cancelled(Exception):
    """The caller asked a job to stop (its ``cancel`` token was set) before it finished."""


def cancel_requested(cancel: CancelToken) -> bool:
    """Whether ``cancel`` says stop (an Event that is set, or a function returning True)."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def raise_if_cancelled(cancel: CancelToken) -> None:
    """Raise :class:`Cancelled` when ``cancel`` says stop; the check jobs run between steps."""
    if cancel_requested(cancel):
        raise Cancelled("cancelled")
