"""The background thread a run's files (checkpoints, snapshots) are written on.

:class:`WriterThread` runs queued writes in order on one thread, started at the first write,
and raises a write's error on the caller's (training) thread when it next waits for it: a
failed write is never dropped. :func:`copies_done` is the event a writer waits on before
reading host buffers that non_blocking device-to-host copies are still filling.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Self

import torch


class WriterThread:
    """Queued writes on one background thread; ``what`` names them in messages
    (``"checkpoint"``: "the checkpoint writer is closed")."""

    what = "file"

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the {self.what} writer is closed")

    def _queue(self, write: Callable[..., None], *args: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.what}-writer")
        self._pending.append(self._pool.submit(write, *args))

    def _collect(self, in_flight: int) -> None:
        """Take the writes that are done, and wait for the oldest until fewer than
        ``in_flight`` are queued; a failed write raises its error here."""
        while self._pending and (self._pending[0].done() or len(self._pending) >= in_flight):
            self._pending.popleft().result()

    def flush(self) -> None:
        """Wait until every queued write is on disk; raise the first error if one failed."""
        while self._pending:
            self._pending.popleft().result()

    @property
    def busy(self) -> bool:
        """Whether a write is still in flight."""
        return any(not f.done() for f in self._pending)

    def close(self) -> None:
        """:meth:`flush` and end the writer thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, GeneratorExit):
            self.close()  # a failed write raises here (a closed generator's caller gets it)
            return
        try:
            self.close()
        except Exception as e:  # the exception already on its way says more: keep it, and add this
            exc.add_note(f"A {self.what} write failed too: {e}")


def copies_done(device: torch.device) -> torch.cuda.Event | None:
    """An event recorded on ``device``'s current CUDA stream after the copies queued there,
    None off CUDA (every copy was synchronous)."""
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))
    return event
