"""Learning-rate schedules over one run (or one continuation of it): the factor each
optimizer's base rate is multiplied by before a step.

* ``"none"``: constant rates;
* ``"linear"``: a straight fall to 0 at the run's last step (the DCGAN authors' MNIST code,
  WGAN-GP's released code: annealing averages out the last steps' noise);
* ``"cosine"``: half a cosine from 1 to 0 (Loshchilov and Hutter 2017, without restarts):
  the rate stays near its peak for longer than a linear fall, then anneals as smoothly,
  which is what lets a VAE's last epochs settle into a lower bound.
"""
from __future__ import annotations

import math

#: the schedules :func:`lr_factor` knows, as ``TrainConfig.lr_decay`` spells them
LR_DECAYS: tuple[str, ...] = ("none", "linear", "cosine")


def lr_factor(schedule: str, step: int, start_step: int, total: int) -> float:
    """The rate factor for the step after ``step`` of a run from ``start_step`` to ``total``
    (1 at the first step, 0 once ``step`` reaches ``total``)."""
    if schedule == "none":
        return 1.0
    done = min(1.0, max(0.0, (step - start_step) / max(1, total - start_step)))
    if schedule == "linear":
        return 1.0 - done
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * done))
    raise ValueError(f"unknown lr_decay {schedule!r}: use one of {', '.join(LR_DECAYS)}")
