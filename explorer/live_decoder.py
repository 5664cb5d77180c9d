"""Decoding the current latent into the image the main view shows.

Slider drags ask for a decode per mouse move, so this is the app's hot path:

* A decode that takes under ``SYNC_BUDGET_S`` (~3 ms; the MLP and small conv decoders take
  well under 1 ms on one core) runs synchronously on the GUI thread: the image is on
  screen in the same event-loop turn as the slider move, with no thread hand-off.
* A slower one (a big GAN generator) goes to one worker thread, where the newest request
  replaces any pending one: dragging never builds a queue of stale decodes.

The mode is chosen from the first few timed decodes of a model and revisited as decodes
get slower or faster (training in the background competes for the CPU and the GIL).

Decodes run under ``torch.no_grad`` on ModelState's CPU copy, holding its lock so a
training snapshot is never half-applied. The worker thread uses one intra-op thread:
one image gains nothing from more, and during training the other core is taken.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot

from models.io.images import IMAGE_SUFFIXES, read_image_tensor  # noqa: F401 - IMAGE_SUFFIXES is re-exported

from .state import LatentState, ModelState

SYNC_BUDGET_S = 0.003
#: decodes timed before the mode is chosen for a new model
PROBE_DECODES = 3


def to_display(images: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) floats in [0, 1] -> a fresh uint8 (H, W) or (H, W, C) array."""
    img = images[0].clamp(0, 1).mul(255).add_(0.5).to(torch.uint8)
    arr = img.numpy()
    return arr[0].copy() if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0))


class Decoder(QObject):
    """Turns LatentState changes (and new weights) into ``image_ready`` emissions."""

    image_ready = Signal(object)  # np.ndarray uint8
    _async_done = Signal(int, object)  # (request id, image) from the worker thread

    def __init__(self, model_state: ModelState, latent_state: LatentState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model_state = model_state
        self.latent_state = latent_state
        self._cond = threading.Condition()
        self._pending: tuple[int, np.ndarray] | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
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
            with self._cond:
                self._pending = (self._request_id, np.array(flat, np.float32))  # replaces a stale one
                self._cond.notify()
            self._ensure_thread()
            return
        image, seconds = self._decode(flat)
        self._record(seconds)
        if image is not None:
            self._show(self._request_id, image)

    # -- decoding ----------------------------------------------------------------------
    def _decode(self, flat: np.ndarray) -> tuple[np.ndarray | None, float]:
        t0 = time.perf_counter()
        with self.model_state.lock, torch.no_grad():
            model = self.model_state.model
            if model is None:
                return None, 0.0
            z = torch.from_numpy(np.asarray(flat, np.float32).reshape(1, -1))
            image = to_display(model.decode(z))
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

    def _show(self, request_id: int, image: np.ndarray) -> None:
        if request_id < self._shown_id:
            return  # an older async result arriving after a newer synchronous one
        self._shown_id = request_id
        self.last_image = image
        self.image_ready.emit(image)

    @Slot(int, object)
    def _on_async_done(self, request_id: int, image: np.ndarray) -> None:
        self._show(request_id, image)

    @Slot(object)
    def _on_model_changed(self, model: object) -> None:
        self._probe_times, self.ema_s, self.asynchronous = [], None, False
        with self._cond:
            self._pending = None
        if model is None:
            self.last_image = None

    # -- the worker thread ---------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._closing = False
            self._thread = threading.Thread(target=self._worker, name="latent-explorer-decoder", daemon=True)
            self._thread.start()

    def _worker(self) -> None:
        torch.set_num_threads(1)
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                request_id, flat = self._pending  # type: ignore[misc]
                self._pending = None
            image, seconds = self._decode(flat)
            self._record(seconds)
            if image is not None:
                self._async_done.emit(request_id, image)  # queued to the GUI thread

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the worker thread (window close, tests)."""
        with self._cond:
            self._closing = True
            self._pending = None
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None


# ---------------------------------------------------------------------------------------
# the other direction: images -> latent (Encode button, dropped image files)
# ---------------------------------------------------------------------------------------
#: the file dialogs' filter for the images the app reads
IMAGE_FILTER = "Images (" + " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES) + ")"


def encode_images(model_state: ModelState, x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) in [0, 1] -> the model's flat latent (its mean for a VAE), float32."""
    with model_state.lock, torch.no_grad():
        model = model_state.model
        if model is None:
            raise ValueError("no model is loaded")
        if not model.latent_spec.has_encoder:
            raise ValueError(f"{model.family} has no encoder: it cannot map images to its latent space")
        shape = tuple(model.config.image_shape)
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"the image is {tuple(x.shape[1:])} but the model reads {shape}")
        return model.encode(x.float())[0].numpy().astype(np.float32)


def load_image_file(path: str, image_shape: tuple[int, int, int], invert_light: bool = True) -> tuple[torch.Tensor, bool]:
    """An image file as the model sees it, (1, C, H, W) in [0, 1]; ``ValueError`` with the reason if unreadable.

    Prepared as the folder dataset prepares its images (:func:`models.io.images.read_image`);
    a mostly-light greyscale image is inverted, since the built-in datasets are light on black."""
    return read_image_tensor(path, image_shape, invert_light=invert_light)
