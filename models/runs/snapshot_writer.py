"""A run's light snapshots (:mod:`models.runs.snapshots`) written off the training thread.

The training loop asks :meth:`SnapshotWriter.due` after every step and calls
:meth:`~SnapshotWriter.submit` when it says so, and once at its end. The training thread only
copies the decoding tensors to the host (into pinned buffers with ``non_blocking`` copies and
an event on CUDA, so the GPU trains on while they land; plain copies elsewhere). One writer
thread serialises them (safetensors), writes each file atomically (a reader sees the old
folder or the new file, never half of one) and then thins the folder back to
:data:`~models.runs.snapshots.MAX_SNAPSHOTS`.

Writes queue on that thread, each with its own buffers, so a submit never waits for the one
before (the early snapshots come a few steps apart, and a DCGAN's takes ~0.2 s to write on a
CPU); only when :data:`MAX_IN_FLIGHT` are queued does it wait for the oldest, which bounds
the memory. A write that failed (a full disk) raises its SnapshotError on the training thread,
as a failed checkpoint does: at the first ``submit`` after it failed (at the latest when the
queue is full), or at ``flush`` or ``close`` (the loop flushes at the end of every run).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save

from models.families.base import LatentModel
from models.io.atomic import atomic_write_bytes
from models.runs.checkpoint import model_metadata
from models.runs.run_dir import RunDir
from models.runs.writer_thread import WriterThread, copies_done
from models.runs.snapshots import MAX_SNAPSHOTS, SNAPSHOT_KIND, SnapshotError, decoding_keys, is_snapshot_step, \
    snapshot_path, steps_on_disk, thin

#: snapshot writes queued at most; one more submit waits for the oldest
MAX_IN_FLIGHT = 4


class SnapshotWriter(WriterThread):
    """Writes ``run``'s snapshots of ``model`` every ``every`` steps (0: never), keeping at
    most ``bound``. ``state`` is the training state every snapshot's metadata carries (the
    loop's: dataset, train config...); the step, epoch and seconds are added per snapshot."""

    what = "snapshot"

    def __init__(self, run: RunDir, model: LatentModel, state: dict[str, Any], every: int,
                 bound: int = MAX_SNAPSHOTS) -> None:
        super().__init__()
        self.folder = run.snapshots
        self.model, self.state, self.every, self.bound = model, dict(state), int(every), int(bound)
        self.keys = decoding_keys(model) if self.every > 0 else []
        self._kept = steps_on_disk(self.folder) if self.every > 0 else []  # a continued run thins its earlier ones too
        self._last_step = -1

    def due(self, step: int) -> bool:
        """Whether ``step`` gets a snapshot (see :func:`models.runs.snapshots.is_snapshot_step`)."""
        return self.every > 0 and is_snapshot_step(step, self.every)

    def submit(self, step: int, epoch: float, seconds: float) -> Path | None:
        """Snapshot the model now, for ``step``, and write it in the background; the file's
        path (complete after the next :meth:`flush`), or None when snapshots are off or this
        step already has one. Raises an earlier write's SnapshotError if it failed."""
        if self.every <= 0 or step <= 0 or step == self._last_step:
            return None
        self._check_open()
        self._collect(MAX_IN_FLIGHT)  # a failed write raises here
        self._last_step = step
        live = self.model.state_dict()
        tensors = {k: _host_copy(live[k]) for k in self.keys}
        ready = copies_done(self.model.device)
        meta = model_metadata(self.model, {**self.state, "step": int(step), "epoch": float(epoch),
                                           "seconds": float(seconds)})
        meta["snapshot"] = SNAPSHOT_KIND
        path = snapshot_path(self.folder, step)
        self._queue(self._write, ready, tensors, meta, path, int(step))
        return path

    # -- the writer thread's part --------------------------------------------------------
    def _write(self, ready: torch.cuda.Event | None, tensors: dict[str, torch.Tensor], meta: dict[str, str],
               path: Path, step: int) -> None:
        if ready is not None:
            ready.synchronize()  # the queued copies have landed in the pinned buffers
        try:
            atomic_write_bytes(path, st_save(tensors, metadata=meta))
        except OSError as e:
            raise SnapshotError(f"could not write snapshot {path}: {e.strerror or e}") from e
        if step not in self._kept:
            self._kept.append(step)
        for old in thin(self._kept, self.bound):
            self._kept.remove(old)
            try:
                os.unlink(snapshot_path(self.folder, old))
            except FileNotFoundError:
                pass
            except OSError as e:
                raise SnapshotError(f"could not remove an older snapshot of {self.folder}: {e.strerror or e}") from e


def _host_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A host copy of ``tensor``: for a CUDA source into pinned memory, queued on the current
    stream (complete once :func:`~models.runs.writer_thread.copies_done`'s event has passed), else made now."""
    src = tensor.detach()
    if not src.is_cuda:
        return src.clone()
    buf = torch.empty(src.shape, dtype=src.dtype, pin_memory=True)
    # non_blocking only into pinned memory: into pageable memory it would return before the
    # data is there, with no event able to say when
    return buf.copy_(src, non_blocking=True)

