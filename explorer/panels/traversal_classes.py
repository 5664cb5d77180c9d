"""The traversal panel's class figure for a class-conditional model: one row per class
(labelled by its name), the columns sweeping one z dimension or one principal direction,
everything else held at the current point.

The work is :func:`models.explore.traversal.class_traversal_latents`; this module turns the
panel's settings into a job for its newest-wins runner (on a private model copy, computing
the principal directions first when the model's store has none yet) and into the rows and
caption the panel shows.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtWidgets import QSpinBox

from models.explore.render import decode_batched
from models.explore.traversal import class_rows, class_traversal_latents, most_influential_dim
from models.io.images import grid
from models.latent import LatentSpec

from ..directions_state import DirectionsRequest, directions_store, variance_text
from ..model_access import snapshot_model
from ..state import ModelState
from ..widgets.qt_utils import signals_blocked

#: the sweep box's data for the two class figures: columns along a z dim, or along a direction
CLASSES_Z, CLASSES_DIRECTION = ("classes", "z"), ("classes", "directions")
#: the z chooser's value meaning "the most influential dimension at the point"
AUTO_DIM = -1

#: (image (H, W, C) uint8, row labels, caption) from a finished job's result
Finish = Callable[[Any], tuple[np.ndarray, list[str], str]]


def set_index_range(box: QSpinBox, spec: LatentSpec, direction: bool, k: int) -> None:
    """Make ``box`` choose what the class figure's columns sweep: a z dimension (or "auto"),
    or principal direction 1..k (as many as the Principal directions sweep computes). Going
    from one kind to the other starts at its default ("auto", PC 1): z3 is not PC 3."""
    with signals_blocked(box):
        switched = box.prefix() != ("PC " if direction else "z")
        if direction:
            box.setSpecialValueText("")
            box.setPrefix("PC ")
            box.setRange(1, max(1, min(k, spec.z_dim)))
            box.setToolTip("Which principal direction the columns move along (1: the strongest)")
        else:
            box.setPrefix("z")
            box.setRange(AUTO_DIM, spec.z_dim - 1)
            box.setSpecialValueText("z auto")
            box.setToolTip("Which z dimension the columns sweep; auto: the one that changes the image most at "
                           "the current point")
        if switched:
            box.setValue(1 if direction else AUTO_DIM)


def class_figure_job(model_state: ModelState, steps: int, value_range: float, index: int, around: np.ndarray | None,
                     k: int, direction: bool) -> tuple[Callable[[Any], Any], Finish, str | None]:
    """The job rendering the class figure of ``model_state``'s model, what turns its result
    into what the panel shows, and a note to say while it runs (None when nothing to say).
    ``index``: the z dimension (AUTO_DIM: the most influential) or, with ``direction``, the
    principal direction (1-based, of the top ``k``)."""
    spec = model_state.spec
    model = snapshot_model(model_state)
    current = int(np.argmax(around[spec.z_dim:spec.z_dim + spec.categorical[0]])) if around is not None else 0
    rows = class_rows(spec, first=current)  # a model of very many classes: a window of them from the point's
    names = [spec.class_names[c] for c in rows]
    r = value_range
    k_all = spec.categorical[0]
    what = (f"rows: the {k_all} classes; columns: " if len(rows) == k_all
            else f"rows: {len(rows)} of the {k_all} classes, from {names[0]} on; columns: ")
    if not direction:
        def job(_ctx: Any) -> tuple[np.ndarray, int]:
            dim = index if index >= 0 else most_influential_dim(model, r, around)
            return grid(decode_batched(model, class_traversal_latents(model, dim, steps, r, around=around,
                                                                          classes=rows)), ncol=steps), dim

        def finish(out: tuple[np.ndarray, int]) -> tuple[np.ndarray, list[str], str]:
            image, dim = out
            return image, names, what + f"z{dim}{' (most influential)' if index < 0 else ''} from {-r:g} to {r:g}"

        return job, finish, None

    store = directions_store(model_state)
    request = DirectionsRequest(k=min(k, spec.z_dim))
    cached = store.find(request.k)
    compute, key = store.job(request, model)

    def directions_job(ctx: Any) -> tuple[Any, np.ndarray, int]:
        directions = cached if cached is not None else compute(ctx)
        pc = min(index, directions.k) - 1
        flat = class_traversal_latents(model, steps=steps, value_range=r, around=around, directions=directions,
                                       direction=pc, classes=rows)
        return directions, grid(decode_batched(model, flat), ncol=steps), pc

    def directions_finish(out: tuple[Any, np.ndarray, int]) -> tuple[np.ndarray, list[str], str]:
        directions, image, pc = out
        if cached is None:
            store.put(key, directions)
        share = variance_text(float(directions.explained_variance[pc]))
        return image, names, what + f"PC{pc + 1} ({share} of the variance), {-r:g} to {r:g} σ"

    note = None if cached is not None else f"Computing {request.k} principal directions…"
    return directions_job, directions_finish, note
