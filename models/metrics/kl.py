"""KL per latent dimension: how much each dimension of a Gaussian-posterior model carries.

``KL(q(z_d | x) || N(0, 1))`` averaged over test images, one number per latent dimension.
Dimensions near 0 are unused ("inactive"); ranking by it puts the informative dimensions
first (the traversal's "most active" rows, ``traverse`` without ``--dims``). Only models
whose ``has_kl`` is true (the VAE families: ``encode_stats`` gives mu and log-variance)
have it.

The sample size is one number for every caller, :data:`KL_SAMPLES`: the figure is a mean
over images, and 2,000 of them rank the dimensions stably while costing a fraction of a
second on a CPU, so the window and the CLI show the same ranking for the same model.
"""
from __future__ import annotations

import torch

from models.data.base import Split, split_labels
from models.families.base import LatentModel
from models.families.vae import gaussian_kl

#: test images the per-dimension KL is averaged over (the first ones of the split)
KL_SAMPLES = 2000
#: images encoded at once (bounds memory for large images)
_BATCH = 1000


def has_kl(model: LatentModel | None) -> bool:
    """Whether ``model`` has a per-dimension KL (a Gaussian posterior): its ``has_kl`` flag."""
    return bool(model is not None and getattr(model, "has_kl", False))


@torch.no_grad()
def kl_per_dimension(model: LatentModel, split: Split, n: int = KL_SAMPLES) -> torch.Tensor:
    """Mean KL of each latent dimension over the first ``n`` images of ``split``, shape
    (z_dim,), float32 on the CPU. Raises ValueError for a model without ``has_kl`` or an
    empty split."""
    if not has_kl(model):
        raise ValueError(f"{getattr(model, 'family', 'this model')} has no per-dimension KL (it needs a Gaussian posterior, as a VAE's)")
    count = min(n, len(split))
    if count < 1:
        raise ValueError("no images to measure the KL on")
    model.eval()
    device = model.device
    total: torch.Tensor | None = None
    for a in range(0, count, _BATCH):
        idx = torch.arange(a, min(count, a + _BATCH), device=device)
        x = split.batch(idx)
        labels = split_labels(model, split, idx)  # a conditional VAE's posterior given the true class
        mu, logvar = model.encode_stats(x) if labels is None else model.encode_stats(x, labels)  # type: ignore[attr-defined]
        part = gaussian_kl(mu, logvar).sum(0)
        total = part if total is None else total + part
    assert total is not None
    return (total / count).cpu()
