"""The formulas behind the sample-quality figures, as pure functions of features,
class probabilities and cost matrices (no models, no classifier):

* :func:`frechet_distance` between two Gaussians and :func:`gaussian_stats` to fit them
  (FID is this distance between the fits to real and generated features);
* :func:`inception_score`, :func:`class_histogram` and :func:`class_coverage` of
  predicted class probabilities;
* :func:`linear_sum_assignment`, the Hungarian algorithm that matches InfoGAN's code
  values to classes.

:mod:`models.metrics.sample_quality` computes the features and probabilities they take.
"""
from __future__ import annotations

import numpy as np
import torch


# -- Fréchet distance -------------------------------------------------------------------------
def _f64(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach().cpu(), dtype=torch.float64)


def _psd_sqrt(s: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric PSD matrix; tiny negative eigenvalues (round-off) count as 0."""
    w, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians, in float64.

    tr((S1 S2)^(1/2)) is the sum of square roots of the eigenvalues of S1 S2, which equal
    those of the *symmetric* PSD matrix S1^(1/2) S2 S1^(1/2); eigendecomposing that (eigh)
    is stable where scipy's general sqrtm on S1 S2 can return complex noise for
    near-singular covariances. Accepts numpy arrays or tensors; 1-D inputs of means with
    scalar variances work too.
    """
    mu1, mu2 = _f64(mu1).reshape(-1), _f64(mu2).reshape(-1)
    s1, s2 = _f64(sigma1), _f64(sigma2)
    d = mu1.numel()
    s1, s2 = s1.reshape(d, d), s2.reshape(d, d)
    if mu2.numel() != d or not torch.isfinite(s1).all() or not torch.isfinite(s2).all():
        raise ValueError("frechet_distance needs finite statistics of equal dimension")
    r1 = _psd_sqrt(s1)
    m = r1 @ s2 @ r1
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    fd = (mu1 - mu2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * tr_sqrt
    # round-off can take identical Gaussians a hair below zero; a distance is never negative
    return max(float(fd), 0.0)


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) covariance of (N, D) features, float64 on the CPU (MPS has no
    float64, and D=128 is tiny anyway)."""
    f = _f64(features)
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / max(f.shape[0] - 1, 1)


# -- prediction-based scores ------------------------------------------------------------------
def inception_score(probs: torch.Tensor, splits: int = 1) -> float:
    """exp(E_x KL(p(y|x) || p(y))), averaged over ``splits`` equal chunks.

    One split (the default) uses every sample for p(y), which is the lower-variance
    estimate; ``splits=10`` reproduces the convention of the original Inception Score code.
    """
    p = _f64(probs)
    scores = []
    for chunk in torch.tensor_split(p, splits):
        py = chunk.mean(0, keepdim=True)
        kl = (torch.special.xlogy(chunk, chunk) - torch.special.xlogy(chunk, py)).sum(1)
        scores.append(float(kl.mean().exp()))
    return float(np.mean(scores))


def class_histogram(probs: torch.Tensor) -> list[float]:
    """Fraction of samples whose most likely class is each class."""
    p = torch.as_tensor(probs)
    counts = torch.bincount(p.argmax(1).cpu(), minlength=p.shape[1]).double()
    return (counts / max(p.shape[0], 1)).tolist()


def class_coverage(histogram: list[float] | torch.Tensor, min_share: float | None = None) -> float:
    """Fraction of classes with at least ``min_share`` of the samples; the default, half the
    uniform share (5% for 10 classes), flags dropped modes but not mild imbalance."""
    h = torch.as_tensor(histogram, dtype=torch.float64)
    k = h.numel()
    thr = 0.5 / k if min_share is None else min_share
    return float((h >= thr - 1e-12).double().mean())


# -- matching code values to classes (InfoGAN) --------------------------------------------------
def linear_sum_assignment(cost) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one assignment of rows to columns (scipy's semantics, no scipy).

    The Hungarian algorithm with potentials (Kuhn-Munkres, the O(n^2 m) shortest
    augmenting path form), the inner loop vectorised over columns. Rectangular matrices
    assign every row of the shorter side. Returns (row indices sorted, their columns).
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2 or not np.isfinite(c).all():
        raise ValueError("cost must be a finite 2-D matrix")
    if c.shape[0] > c.shape[1]:
        cols, rows = linear_sum_assignment(c.T)
        order = np.argsort(rows)
        return rows[order], cols[order]
    n, m = c.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    p = np.zeros(m + 1, dtype=np.int64)  # p[j]: row (1-based) matched to column j; column 0 is virtual
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:  # grow a shortest alternating path from row i until it reaches a free column
            used[j0] = True
            i0 = p[j0]
            free = ~used[1:]
            cur = c[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            j1 = int(np.argmin(np.where(free, minv[1:], np.inf))) + 1
            delta = minv[j1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:  # flip the path
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    cols = np.nonzero(p[1:])[0]
    rows = p[1:][cols] - 1
    order = np.argsort(rows)
    return rows[order], cols[order]
