"""A run's checkpoints written off the training thread.

A checkpoint of a large model (a DCGAN's weights and Adam moments: 186 MB) takes the
training thread a second or more to serialise and fsync. :class:`CheckpointWriter` leaves it
only the device-to-host copies: into pinned host buffers with ``non_blocking`` copies and an
event on CUDA (the GPU goes on training while they land), plain copies elsewhere. The buffers
are reused from one checkpoint to the next. Serialising (safetensors), the atomic write and
the fsync happen on one writer thread, so the files are exactly what
:meth:`RunDir.save <models.runs.run_dir.RunDir.save>` writes: ``latest`` with the optimizers'
state, ``best`` (weights only) when the score beats the best so far, decided at submit time.

One write is in flight at a time: :meth:`~CheckpointWriter.submit` first waits for the
previous one (its buffers are about to be overwritten). A write that failed (a full disk)
raises its CheckpointError on the training thread at the next ``submit``, ``flush`` or
``close``; it is never dropped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save

from models.families.base import LatentModel
from models.runs.checkpoint import model_metadata, optimizer_meta_json, optimizer_parts, write_checkpoint_file
from models.runs.run_dir import RunDir
from models.runs.writer_thread import WriterThread, copies_done

#: buffer keys of tensor-valued optimizer hyperparameters (never a tensor name in a file)
_META_KEY = "\0meta/"


class CheckpointWriter(WriterThread):
    """Writes ``run``'s latest and best checkpoints in the background (see the module)."""

    what = "checkpoint"

    def __init__(self, run: RunDir) -> None:
        super().__init__()
        self.run = run
        self._buffers: dict[str, torch.Tensor] = {}

    def submit(self, model: LatentModel, state: dict[str, Any], score: float | None = None,
               optimizers: dict[str, torch.optim.Optimizer] | None = None) -> Path:
        """Snapshot ``model`` (and ``optimizers``) now and write them in the background;
        returns the path of ``latest``, complete on disk after the next :meth:`flush`.

        Waits for the previous write first and raises its error (CheckpointError) if it
        failed. On CUDA the snapshot is taken in stream order: whatever the training thread
        queues after this call (the next step) cannot change what is written."""
        self._check_open()
        self.flush()
        buffers: dict[str, torch.Tensor] = {}
        weights = {k: self._stage(k, v, buffers) for k, v in model.state_dict().items()}
        opt_tensors: dict[str, torch.Tensor] = {}
        opt_meta: dict[str, Any] | None = None
        if optimizers:
            live, meta = optimizer_parts(optimizers)
            opt_tensors = {k: self._stage(k, v, buffers) for k, v in live.items()}
            opt_meta = _stage_nested(meta, lambda key, t: self._stage(_META_KEY + key, t, buffers))
        self._buffers = buffers  # a tensor gone since the last checkpoint frees its buffer
        ready = copies_done(model.device)
        # the headers are built now: ``state`` is the caller's and may change after this call
        latest_meta = model_metadata(model, state)
        best_meta = model_metadata(model, {**state, "best_score": score}) if self.run.claim_best(score) else None
        self._queue(self._write, ready, weights, opt_tensors, opt_meta, latest_meta, best_meta)
        return self.run.latest

    def close(self) -> None:
        """:meth:`flush` and end the writer thread (idempotent)."""
        try:
            super().close()
        finally:
            self._buffers = {}

    # -- the training thread's part ------------------------------------------------------
    def _stage(self, key: str, tensor: torch.Tensor, buffers: dict[str, torch.Tensor]) -> torch.Tensor:
        """A host copy of ``tensor`` in this key's reused buffer (pinned for a CUDA source,
        whose copy is queued on the current stream and not yet complete)."""
        src = tensor.detach()
        buf = self._buffers.get(key)
        if buf is None or buf.shape != src.shape or buf.dtype != src.dtype or buf.is_pinned() != src.is_cuda:
            buf = torch.empty(src.shape, dtype=src.dtype, pin_memory=src.is_cuda)
        # non_blocking only into pinned memory: a copy to pageable memory would return before
        # the data is there, with no event able to say when it is
        buf.copy_(src, non_blocking=src.is_cuda)
        buffers[key] = buf
        return buf

    # -- the writer thread's part --------------------------------------------------------
    def _write(self, ready: torch.cuda.Event | None, weights: dict[str, torch.Tensor],
               opt_tensors: dict[str, torch.Tensor], opt_meta: dict[str, Any] | None,
               latest_meta: dict[str, str], best_meta: dict[str, str] | None) -> None:
        if ready is not None:
            ready.synchronize()  # the queued copies have landed in the pinned buffers
        meta = dict(latest_meta)
        if opt_meta is not None:
            meta["optimizers"] = optimizer_meta_json(opt_meta)  # host copies: no device read here
        write_checkpoint_file(self.run.latest, st_save({**weights, **opt_tensors}, metadata=meta))
        if best_meta is not None:  # weights only: best is for exploring
            write_checkpoint_file(self.run.best, st_save(weights, metadata=best_meta))


def _stage_nested(value: Any, stage: Any, key: str = "") -> Any:
    """``value`` (nested dicts and lists) with each tensor replaced by ``stage(key, tensor)``."""
    if isinstance(value, torch.Tensor):
        return stage(key, value)
    if isinstance(value, dict):
        return {k: _stage_nested(v, stage, f"{key}/{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_stage_nested(v, stage, f"{key}/{i}") for i, v in enumerate(value)]
    return value

