"""The explored point as text: copied to share or note down, pasted back (Latent menu).

The text is a JSON list of the flat latent vector (noise dims, then one-hot categorical
blocks, then continuous codes: the model's LatentSpec layout), so it also reads in Python
with ``json.loads`` or ``np.array``. Pasting takes any list of numbers separated by commas,
spaces or brackets, and says exactly what is wrong when it does not fit the model.
"""
from __future__ import annotations

import re

import numpy as np

from models.latent import LatentPoint, LatentSpec

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)", re.IGNORECASE)


def point_to_text(flat: np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in np.asarray(flat).reshape(-1)) + "]"


def text_to_point(text: str, spec: LatentSpec) -> np.ndarray:
    """The flat latent in ``text`` for a model with ``spec``; ValueError (a message for the
    user) when it holds the wrong count of numbers or non-finite ones. Categorical blocks
    are snapped to one-hot at their largest entry, as the decoder reads them."""
    stripped = re.sub(r"[\[\](),;\s]+", " ", text).strip()
    tokens = stripped.split() if stripped else []
    if not tokens or any(_NUMBER.fullmatch(t) is None for t in tokens):
        raise ValueError("the clipboard does not hold a list of numbers")
    values = np.array([float(t) for t in tokens], np.float32)
    if values.shape[0] != spec.input_dim:
        raise ValueError(f"the clipboard holds {values.shape[0]} numbers; this model's point has {spec.input_dim}")
    if not np.isfinite(values).all():
        raise ValueError("the clipboard's point has NaN or infinite entries")
    return LatentPoint.from_flat(spec, values).to_flat(spec)  # the round trip snaps each block to one-hot
