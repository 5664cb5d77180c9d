"""The decoder's sync/async modes, without the window."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from explorer import live_decoder as dec
from explorer.jobs import live_threads
from explorer.state import LatentState, ModelState
from models.families.registry import build_model


@pytest.fixture
def states(qtbot):
    ms, ls = ModelState(), LatentState()
    decoder = dec.Decoder(ms, ls)
    model = build_model("vae", latent_dim=3, hidden=16)
    ms.set_model(model)
    ls.reset(ms.spec)
    yield ms, ls, decoder
    decoder.close()


def test_fast_decodes_are_synchronous(states):
    ms, ls, decoder = states
    images = []
    decoder.image_ready.connect(images.append)
    for i in range(5):
        ls.set_z(0, 0.1 * (i + 1))
        assert len(images) == i + 1  # delivered before set_z returned
    assert not decoder.asynchronous and decoder.ema_s < dec.SYNC_BUDGET_S
    assert images[-1].dtype == np.uint8 and images[-1].shape == (28, 28)
    assert decoder._thread is None  # no thread needed


def test_slow_decodes_go_to_one_worker_newest_wins(qtbot, states, monkeypatch):
    ms, ls, decoder = states
    real_decode = ms.model.decode
    decoded: list[float] = []

    def slow_decode(z):
        decoded.append(float(z[0, 0]))
        time.sleep(0.02)
        return real_decode(z)

    monkeypatch.setattr(ms.model, "decode", slow_decode)
    ms.model_changed.emit(ms.model)  # re-probe
    for i in range(dec.PROBE_DECODES):
        ls.set_z(1, 0.1 * (i + 1))
    assert decoder.asynchronous
    images = []
    decoder.image_ready.connect(images.append)
    decoded.clear()
    for i in range(30):  # a fast drag: far more requests than 20 ms decodes
        ls.set_z(0, i / 10)
    qtbot.waitUntil(lambda: bool(decoded) and decoded[-1] == pytest.approx(2.9), timeout=5000)
    qtbot.waitUntil(lambda: len(images) >= 1, timeout=5000)
    assert len(decoded) < 10  # stale requests were replaced, not queued
    assert decoder.last_image is images[-1]
    decoder.close()
    assert live_threads() == []


def test_weights_update_redecodes_under_the_lock(states):
    ms, ls, decoder = states
    images = []
    decoder.image_ready.connect(images.append)
    new = {k: torch.zeros_like(v) for k, v in ms.model.state_dict().items()}
    ms.load_weights(new)
    assert len(images) == 1 and np.all(images[0] == 128)  # sigmoid(0) = 0.5
