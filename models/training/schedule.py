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


def schedule_record(schedule: str, start_step: int, total: int, scale: float = 1.0) -> dict[str, object]:
    """What a checkpoint records of its schedule, for :func:`continued_factor`; ``scale``:
    the factor it started from (a continuation that went on down from a stopped one)."""
    # within what a checkpoint header accepts, whatever length was asked for
    return {"decay": schedule, "start_step": min(int(start_step), 2**62), "total_steps": min(int(total), 2**62),
            "scale": min(max(float(scale), 0.0), 1.0)}


def continued_factor(record: object, schedule: str, step: int) -> float:
    """The factor a continuation from ``step`` starts at when it runs the family's default
    ``schedule``: where the checkpoint's recorded schedule had got to, if it was the same one
    and stopped part-way (a run stopped at 40 % of its cosine goes on down from there, not
    back up to the full rate); 1 otherwise (no record, another schedule, one that ran to its
    end: a warm restart, as in SGDR).
    ``record`` comes from a checkpoint's JSON: anything malformed counts as no record."""
    if not isinstance(record, dict) or record.get("decay") != schedule or schedule == "none":
        return 1.0
    start, total = record.get("start_step"), record.get("total_steps")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2**62 for v in (start, total)):
        return 1.0
    if not start <= step < total:  # type: ignore[operator]
        return 1.0
    scale = record.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0.0 <= scale <= 1.0:
        return 1.0
    return scale * lr_factor(schedule, step, start, total)  # type: ignore[arg-type]
