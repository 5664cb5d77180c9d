"""Side-by-side reconstruction quality: MSE, BCE, SSIM and per-pixel error maps.

All three metrics are per-pixel means per image, averaged over images, so models of any
image size compare on one scale. (``models.metrics.report`` reports per-image *sums* of
BCE/MSE, the classic VAE example's convention: multiply ours by C*H*W to match.) VAEs
reconstruct from the posterior mean, so the numbers are deterministic; a class-conditional
VAE is given each labelled image's class.

SSIM is Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5), C1 = (0.01 L)^2,
C2 = (0.03 L)^2 with L = 1 for [0, 1] images, computed over the "valid" window positions
(no padding, as in the reference MATLAB code) per channel and averaged.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from models.data.base import Split, split_labels
from models.explore.render import eval_mode
from models.families.base import LatentModel


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(size, size) Gaussian summing to 1."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).to(dtype)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of each image pair: (B, C, H, W) x2 -> (B,); (C, H, W) x2 -> scalar.

    Images smaller than the window use the largest odd window that fits.
    """
    single = x.dim() == 3
    if single:
        x, y = x[None], y[None]
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two (B, C, H, W) batches of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x, y = x.to(dtype), y.to(dtype)
    c = x.shape[1]
    size = min(window, x.shape[2], x.shape[3])
    size -= 1 - size % 2  # odd
    w = gaussian_window(size, sigma, dtype).to(x.device).expand(c, 1, size, size)

    def filt(a: torch.Tensor) -> torch.Tensor:
        return F.conv2d(a, w, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    smap = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    out = smap.flatten(1).mean(1)
    return out[0] if single else out


@torch.no_grad()
def reconstruction_metrics(model: LatentModel, split: Split, batch: int = 1000) -> dict[str, float]:
    """{"mse", "bce", "ssim", "n"} over the whole split (see the module docstring)."""
    if not model.latent_spec.has_encoder:
        raise ValueError(f"{model.family} has no encoder, so it cannot reconstruct images")
    n = len(split)
    if n == 0:
        raise ValueError("the split is empty")
    device = model.device
    sums = {"mse": 0.0, "bce": 0.0, "ssim": 0.0}
    with eval_mode(model):
        for a in range(0, n, batch):
            idx = torch.arange(a, min(n, a + batch), device=device)
            x = split.batch(idx)
            labels = split_labels(model, split, idx)  # a conditional encoder is given the true classes
            r = model.decode(model.encode(x) if labels is None else model.encode(x, labels)).float().clamp(0, 1)
            sums["mse"] += float((r - x).pow(2).flatten(1).mean(1).sum())
            sums["bce"] += float(F.binary_cross_entropy(r, x, reduction="none").flatten(1).mean(1).sum())
            sums["ssim"] += float(ssim(r, x).sum())
    out = {k: v / n for k, v in sums.items()}
    out["n"] = n
    return out


def error_heatmap(original: torch.Tensor | np.ndarray, recon: torch.Tensor | np.ndarray) -> np.ndarray:
    """|original - recon| averaged over channels: (H, W) float32, 0 = perfect.
    Takes (C, H, W) or (H, W), torch or numpy, in [0, 1]."""
    a = original.detach().cpu().numpy() if isinstance(original, torch.Tensor) else np.asarray(original)
    b = recon.detach().cpu().numpy() if isinstance(recon, torch.Tensor) else np.asarray(recon)
    a, b = a.astype(np.float32), b.astype(np.float32)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    err = np.abs(a - b)
    return err.mean(0) if err.ndim == 3 else err
