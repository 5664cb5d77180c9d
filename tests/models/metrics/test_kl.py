"""KL per dimension (models.metrics.kl): one function, one sample size, one capability flag."""
from __future__ import annotations

import inspect

import pytest
import torch

from models.families.registry import FAMILIES, build_model, model_class
from models.families.vae import gaussian_kl
from models.metrics.kl import KL_SAMPLES, has_kl, kl_per_dimension


def test_only_the_gaussian_posterior_families_have_kl():
    assert {f for f in FAMILIES if model_class(f).has_kl} == {"vae", "beta-vae", "cvae"}
    assert has_kl(build_model("vae", latent_dim=2, hidden=8)) and not has_kl(None)
    assert not has_kl(build_model("aae", latent_dim=2, hidden=8, disc_hidden=(8,)))


def test_kl_per_dimension_is_the_mean_over_the_first_images(tiny_dataset):
    torch.manual_seed(0)
    vae = build_model("vae", latent_dim=3, hidden=16)
    kl = kl_per_dimension(vae, tiny_dataset.test)
    assert kl.shape == (3,) and kl.dtype == torch.float32 and kl.device.type == "cpu"
    with torch.no_grad():
        mu, logvar = vae.encode_stats(tiny_dataset.test.batch(torch.arange(len(tiny_dataset.test))))
    torch.testing.assert_close(kl, gaussian_kl(mu, logvar).mean(0), rtol=1e-5, atol=1e-6)
    first = kl_per_dimension(vae, tiny_dataset.test, n=10)
    with torch.no_grad():
        torch.testing.assert_close(first, gaussian_kl(*vae.encode_stats(tiny_dataset.test.batch(torch.arange(10)))).mean(0))
    assert KL_SAMPLES == inspect.signature(kl_per_dimension).parameters["n"].default == 2000


def test_kl_per_dimension_refuses_models_without_a_posterior(tiny_dataset):
    with pytest.raises(ValueError, match="per-dimension KL"):
        kl_per_dimension(build_model("ae", latent_dim=2, hidden=8), tiny_dataset.test)
