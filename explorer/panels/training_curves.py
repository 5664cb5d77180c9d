"""What the training view plots: each loss term's points in growing numpy buffers with an
incrementally smoothed copy, and which terms go to which plot (the adversarial game's terms
beside a likelihood, the samples' quality scores, the unplotted ones)."""
from __future__ import annotations

import math

import numpy as np

from models.nets.progressive import stage_text

#: validation series with a plot of their own (the samples' inception score, from a run's
#: sample scorer); the FID beside it is in the metrics file and picks a GAN's best checkpoint
QUALITY_SERIES = frozenset({"val sample_is"})
#: recorded but not drawn: FID's scale (5 to 1,000) fits neither plot
UNPLOTTED = frozenset({"val sample_fid"})
#: the adversarial game's terms. Beside a likelihood (an AAE's recon of ~100 nats next to
#: its D and G losses of ~1) they get a plot of their own so neither scale flattens the other
ADVERSARIAL_TERMS = frozenset({"d_loss", "g_loss", "d_real", "d_fake", "critic_loss", "gradient_penalty",
                               "wasserstein", "info_cat", "info_cont", "mutual_info", "drift"})
#: a growing model's stage (the progressive GAN's side and fade): the summary line names it
#: ("16x16, fading in 43 %"), no curve draws it (a side of 4 to 64 would flatten the losses)
STAGE_TERMS = frozenset({"resolution", "fade"})


def drawn(name: str) -> bool:
    """Whether the series ``name`` (a term, or "val <term>") gets a curve."""
    return name not in UNPLOTTED and name not in STAGE_TERMS


class Series:
    """x/y points in numpy buffers that double when full (amortised O(1) appends), plus an
    exponential moving average computed incrementally."""

    def __init__(self, capacity: int = 256) -> None:
        self.x = np.empty(capacity, np.float64)
        self.y = np.empty(capacity, np.float64)
        self.smooth = np.empty(capacity, np.float64)
        self.n = 0
        self._n_smoothed = 0
        self._alpha = 0.0

    def append(self, x: float, y: float) -> None:
        if self.n == self.x.shape[0]:
            for name in ("x", "y", "smooth"):
                old = getattr(self, name)
                new = np.empty(old.shape[0] * 2, np.float64)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        self.x[self.n] = x
        self.y[self.n] = y
        self.n += 1

    def smoothed(self, alpha: float) -> np.ndarray:
        """EMA with weight ``alpha`` on the past (0 = raw)."""
        if alpha <= 0:
            return self.y[: self.n]
        if alpha != self._alpha:
            self._alpha, self._n_smoothed = alpha, 0
        y, s = self.y, self.smooth
        for i in range(self._n_smoothed, self.n):  # only the points added since the last redraw
            s[i] = y[i] if i == 0 or not np.isfinite(s[i - 1]) else alpha * s[i - 1] + (1 - alpha) * y[i]
        self._n_smoothed = self.n
        return s[: self.n]


def finite(value: object) -> bool:
    """A real number worth plotting: int or float, not a bool, not NaN or infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def stage_prefix(terms: dict) -> str:
    """"16x16, fading in 43 %   " for a record that carries a growing model's stage, else ""."""
    res, fade = terms.get("resolution"), terms.get("fade")
    return f"{stage_text(res, fade)}   " if finite(res) and finite(fade) else ""
