"""When a run counts as diverged, and the message that stops it.

A loss term that is NaN or infinite, or that grew past ``explode_factor`` times its first
logged size, halts the run. Under torchrun the ranks decide together at the same log step
(see :mod:`models.training.distributed`): if any rank diverged, every rank raises
:class:`~models.training.config.TrainingDiverged` there, with one message naming the first
rank that diverged, its term, and rank 0's last good checkpoint.
"""
from __future__ import annotations

import math

from models.training.distributed import gather_from_ranks


def divergence(terms: dict[str, float], first_sizes: dict[str, float], explode_factor: float) -> str | None:
    """What went wrong with these logged ``terms`` ("loss term 'kl' became nan"), None if
    nothing did. ``first_sizes``: each term's size at the first log (the scale "exploding" is
    judged by); ``explode_factor`` 0 turns that check off."""
    bad = [k for k, v in terms.items() if not math.isfinite(v)]
    if bad:
        return f"loss term {bad[0]!r} became {terms[bad[0]]}"
    exploded = [k for k, v in terms.items() if explode_factor and k in first_sizes
                and abs(v) > explode_factor * first_sizes[k]]
    if exploded:
        k = exploded[0]
        return f"loss term {k!r} exploded to {terms[k]:.4g} (first logged: {first_sizes[k]:.4g})"
    return None


def diverged_message(what: str | None, where: str, step: int, world: int) -> str:
    """The message of the TrainingDiverged every rank raises at ``step``: this rank's
    ``what`` (None: it did not diverge itself) and ``where`` (the sentence about the last
    good checkpoint, which only rank 0 knows). With ``world`` > 1 a collective: every rank
    calls it at the same step, and all of them get the same message."""
    if world > 1:
        reports = gather_from_ranks((what, where))
        first = next(i for i, (w, _) in enumerate(reports) if w is not None)
        what, where = f"{reports[first][0]} on rank {first}", reports[0][1]
    return f"training diverged: {what} at step {step}; the run was stopped.{where} Try a lower learning rate."
