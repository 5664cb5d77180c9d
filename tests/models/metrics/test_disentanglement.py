"""MIG and DCI (models.metrics.disentanglement) on synthetic codes whose answers are known,
and on a model's codes of the shapes set through evaluate_model and comparison_row."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from models.data.shapes import FACTOR_NAMES, load_shapes
from models.families.registry import build_model
from models.metrics.disentanglement import (SKLEARN_MISSING, dci, discretize, evaluate_disentanglement, factor_labels,
                                            has_factors, mig)
from models.metrics.report import comparison_row, evaluate_model

N = 10_000
NAMES = ("kind", "size", "place")


def _factors(seed: int = 0) -> np.ndarray:
    """Independent uniform factors of 3, 6 and 32 values (like shape, scale and a position)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, N) for k in (3, 6, 32)], 1)


def _noise(dims: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, dims))


def _entropy(labels: np.ndarray) -> float:
    p = np.bincount(labels) / labels.shape[0]
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def test_a_code_dimension_equal_to_each_factor_scores_one():
    f = _factors()
    codes = np.concatenate([f.astype(float), _noise(5)], 1)  # each factor in its own dimension, plus noise
    m = mig(codes, f, NAMES)
    per = m["mig_per_factor"]
    assert per["kind"] == pytest.approx(1.0, abs=0.01) and per["size"] == pytest.approx(1.0, abs=0.01)
    # 32 values into the usual 20 bins: pairs of values share a bin, so the code keeps only the
    # binned factor's entropy; the gap is exactly that share (less the noise's tiny MI)
    binned = discretize(f[:, 2:].astype(float))[:, 0]
    assert per["place"] == pytest.approx(_entropy(binned) / _entropy(f[:, 2]), abs=0.01) and per["place"] < 0.9
    assert m["mig"] == pytest.approx(np.mean(list(per.values())))
    assert m["factor_dims"] == {"kind": 0, "size": 1, "place": 2}  # each factor's slider, for the window
    shuffled = codes[:, [4, 2, 7, 0, 1, 3, 5, 6]]
    assert mig(shuffled, f, NAMES)["factor_dims"] == {"kind": 3, "size": 4, "place": 1}
    d = dci(codes, f, NAMES)
    assert d["dci"] > 0.98 and d["dci_completeness"] > 0.98 and d["dci_informativeness"] > 0.98
    assert set(d["dci_completeness_per_factor"]) == set(NAMES) and min(d["dci_informativeness_per_factor"].values()) > 0.98


def test_a_code_mixing_two_factors_scores_zero_for_them():
    f = _factors()
    kind, size, place = f[:, 0], f[:, 1], f[:, 2]
    # size and place each told by two dimensions at 45 degrees: neither dimension is about one of them
    mixed = np.stack([kind, place + 5.0 * size, place - 5.0 * size], 1).astype(float)
    m = mig(mixed, f, NAMES)
    per = m["mig_per_factor"]
    assert per["kind"] > 0.99 and per["size"] < 0.05 and per["place"] < 0.05
    assert m["factor_dims"] == {"kind": 0, "size": None, "place": None}  # two dims tell each: no one slider does
    d = dci(mixed, f, NAMES)
    # the mixed dimensions split their importance between two of the three factors, so each
    # scores 1 - log 2 / log 3 (0.37); the pure one scores 1; weighted by importance: 0.58
    assert d["dci"] == pytest.approx((1 + 2 * (1 - np.log(2) / np.log(3))) / 3, abs=0.05)
    assert d["dci_completeness_per_factor"]["kind"] > 0.98 and d["dci_completeness_per_factor"]["size"] < 0.5
    assert d["dci_informativeness"] > 0.98  # all is still there to read, just not one factor per dimension


def test_pure_noise_scores_near_zero():
    f = _factors()
    m, d = mig(_noise(10), f, NAMES), dci(_noise(10), f, NAMES)
    assert 0 <= m["mig"] < 0.01 and all(0 <= v < 0.02 for v in m["mig_per_factor"].values())
    assert m["factor_dims"] == {"kind": None, "size": None, "place": None}  # no dimension tells any
    assert 0 <= d["dci"] < 0.05 and d["dci_completeness"] < 0.05
    # held-out accuracy at chance: 1/3, 1/6, 1/32
    assert d["dci_informativeness_per_factor"]["kind"] < 0.4 and d["dci_informativeness_per_factor"]["place"] < 0.06


