"""Files written by earlier versions of the app still open, decode the same and resume."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from models.runs.checkpoint import load_checkpoint
from models.explore.latent_paths import load_path
from models.runs.listing import summarize_run
from models.runs.run_dir import RunDir

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy"
EXPECTED = json.loads((LEGACY / "expected.json").read_text())


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_old_checkpoints_open_and_decode_as_they_did(family):
    ckpt = load_checkpoint(LEGACY / f"{family}.safetensors")
    model = ckpt.model.eval()
    assert model.family == family and ckpt.train_state["step"] == 7
    assert model.latent_spec.input_dim == EXPECTED[family]["dim"]
    with torch.no_grad():
        x = model.decode(torch.zeros(2, model.latent_spec.input_dim))
    assert float(x.double().sum()) == pytest.approx(EXPECTED[family]["decode_zero_sum"], rel=1e-5)


def test_old_path_file_opens_for_its_model():
    model = load_checkpoint(LEGACY / "vae.safetensors").model
    path = load_path(LEGACY / "vae_path.json", model)
    assert path.frames(5).shape == (5, model.latent_spec.input_dim)


def test_old_run_folder_lists_opens_and_resumes(tmp_path):
    run_path = tmp_path / "vae-run"
    shutil.copytree(LEGACY / "vae-run", run_path)
    summary = summarize_run(run_path)
    assert summary is not None and summary.family == "vae" and summary.step == 20 and summary.openable and summary.samples is not None
    run = RunDir(run_path)
    assert [r["step"] for r in run.read_metrics() if "total" in r][-1] == 20
    ckpt = load_checkpoint(run.latest)
    assert ckpt.optimizer_state  # Adam's moments, for resuming


def test_classifier_caches_keep_their_name_and_folder(monkeypatch, tmp_path):
    """Earlier versions cached MNIST's scoring classifier as <cache>/classifiers/mnist-1x28x28-v2.safetensors
    (several MB, so no copy is kept here): the same file is still looked up, under the same folder."""
    from models.data.base import Dataset, TensorSplit
    from models.io.cache import default_cache_dir
    from models.metrics.classifier import cache_path

    monkeypatch.delenv("LATENT_EXPLORER_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    images = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    mnist = Dataset("mnist", TensorSplit(images), TensorSplit(images))
    assert cache_path(mnist) == default_cache_dir() / "classifiers" / "mnist-1x28x28-v2.safetensors"
    import sys

    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / ".cache" / "latent-explorer"
