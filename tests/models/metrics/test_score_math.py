"""The sample-quality formulas: Fréchet distance, inception score, class coverage, and the
Hungarian matching behind InfoGAN's code accuracy."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from models.metrics.score_math import (class_coverage, class_histogram, frechet_distance, gaussian_stats, inception_score,
                                       linear_sum_assignment)


def _random_spd(d: int, g: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


# -- Fréchet distance ---------------------------------------------------------------------------
def test_frechet_identical_gaussians_is_zero():
    g = torch.Generator().manual_seed(1)
    mu, s = torch.randn(20, generator=g, dtype=torch.float64), _random_spd(20, g)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-8)


def test_frechet_closed_forms():
    # 1-D: (m1 - m2)^2 + (sd1 - sd2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)
    # diagonal: the 1-D formula per dimension, summed
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expect = ((m1 - m2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(expect)


def test_frechet_full_covariances_match_eigenvalues_of_product():
    g = torch.Generator().manual_seed(2)
    s1, s2 = _random_spd(6, g), _random_spd(6, g)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    tr_sqrt = torch.linalg.eigvals(s1 @ s2).real.clamp_min(0).sqrt().sum()
    expect = float((mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * tr_sqrt)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expect, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expect, rel=1e-9)


def test_frechet_rank_deficient_covariances_stay_finite():
    g = torch.Generator().manual_seed(3)
    f1, f2 = torch.randn(5, 16, generator=g), torch.randn(5, 16, generator=g) + 1  # 5 samples, 16 dims
    fd = frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
    assert math.isfinite(fd) and fd > 0
    assert frechet_distance(*gaussian_stats(f1), *gaussian_stats(f1)) == pytest.approx(0.0, abs=1e-6)


# -- inception score and coverage -------------------------------------------------------------------
def test_inception_score_extremes():
    onehot = torch.eye(10).repeat(50, 1)  # confident, evenly spread
    assert inception_score(onehot) == pytest.approx(10.0)
    assert inception_score(onehot, splits=10) == pytest.approx(10.0)
    constant = torch.softmax(torch.randn(1, 10), 1).repeat(500, 1)  # every sample alike
    assert inception_score(constant) == pytest.approx(1.0)
    assert inception_score(torch.full((100, 10), 0.1)) == pytest.approx(1.0)


def test_class_histogram_and_coverage():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 16 + [3] * 4)  # class 3 has 4% < 5%
    probs = torch.nn.functional.one_hot(labels, 10).float()
    hist = class_histogram(probs)
    assert hist[:4] == pytest.approx([0.5, 0.3, 0.16, 0.04]) and sum(hist) == pytest.approx(1.0)
    assert class_coverage(hist) == pytest.approx(0.3)
    assert class_coverage([0.1] * 10) == 1.0
    assert class_coverage([0.05] * 2 + [0.9 / 8] * 8) == 1.0  # exactly 5% counts
    assert class_coverage(hist, min_share=0.01) == pytest.approx(0.4)


# -- Hungarian algorithm ----------------------------------------------------------------------------
def _brute_force_min(c: np.ndarray) -> float:
    n, m = c.shape
    if n <= m:
        return min(c[np.arange(n), list(p)].sum() for p in itertools.permutations(range(m), n))
    return _brute_force_min(c.T)


@pytest.mark.parametrize("shape,seed", [((5, 5), 0), ((5, 5), 1), ((5, 5), 2), ((3, 5), 3), ((5, 3), 4), ((1, 4), 5), ((4, 4), 6)])
def test_linear_sum_assignment_matches_brute_force(shape, seed):
    rng = np.random.default_rng(seed)
    for trial in range(20):
        c = rng.integers(0, 6, size=shape).astype(float) if trial % 2 else rng.normal(size=shape)
        rows, cols = linear_sum_assignment(c)
        assert len(rows) == min(shape)
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        assert list(rows) == sorted(rows)
        assert c[rows, cols].sum() == pytest.approx(_brute_force_min(c))


def test_linear_sum_assignment_rejects_bad_input():
    with pytest.raises(ValueError):
        linear_sum_assignment(np.array([[0.0, np.inf], [1.0, 2.0]]))
