"""The figures every front door shows come from models.metrics.report: eval/Evaluate
(evaluate_model) and the Compare table (compare_models, comparison_row), with the
classifier's one progress + cancel contract."""
from __future__ import annotations

import threading

import pytest
import torch

from models.cancel import Cancelled
from models.data.base import Dataset, TensorSplit
from models.families.registry import build_model
from models.metrics.classifier import cache_path, get_classifier
from models.metrics.reconstruction import reconstruction_metrics
from models.metrics.report import COMPARE_SAMPLES, compare_models, comparison_row, comparison_scorer, evaluate_model


def _labelled(n_train: int = 256, n_test: int = 64) -> Dataset:
    """Two easy classes: a bright top half or a bright bottom half."""
    g = torch.Generator().manual_seed(0)
    n = n_train + n_test
    labels = torch.arange(n) % 2
    x = (torch.rand(n, 1, 28, 28, generator=g) * 60).to(torch.uint8)
    x[labels == 0, :, :14] = 255
    x[labels == 1, :, 14:] = 255
    return Dataset("halves", TensorSplit(x[:n_train], labels[:n_train]), TensorSplit(x[n_train:], labels[n_train:]),
                   class_names=("top", "bottom"))


@pytest.mark.parametrize("kind", ["event", "callable"])
def test_classifier_training_reports_progress_and_stops_when_cancelled(tmp_path, kind):
    ds = _labelled()
    event = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 3:
            event.set()

    cancel = event if kind == "event" else event.is_set
    with pytest.raises(Cancelled):
        get_classifier(ds, "cpu", cache_dir=tmp_path, progress=progress, cancel=cancel)
    assert [d for d, _ in seen] == [1, 2, 3]  # stopped before the 4th step
    assert not cache_path(ds, tmp_path).exists()  # nothing half-trained is cached
    clf = get_classifier(ds, "cpu", cache_dir=tmp_path, epochs=1, cancel=threading.Event())  # unset: runs through
    assert not clf.from_cache and cache_path(ds, tmp_path).exists()


def test_evaluate_model_stops_between_phases_when_cancelled():
    ds = _labelled()
    vae = build_model("vae", latent_dim=2, hidden=16)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        evaluate_model(vae, ds, n=50, cancel=cancel)


def test_comparison_rows_are_the_reconstruction_and_sample_figures():
    ds = _labelled()
    torch.manual_seed(0)
    vae = build_model("vae", latent_dim=2, hidden=16).eval()
    gan = build_model("gan", z_dim=4, hidden=16).eval()
    ae = build_model("ae", latent_dim=2, hidden=16).eval()
    other = build_model("vae", latent_dim=2, hidden=16, image_shape=(1, 16, 16)).eval()
    steps: list[tuple[int, int]] = []
    done: list[tuple[int, int]] = []
    rows = compare_models([vae, gan, ae, other], ds, n=200, classifier_progress=lambda a, b: steps.append((a, b)),
                          progress=lambda a, b: done.append((a, b)))
    assert steps and steps[-1][0] == steps[-1][1]  # the classifier's first training, step by step
    assert done == [(1, 4), (2, 4), (3, 4), (4, 4)]
    vae_row, gan_row, ae_row, other_row = rows
    assert set(vae_row) == {"mse", "bce", "ssim", "n", "inception_score", "sample_fid", "classes"}
    assert set(gan_row) == {"inception_score", "sample_fid", "classes"}  # no encoder: samples only
    assert set(ae_row) == {"mse", "bce", "ssim", "n"}  # no prior: reconstructions only
    assert other_row is None  # made for other images
    assert vae_row["mse"] == reconstruction_metrics(vae, ds.test)["mse"]
    scorer = comparison_scorer(ds)  # the classifier is cached now
    s = scorer(vae, n=200)
    assert vae_row["sample_fid"] == s["classifier_fid"] and vae_row["classes"] == s["class_coverage"]
    assert comparison_row(gan, ds, scorer=None) is None and COMPARE_SAMPLES == 2000
    assert compare_models([vae, gan], ds, sample_scores=False)[1] is None


def test_a_cancelled_comparison_keeps_the_rows_done():
    ds = _labelled()
    vae, ae = build_model("vae", latent_dim=2, hidden=16).eval(), build_model("ae", latent_dim=2, hidden=16).eval()
    cancel = threading.Event()
    out = compare_models([ae, vae, ae], ds, sample_scores=False, progress=lambda a, b: cancel.set(), cancel=cancel)
    assert len(out) == 1 and set(out[0]) == {"mse", "bce", "ssim", "n"}
    # cancelled while the classifier trains: no rows at all
    during = threading.Event()
    assert compare_models([vae], ds, classifier_progress=lambda a, b: during.set(), cancel=during) == []
    assert not cache_path(ds).exists()
