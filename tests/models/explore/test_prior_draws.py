"""Every random latent comes from the model's own prior (``model.sample_latents``): the AAE's
mixture prior reaches projection restarts, traversal origins and scored samples, which
drew from N(0, I) through the latent spec."""
from __future__ import annotations

import pytest
import torch

from models.data.base import TensorSplit
from models.explore import traversal
from models.explore.projection import project
from models.families.registry import build_model
from models.latent import LatentSpec
from models.metrics.classifier import Classifier
from models.metrics.sample_quality import SampleScorer


@pytest.fixture
def mixture_aae(monkeypatch):
    """A 3-d AAE with the 10-Gaussian mixture (radius 2, std 0.5) in its first two dims; the
    spec-level N(0, I) draw fails the test, and every draw through the model is recorded."""
    model = build_model("aae", prior="mixture", latent_dim=3, hidden=16, disc_hidden=(16,)).eval()

    def no_spec_draws(*args, **kwargs):
        raise AssertionError("drew from the latent spec (N(0, I)), not from the model's prior")

    monkeypatch.setattr(LatentSpec, "sample", no_spec_draws)
    draws: list[torch.Tensor] = []
    real = model.sample_latents

    def recorded(*args, **kwargs):
        z = real(*args, **kwargs)
        draws.append(z.detach().cpu())
        return z

    monkeypatch.setattr(model, "sample_latents", recorded)
    return model, draws


def _radius(z: torch.Tensor) -> float:
    """Mean distance from the origin in the mixture's two dims: about 2 for the mixture,
    about 1.25 for N(0, I)."""
    return float(z[:, :2].norm(dim=1).mean())


def test_projection_restarts_start_from_the_mixture(mixture_aae):
    model, draws = mixture_aae
    target = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    project(model, target, steps=2, restarts=200)
    (init,) = draws
    assert init.shape == (200, 3) and abs(_radius(init) - 2.0) < 0.2


def test_traversal_origins_come_from_the_mixture(mixture_aae):
    model, draws = mixture_aae
    bases = [traversal.traversal_latents(model, dims=[2], steps=2, seed=s)[0][0] for s in range(200)]
    assert len(draws) == 200
    assert abs(_radius(torch.stack(bases)) - 2.0) < 0.2
    assert torch.equal(torch.stack(bases)[:, :2], torch.cat(draws)[:, :2])  # the sweep holds the drawn point


def test_scored_samples_come_from_the_mixture(mixture_aae):
    model, draws = mixture_aae
    test = TensorSplit(torch.randint(0, 255, (40, 1, 28, 28), dtype=torch.uint8), torch.randint(0, 2, (40,)))
    scorer = SampleScorer(Classifier((1, 28, 28), 2).eval(), test)
    scores = scorer(model, n=600)
    assert scores["n"] == 600
    drawn = torch.cat(draws)
    assert drawn.shape == (600, 3) and abs(_radius(drawn) - 2.0) < 0.2