def test_duplicated_dimensions_have_no_gap_but_stay_disentangled():
    f = _factors()
    codes = np.stack([f[:, 0], f[:, 0], f[:, 1], f[:, 2]], 1).astype(float)
    per = mig(codes, f, NAMES)["mig_per_factor"]
    assert per["kind"] == 0.0  # the two best dimensions tell it equally: the gap is nothing
    assert per["size"] > 0.99
    d = dci(codes, f, NAMES)
    assert d["dci"] > 0.98  # each dimension is still about one factor alone...
    assert d["dci_completeness_per_factor"]["kind"] < 0.8 < d["dci_completeness_per_factor"]["size"]  # ...told twice


def test_scores_are_deterministic_and_the_codes_scale_does_not_matter():
    f = _factors()
    codes = np.tanh(f @ np.random.default_rng(3).normal(size=(3, 6)) / 10) + 0.2 * _noise(6)
    a, b = {**mig(codes, f, NAMES), **dci(codes, f, NAMES, seed=5)}, {**mig(codes, f, NAMES), **dci(codes, f, NAMES, seed=5)}
    assert a == b
    scaled = {**mig(codes * 100 - 3, f, NAMES)}
    assert scaled["mig"] == pytest.approx(a["mig"], abs=1e-9)  # bins follow each dimension's range


def test_a_factor_with_one_value_is_left_out_and_torch_factors_work():
    f = _factors()
    f[:, 1] = 4
    codes = np.concatenate([f.astype(float), _noise(2)], 1)
    m, d = mig(codes, torch.from_numpy(f), NAMES), dci(codes, f, NAMES)
    assert m["mig_per_factor"]["size"] is None and m["mig"] == pytest.approx(
        np.mean([m["mig_per_factor"]["kind"], m["mig_per_factor"]["place"]]))
    assert d["dci_informativeness_per_factor"]["size"] is None and d["dci_completeness_per_factor"]["size"] is None
    assert d["dci"] > 0.98
    assert factor_labels(np.array([[5], [9], [5]])).ravel().tolist() == [0, 1, 0]  # integer values: labels in order
    assert factor_labels(np.array([[0.5], [0.25], [1.0]])).ravel().tolist() == [6, 0, 19]  # real values: 20 bins


def test_constant_codes_score_zero_and_wrong_shapes_are_refused():
    f = _factors()
    assert mig(np.zeros((N, 3)), f, NAMES)["mig"] == 0.0
    assert dci(np.zeros((N, 3)), f, NAMES)["dci"] is None  # no dimension carries any importance
    with pytest.raises(ValueError, match="factor columns"):
        mig(_noise(3), f, NAMES[:2])
    with pytest.raises(ValueError, match="codes must be"):
        dci(_noise(3)[:10], f, NAMES)


def test_without_scikit_learn_dci_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)  # import fails as if it were not installed
    f = _factors()
    out = dci(f.astype(float), f, NAMES)
    assert out == {"dci": None, "dci_note": SKLEARN_MISSING} and "scikit-learn" in SKLEARN_MISSING
    assert mig(f.astype(float), f, NAMES)["mig"] > 0.9  # MIG needs only numpy


@pytest.fixture(scope="module")
def shapes():
    return load_shapes(size=28, test_size=400, seed=0)


def test_eval_on_shapes_scores_the_encoders_codes_per_factor(shapes):
    torch.manual_seed(0)
    vae = build_model("beta-vae", latent_dim=4, hidden=16, image_shape=(1, 28, 28))
    assert has_factors(shapes.test)
    result = evaluate_model(vae, shapes, n=0)
    assert "test_loss" in result and "400" in result["disentanglement_note"].replace(",", "")
    for key in ("mig", "dci", "dci_completeness", "dci_informativeness"):
        assert 0.0 <= result[key] <= 1.0, key
    for key in ("mig_per_factor", "dci_completeness_per_factor", "dci_informativeness_per_factor"):
        assert tuple(result[key]) == FACTOR_NAMES
    again = evaluate_disentanglement(vae, shapes.test)  # the same codes and seed: the same figures
    assert again["mig"] == result["mig"] and again["dci"] == result["dci"]
    assert "mig" not in evaluate_model(vae, shapes, n=0, disentanglement_codes=0)
    fewer = evaluate_disentanglement(vae, shapes.test, n=100)
    assert "100 encoder" in fewer["disentanglement_note"]


def test_disentanglement_only_where_there_are_factors_and_an_encoder(shapes, tiny_dataset):
    torch.manual_seed(0)
    vae = build_model("vae", latent_dim=3, hidden=16, image_shape=(1, 28, 28))
    assert "mig" not in evaluate_model(vae, tiny_dataset, n=0)  # no ground truth to score against
    row = comparison_row(vae, shapes)
    assert set(row) == {"mse", "bce", "ssim", "n", "mig", "dci"} and 0 <= row["mig"] <= 1
    gan = build_model("gan", z_dim=4, hidden=16, image_shape=(1, 28, 28))
    assert comparison_row(gan, shapes) is None  # no encoder: no codes to score
