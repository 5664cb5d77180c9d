"""Reading a pasted latent point: any list of numbers that fits the model, categorical codes one-hot."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.latent_clipboard import point_to_text, text_to_point
from models.latent import LatentSpec


def test_round_trip_and_loose_formats():
    spec = LatentSpec(z_dim=3)
    flat = np.array([0.5, -1e-3, 2.0], np.float32)
    assert np.allclose(text_to_point(point_to_text(flat), spec), flat)
    for text in ("0.5 -0.001 2", "(0.5, -1e-3, 2.0)", "[[0.5], [-0.001], [2]]\n", "0.5;-.001;+2"):
        assert np.allclose(text_to_point(text, spec), flat), text


def test_categorical_blocks_are_snapped_to_one_hot():
    spec = LatentSpec(z_dim=2, categorical=(3,), continuous=1)
    point = text_to_point("0.1 0.2  0.2 0.7 0.1  -0.5", spec)
    assert point.tolist() == pytest.approx([0.1, 0.2, 0.0, 1.0, 0.0, -0.5])


@pytest.mark.parametrize("text,message", [
    ("", "not hold a list of numbers"),
    ("hello world", "not hold a list of numbers"),
    ("1 2", "holds 2 numbers; this model's point has 3"),
    ("1 nan 2", "NaN or infinite"),
])
def test_bad_clipboards_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        text_to_point(text, LatentSpec(z_dim=3))
