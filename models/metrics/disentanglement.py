"""Whether a model's code dimensions came apart: scores of its encoder's codes against a
dataset's ground-truth factors (the shapes set knows them: shape, scale, rotation, pos_x, pos_y).

* :func:`mig` - the mutual information gap (Chen et al. 2018, "Isolating Sources of
  Disentanglement in VAEs"): each code dimension discretised into 20 equal-width bins over its
  own range (the usual histogram estimate, as disentanglement_lib does), the mutual
  information of every (dimension, factor) pair from the joint counts, and per factor the gap
  between the most and the second most informative dimension divided by the factor's entropy;
  ``mig`` is the mean over the factors. A factor told by one dimension alone scores near 1,
  one spread over several (or told by none) near 0. ``factor_dims`` names, per factor, the
  dimension that tells it most, when that one holds at least :data:`FACTOR_DIM_MIN` of its
  entropy and :data:`FACTOR_DIM_GAP` more than any other dimension (else None: no one slider
  tells it): the window labels the sliders with them.
* :func:`dci` - DCI disentanglement (Eastwood & Williams 2018, "A Framework for the
  Quantitative Evaluation of Disentangled Representations"): an importance matrix R (code
  dimension x factor) from one tree ensemble per factor; ``dci`` (disentanglement) is 1 minus
  each dimension's entropy over the factors (base: the number of factors), weighted by the
  dimension's share of all importance; completeness is the same per factor over the
  dimensions; informativeness is the held-out accuracy of the factor's classifier.

The regressor: disentanglement_lib's gradient-boosted trees take minutes on 10,000 codes with
40-valued factors, so this uses the paper's own other choice, a tree ensemble: scikit-learn's
ExtraTreesClassifier, 10 trees, every feature considered at every split, depth at most 12.
Considering every feature matters: with the usual sqrt(features) subsampling a noise dimension
is often the best feature on offer, and a perfectly disentangled code then scores about 0.6
instead of 1. Random thresholds (extra trees) keep it to about two seconds for 10,000 codes of
128 dimensions on one core. scikit-learn is an optional extra: without it ``dci`` is None and
``dci_note`` says how to get it; MIG needs only numpy.

Factors are treated as the discrete labels they are, as disentanglement_lib does: rotation is
cyclic, but mutual information and a classifier never look at the labels' order, so its wrap
needs nothing. Symmetric shapes are not corrected for: the square looks the same every quarter
turn and the ellipse every half turn, so for them part of the rotation label cannot be read from
any image and rotation's MIG and accuracy stay below what the heart alone would allow. Scores are
comparable between models on the same data, which is what they are for.

Everything is seeded (which codes, the fit/held-out split, the trees), so the same model and
seed give the same figures.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from models.cancel import CancelToken, raise_if_cancelled
from models.data.base import Split
from models.families.base import LatentModel

#: histogram bins per code dimension (Chen et al. 2018; disentanglement_lib's default)
MIG_BINS = 20
#: a factor is said to live in its most informative dimension (``factor_dims``) when that
#: dimension holds at least this share of the factor's entropy, and this much more than the
#: next one (its MIG gap); otherwise no one slider tells it
FACTOR_DIM_MIN = 0.2
FACTOR_DIM_GAP = 0.1
#: codes scored per model (disentanglement_lib scores 10,000 too)
DISENTANGLEMENT_CODES = 10_000
#: share of the codes DCI's classifiers are fit on; the rest measure informativeness
DCI_FIT_FRACTION = 0.8
#: the tree ensemble (see the module docstring for why these)
DCI_TREES = 10
DCI_MAX_DEPTH = 12
SKLEARN_MISSING = "DCI needs scikit-learn, which is not installed: pip install scikit-learn (or the [map] extra)"


def factor_labels(factors: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, K) factor values -> (N, K) int64 labels 0..n_values-1 per column. Integer factors
    keep their values' order; a non-integer column is discretised into MIG_BINS bins."""
    f = factors.detach().cpu().numpy() if isinstance(factors, torch.Tensor) else np.asarray(factors)
    if f.ndim != 2:
        raise ValueError(f"factors must be (N, K), got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        return discretize(f.astype(np.float64))
    out = np.zeros(f.shape, dtype=np.int64)
    for j in range(f.shape[1]):
        out[:, j] = np.unique(f[:, j], return_inverse=True)[1].reshape(-1)
    return out


def discretize(codes: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """(N, D) -> (N, D) int64 bin indices 0..bins-1: each column into ``bins`` equal-width bins
    over its own range (numpy's histogram edges, so the bins are disentanglement_lib's)."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, d], bins)
        out[:, d] = np.digitize(codes[:, d], edges[1:-1])  # inner edges: 0..bins-1
    return out


def _entropy(labels: np.ndarray) -> float:
    p = np.bincount(labels) / labels.shape[0]
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mutual_information(binned: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(D, K) mutual information in nats between each discretised code column and each factor,
    from the joint counts (the plug-in estimate, as scikit-learn's mutual_info_score)."""
    n, dims = binned.shape
    k = labels.shape[1]
    mi = np.zeros((dims, k))
    for j in range(k):
        y = labels[:, j]
        ny = int(y.max()) + 1 if n else 1
        py = np.bincount(y, minlength=ny) / n
        for d in range(dims):
            c = binned[:, d]
            nc = int(c.max()) + 1
            joint = np.bincount(c * ny + y, minlength=nc * ny).reshape(nc, ny) / n
            pc = joint.sum(1, keepdims=True)
            nz = joint > 0
            mi[d, j] = float((joint[nz] * np.log(joint[nz] / (pc @ py[None, :])[nz])).sum())
    return np.maximum(mi, 0.0)  # rounding can leave -1e-17 where the truth is 0


def mig(codes: np.ndarray, factors: np.ndarray | torch.Tensor, names: Sequence[str],
        bins: int = MIG_BINS) -> dict[str, Any]:
    """``mig`` (mean over factors), ``mig_per_factor`` {name: gap / entropy} and
    ``factor_dims`` {name: the dimension that tells it most, or None}. A factor with one value
    (no entropy) gets None and is left out of the mean; None overall when every is."""
    codes = np.asarray(codes, dtype=np.float64)
    labels = factor_labels(factors)
    _check(codes, labels, names)
    mi = mutual_information(discretize(codes, bins), labels)
    per: dict[str, float | None] = {}
    dims: dict[str, int | None] = {}
    for j, name in enumerate(names):
        h = _entropy(labels[:, j])
        if h <= 0:
            per[name] = dims[name] = None
            continue
        top = np.sort(mi[:, j])[::-1]
        second = top[1] if top.shape[0] > 1 else 0.0
        per[name] = float((top[0] - second) / h)
        one = top[0] / h >= FACTOR_DIM_MIN and per[name] >= FACTOR_DIM_GAP
        dims[name] = int(np.argmax(mi[:, j])) if one else None
    known = [v for v in per.values() if v is not None]
    return {"mig": float(np.mean(known)) if known else None, "mig_per_factor": per, "factor_dims": dims}


def _check(codes: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> None:
    if codes.ndim != 2 or codes.shape[0] != labels.shape[0] or codes.shape[0] < 2:
        raise ValueError(f"codes must be (N, D) with N >= 2 matching the factors' {labels.shape[0]} rows, "
                         f"got shape {codes.shape}")
    if labels.shape[1] != len(names):
        raise ValueError(f"{labels.shape[1]} factor columns but {len(names)} names")


def _one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """1 - entropy of each row's distribution (rows of non-negative weights), in ``base``;
    all-zero rows give 0 (they carry no weight where this is used)."""
    if base <= 1:
        return np.ones(p.shape[0])
    total = p.sum(1, keepdims=True)
    q = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(q > 0, q * np.log(q), 0.0).sum(1) / np.log(base)
    return np.where(total[:, 0] > 0, 1.0 - h, 0.0)


def dci_scores(importance: np.ndarray) -> tuple[float | None, float | None, np.ndarray]:
    """From a (D, K) importance matrix: disentanglement, completeness (each None when the
    matrix is all zero) and completeness per factor (K,)."""
    r = np.abs(np.asarray(importance, dtype=np.float64))
    total = r.sum()
    per_factor = _one_minus_entropy(r.T, r.shape[0])
    if total <= 0:
        return None, None, per_factor
    disentanglement = float((_one_minus_entropy(r, r.shape[1]) * r.sum(1) / total).sum())
    completeness = float((per_factor * r.sum(0) / total).sum())
    return disentanglement, completeness, per_factor


def importance_matrix(codes: np.ndarray, labels: np.ndarray, seed: int = 0,
                      cancel: CancelToken = None) -> tuple[np.ndarray, list[float | None]]:
    """(D, K) importances (each factor's column: its classifier's impurity importances, summing
    to 1) and each factor's held-out accuracy (None for a factor with one value). Needs
    scikit-learn (ImportError otherwise)."""
    from sklearn.ensemble import ExtraTreesClassifier

    n = codes.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    cut = min(max(int(round(n * DCI_FIT_FRACTION)), 1), n - 1)
    fit, held = order[:cut], order[cut:]
    r = np.zeros((codes.shape[1], labels.shape[1]))
    accuracy: list[float | None] = []
    for j in range(labels.shape[1]):
        raise_if_cancelled(cancel)
        y = labels[:, j]
        if np.unique(y[fit]).shape[0] < 2:
            accuracy.append(None)  # nothing to tell apart: no importance, no accuracy
            continue
        clf = ExtraTreesClassifier(n_estimators=DCI_TREES, max_features=None, max_depth=DCI_MAX_DEPTH,
                                   random_state=seed, n_jobs=1)
        clf.fit(codes[fit], y[fit])
        r[:, j] = clf.feature_importances_
        accuracy.append(float(clf.score(codes[held], y[held])))
    return r, accuracy


def dci(codes: np.ndarray, factors: np.ndarray | torch.Tensor, names: Sequence[str], seed: int = 0,
        cancel: CancelToken = None) -> dict[str, Any]:
    """``dci`` (disentanglement), ``dci_completeness``, ``dci_informativeness`` (mean held-out
    accuracy) and per factor ``dci_completeness_per_factor``, ``dci_informativeness_per_factor``.
    Without scikit-learn: ``dci`` None and ``dci_note`` saying so."""
    codes = np.asarray(codes, dtype=np.float64)
    labels = factor_labels(factors)
    _check(codes, labels, names)
    try:
        r, accuracy = importance_matrix(codes, labels, seed, cancel)
    except ImportError:
        return {"dci": None, "dci_note": SKLEARN_MISSING}
    disentanglement, completeness, per_factor = dci_scores(r)
    used = [a is not None for a in accuracy]
    known = [a for a in accuracy if a is not None]
    return {
        "dci": disentanglement,
        "dci_completeness": completeness,
        "dci_informativeness": float(np.mean(known)) if known else None,
        "dci_completeness_per_factor": {n: (float(c) if u else None) for n, c, u in zip(names, per_factor, used)},
        "dci_informativeness_per_factor": dict(zip(names, accuracy)),
    }


def has_factors(split: Split) -> bool:
    """Whether the split knows ground-truth factors to score codes against."""
    factors = getattr(split, "factors", None)
    return factors is not None and len(getattr(split, "factor_names", ())) > 0 and len(split) >= 2


@torch.no_grad()
def encode_codes(model: LatentModel, split: Split, n: int = DISENTANGLEMENT_CODES, seed: int = 0,
                 batch_size: int = 500, cancel: CancelToken = None) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's codes (the posterior mean for a VAE: ``model.encode``) of ``n`` images of
    ``split`` (all of them when it has fewer; a seeded choice when more) and their factors."""
    model.eval()
    total = len(split)
    if n >= total:
        idx = torch.arange(total)
    else:
        idx = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values
    codes = []
    for a in range(0, idx.shape[0], batch_size):
        raise_if_cancelled(cancel)
        x = split.batch(idx[a:a + batch_size].to(model.device))
        codes.append(model.encode(x).float().cpu())
    factors = torch.as_tensor(split.factors)
    return torch.cat(codes).double().numpy(), factors[idx.to(factors.device)].cpu().numpy()


def evaluate_disentanglement(model: LatentModel, split: Split, n: int = DISENTANGLEMENT_CODES, seed: int = 0,
                             cancel: CancelToken = None) -> dict[str, Any]:
    """MIG and DCI of the model's codes of ``n`` images of ``split`` against its factors (see
    :func:`mig`, :func:`dci`), with ``disentanglement_note`` saying what was scored."""
    names = tuple(split.factor_names)
    codes, factors = encode_codes(model, split, n, seed, cancel=cancel)
    note = f"mig and dci: {codes.shape[0]:,} encoder mean codes of the test set against its factors ({', '.join(names)})"
    if not np.isfinite(codes).all():
        return {"mig": None, "dci": None, "disentanglement_note": "no mig or dci: the codes hold NaN or infinite values"}
    out: dict[str, Any] = {"disentanglement_note": note}
    out.update(mig(codes, factors, names))
    raise_if_cancelled(cancel)
    out.update(dci(codes, factors, names, seed=seed, cancel=cancel))
    return out
