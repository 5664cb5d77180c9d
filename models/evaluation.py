"""Held-out metrics for the encoder families (``latent-explorer eval``).

``test_loss`` is exactly the classic PyTorch VAE example's metric: over the test set,
the mean of (binary cross-entropy on grey levels, summed over pixels, with z sampled by
the reparameterisation) + KL, in nats.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LatentModel
from .data.base import Split
from .vae import VAE, gaussian_kl


@torch.no_grad()
def evaluate_reconstruction(model: LatentModel, test: Split, batch_size: int = 1000, seed: int = 0,
                            active_threshold: float = 0.01) -> dict[str, float]:
    """recon_bce, recon_mse (+ test_loss, kl, active_units for VAEs), means per test image."""
    model.eval()
    device = model.device
    torch.manual_seed(seed)
    n = len(test)
    sums = {"recon_bce": 0.0, "recon_mse": 0.0, "kl": 0.0}
    mus = []
    is_vae = isinstance(model, VAE)
    for a in range(0, n, batch_size):
        x = test.batch(torch.arange(a, min(n, a + batch_size), device=device))
        if is_vae:
            mu, logvar = model.encode_stats(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            sums["kl"] += float(gaussian_kl(mu, logvar).sum())
            mus.append(mu.cpu())
        else:
            z = model.encode(x)
        mean = model.decode(z).clamp(0, 1)
        sums["recon_bce"] += float(F.binary_cross_entropy(mean, x, reduction="sum"))
        sums["recon_mse"] += float((mean - x).pow(2).sum())
    out = {k: v / n for k, v in sums.items()}
    if is_vae:
        out["test_loss"] = out["recon_bce"] + out["kl"]
        # a unit is active when its posterior mean varies across data (Burda et al. 2016)
        out["active_units"] = int((torch.cat(mus).var(0) > active_threshold).sum())
        out["latent_dim"] = model.latent_spec.z_dim
    else:
        del out["kl"]
    return out


@torch.no_grad()
def kl_per_dimension(model: VAE, test: Split, n: int = 2000) -> torch.Tensor:
    """Mean KL of each latent dimension over ``n`` test images, shape (D,): which dims matter."""
    model.eval()
    x = test.batch(torch.arange(min(n, len(test)), device=model.device))
    mu, logvar = model.encode_stats(x)
    return gaussian_kl(mu, logvar).mean(0).cpu()
