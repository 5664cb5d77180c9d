"""Decoding the current latent into the image the main view shows.

Slider drags ask for a decode per mouse move, so this is the app's hot path:

* A decode that takes under ``SYNC_BUDGET_S`` (~3 ms; the MLP and small conv decoders take
  well under 1 ms on one core) runs synchronously on the GUI thread: the image is on
  screen in the same event-loop turn as the slider move, with no thread hand-off.
* A slower one (a big GAN generator) goes to the window's one kind of worker, a
  newest-wins :class:`~explorer.jobs.JobRunner`: the newest request replaces any pending
  one, so dragging never builds a queue of stale decodes.

The mode is chosen from the first few timed decodes of a model and revisited as decodes
get slower or faster (training in the background competes for the CPU and the GIL).

Decodes run under ``torch.no_grad`` on ModelState's CPU copy, holding its lock so a
training snapshot is never half-applied. The worker thread uses one intra-op thread:
one image gains nothing from more, and during training the other core is taken.

A decode that was already running when a newer request came still shows its image unless
a newer one is on screen already: during a drag that is what keeps the picture moving. The
runner delivers only its newest job's result, so a decode job hands its image back through
the decoder's own queued signal instead, and ``_show`` orders the arrivals by request id.

Every image shown is also reported with the time its decode took (``frame_timed``, in
seconds), which the status bar's latency meter turns into "decode 4.2 ms · 38 fps".
"""
from __future__ import annotations

import threading
import time

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot

from models.io.images import to_display

from .jobs import JobContext, JobRunner
from .state import LatentState, ModelState

SYNC_BUDGET_S = 0.003
#: decodes timed before the mode is chosen for a new model
PROBE_DECODES = 3



class Decoder(QObject):
    """Turns LatentState changes (and new weights) into ``image_ready`` emissions."""

    image_ready = Signal(object)  # np.ndarray uint8
    #: seconds the decode of each shown image took (after its ``image_ready``)
    frame_timed = Signal(float)
    _async_done = Signal(int, object, float)  # (request id, image or None, seconds) from the worker thread

    def __init__(self, model_state: ModelState, latent_state: LatentState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model_state = model_state
        self.latent_state = latent_state
        self._jobs = JobRunner("decoder", self, newest_wins=True)
        self._request_id = 0
        self._shown_id = 0
        #: decode times (s) of the current model: first the probes, then an EMA
        self._probe_times: list[float] = []
        self.ema_s: float | None = None
        self.asynchronous = False
        self.last_image: np.ndarray | None = None
        self._async_done.connect(self._on_async_done)
        latent_state.changed.connect(self.request)
        model_state.model_changed.connect(self._on_model_changed)
        model_state.weights_updated.connect(self.refresh)

    # -- requests ----------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Decode the current latent again (new weights)."""
        self.request(self.latent_state.flat)

    @Slot(object)
    def request(self, flat: np.ndarray) -> None:
        spec = self.model_state.spec
        if spec is None or np.asarray(flat).shape[0] != spec.input_dim:
            return  # the latent belongs to another model (mid-switch): wait for reset
        self._request_id += 1
        if self.asynchronous:
            request_id, z = self._request_id, np.array(flat, np.float32)
            # newest-wins: replaces a stale request still waiting
            self._jobs.submit(lambda ctx: self._decode_job(ctx, request_id, z), on_error=self._on_async_failed)
            return
        image, seconds = self._decode(flat)
        self._record(seconds)
        if image is not None:
            self._show(self._request_id, image, seconds)

    # -- decoding ----------------------------------------------------------------------
    def _decode(self, flat: np.ndarray) -> tuple[np.ndarray | None, float]:
        t0 = time.perf_counter()
        with self.model_state.lock, torch.no_grad():
            model = self.model_state.model
            if model is None:
                return None, 0.0
            z = torch.from_numpy(np.asarray(flat, np.float32).reshape(1, -1))
            image = to_display(model.decode(z)[0])
        return image, time.perf_counter() - t0

    def _record(self, seconds: float) -> None:
        """Choose sync/async from the probes, then follow the EMA with hysteresis."""
        if len(self._probe_times) < PROBE_DECODES:
            self._probe_times.append(seconds)
            if len(self._probe_times) == PROBE_DECODES:
                # the first decode of a model pays one-off allocation costs: judge by the best
                self.ema_s = min(self._probe_times)
                self.asynchronous = self.ema_s > SYNC_BUDGET_S
            return
        self.ema_s = seconds if self.ema_s is None else 0.8 * self.ema_s + 0.2 * seconds
        if not self.asynchronous and self.ema_s > 1.5 * SYNC_BUDGET_S:
            self.asynchronous = True
        elif self.asynchronous and self.ema_s < 0.5 * SYNC_BUDGET_S:
            self.asynchronous = False

    def _show(self, request_id: int, image: np.ndarray, seconds: float) -> None:
        if request_id < self._shown_id:
            return  # an older async result arriving after a newer synchronous one
        self._shown_id = request_id
        self.last_image = image
        self.image_ready.emit(image)
        self.frame_timed.emit(seconds)

    @Slot(object)
    def _on_model_changed(self, model: object) -> None:
        self._probe_times, self.ema_s, self.asynchronous = [], None, False
        self._jobs.cancel()  # a decode of the old model still waiting never starts
        if model is None:
            self.last_image = None

    # -- the worker thread ---------------------------------------------------------------
    def _decode_job(self, _ctx: JobContext, request_id: int, flat: np.ndarray) -> None:
        image, seconds = self._decode(flat)
        self._async_done.emit(request_id, image, seconds)  # queued to the GUI thread

    @Slot(int, object, float)
    def _on_async_done(self, request_id: int, image: np.ndarray | None, seconds: float) -> None:
        self._record(seconds)
        if image is not None:
            self._show(request_id, image, seconds)

    def _on_async_failed(self, error: BaseException) -> None:
        raise error  # as a synchronous decode's failure would: an exception in a slot

    @property
    def _thread(self) -> threading.Thread | None:
        """The decode thread while one runs; None while decodes are synchronous."""
        return self._jobs.thread

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the worker thread (window close, tests)."""
        self._jobs.shutdown(timeout_s)
