"""The status bar's latency meter: decode time and frame rate while the point moves, idle
text a second after the last frame (time moved by hand, never slept)."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from torch import nn

from explorer.widgets.latency_meter import IDLE_TEXT, LatencyMeter, duration_text
from models.families.base import LatentModel, ModelConfig
from models.latent import LatentSpec


class Clock:
    """A clock the test moves by hand, starting well after anything the real clock stamped
    (a window's meter may have heard of frames before the test took it over)."""

    def __init__(self) -> None:
        self.now = time.monotonic() + 100.0

    def __call__(self) -> float:
        return self.now


class TinyDecoder(LatentModel):
    family = "tiny-decoder"

    def __init__(self) -> None:
        super().__init__(ModelConfig(image_shape=(1, 4, 4)))
        self.net = nn.Linear(3, 16)

    @property
    def latent_spec(self) -> LatentSpec:
        return LatentSpec(z_dim=3, has_encoder=False)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(latent)).view(-1, 1, 4, 4)


def window_meter(window, clock: Clock) -> LatencyMeter:
    """The window's meter on its status bar, fed by the decoder (the window's own once wired)."""
    meter = getattr(window, "latency_meter", None)
    if meter is None:
        meter = window.latency_meter = LatencyMeter()
        window.statusBar().addPermanentWidget(meter)
        window.decoder.frame_timed.connect(meter.record)
    meter.clock = clock
    return meter


def test_meter_shows_decode_time_and_fps_while_a_slider_moves_then_idles(qtbot, window):
    clock = Clock()
    meter = window_meter(window, clock)
    window.model_state.set_model(TinyDecoder())
    assert meter.isVisibleTo(window)
    qtbot.waitUntil(lambda: window.decoder.last_image is not None, timeout=5000)  # the model's first image
    row = window.latent_panel.z_rows[0]
    shown: list[float] = []
    window.decoder.frame_timed.connect(shown.append)

    def move(value: float) -> None:
        """A slider move, and its image (on a busy machine the decoder may work in its thread)."""
        n = len(shown)
        row.slider.setValue(value)
        qtbot.waitUntil(lambda: len(shown) > n, timeout=5000)

    for i in range(20):  # a drag: a move (and a decode) every 25 ms
        clock.now += 0.025
        move(-2.0 + 0.1 * i)
    meter.refresh()
    match = re.fullmatch(r"decode (\d+(?:\.\d)?) (µs|ms|s) · (\d+) fps", meter.text())
    assert match, meter.text()
    assert 0 < meter.decode_s < 1.0  # a real decode time: a 3 -> 16 linear layer
    assert int(match.group(3)) == pytest.approx(40, abs=1)  # 20 frames 25 ms apart
    assert not meter.greyed
    window.statusBar().grab().save("/tmp/latency_meter_active.png")

    clock.now += 0.5  # quiet, not yet a second
    meter.refresh()
    assert "fps" in meter.text()
    clock.now += 0.6
    meter.refresh()
    assert meter.text().endswith("· idle") and meter.greyed
    assert "fps" not in meter.text()
    window.statusBar().grab().save("/tmp/latency_meter_idle.png")

    clock.now += 0.1
    move(1.5)  # the first frame after a quiet spell shows at once, without fps
    assert re.fullmatch(r"decode \d+(\.\d)? (µs|ms|s)", meter.text()), meter.text()
    assert not meter.greyed


def test_median_ignores_an_outlier_and_the_timer_stops_when_idle(qtbot):
    clock = Clock()
    meter = LatencyMeter(clock=clock)
    qtbot.addWidget(meter)
    assert meter.text() == IDLE_TEXT and meter.greyed
    for seconds in (0.004, 0.0042, 0.25, 0.0041, 0.0043):  # one slow decode among fast ones
        meter.record(seconds)
        clock.now += 0.02
    meter.refresh()
    assert meter.decode_s == pytest.approx(0.0042)
    assert meter.text().startswith("decode 4.2 ms")
    assert meter._timer.isActive()  # redrawing a few times a second while frames come
    clock.now += 2.0
    meter.refresh()
    assert meter.text() == "decode 4.2 ms · idle"
    assert not meter._timer.isActive()  # nothing left running while nothing decodes


@pytest.mark.parametrize("seconds, text", [(0.00018, "180 µs"), (0.0042, "4.2 ms"), (0.042, "42 ms"), (1.5, "1.5 s")])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_decoder_reports_each_shown_frame(qtbot, window):
    times: list[float] = []
    window.decoder.frame_timed.connect(times.append)
    window.model_state.set_model(TinyDecoder())
    n = len(times)
    assert n >= 1  # the model's first image
    window.latent_state.set_flat(np.ones(3, np.float32))
    window.latent_state.set_flat(np.zeros(3, np.float32))
    assert len(times) == n + 2 and all(t > 0 for t in times)
