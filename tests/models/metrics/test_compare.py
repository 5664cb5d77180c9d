"""SSIM against closed-form values and its defining properties; reconstruction metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.metrics.reconstruction import error_heatmap, gaussian_window, reconstruction_metrics, ssim
from models.families.registry import build_model


def test_window():
    w = gaussian_window()
    assert w.shape == (11, 11) and float(w.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(w, w.T) and w.argmax() == 60  # centred


def test_ssim_identity_symmetry_and_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 28, 28, generator=g)
    torch.testing.assert_close(ssim(x, x), torch.ones(2))
    scores = []
    for s in (0.05, 0.1, 0.2, 0.4):
        y = (x + s * torch.randn(x.shape, generator=g)).clamp(0, 1)
        torch.testing.assert_close(ssim(x, y), ssim(y, x))
        scores.append(float(ssim(x, y).mean()))
    assert all(a > b for a, b in zip(scores, scores[1:])) and scores[-1] < 0.9
    assert ssim(x[0], x[0]).dim() == 0


def test_ssim_closed_form_constant_images():
    # constant images: every sigma is 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b = 0.3, 0.7
    c1 = 0.01**2
    x, y = torch.full((1, 3, 16, 16), a, dtype=torch.float64), torch.full((1, 3, 16, 16), b, dtype=torch.float64)
    assert float(ssim(x, y)) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)


def test_ssim_closed_form_contrast_inverted():
    # y = 1 - x with the same mean 0.5 per window: luminance 1, and (2 sxy + C2) / (sxx + syy + C2)
    # with sxy = -sxx: for a +-d checkerboard (uniform variance d^2 in every window) that is
    # (C2 - 2 d^2 v) / (2 d^2 v + C2), v the window-weighted variance of the +-1 pattern.
    d = 0.2
    pattern = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 2.0 - 1  # +-1 checkerboard
    x = (0.5 + d * pattern).double()[None, None]
    y = 1 - x
    w = gaussian_window(11, 1.5, torch.float64)
    m = (w * pattern[:11, :11].double()).sum()  # the same magnitude at every window position
    v = 1 - m * m
    c2 = 0.03**2
    lum_mean = 0.5 + d * m  # mean of x in a window; y's is 1 - it
    lum = (2 * lum_mean * (1 - lum_mean) + 0.01**2) / (lum_mean**2 + (1 - lum_mean) ** 2 + 0.01**2)
    expected = float(lum * (c2 - 2 * d * d * v) / (2 * d * d * v + c2))
    assert float(ssim(x, y)) == pytest.approx(expected, rel=1e-6)


def test_error_heatmap():
    a = np.zeros((3, 4, 5), np.float32)
    b = a.copy()
    b[:, 1, 2] = [0.3, 0.6, 0.9]
    h = error_heatmap(a, torch.from_numpy(b))
    assert h.shape == (4, 5) and h[1, 2] == pytest.approx(0.6) and h.sum() == pytest.approx(0.6)
    assert error_heatmap(a[0], b[0]).shape == (4, 5)


def test_reconstruction_metrics(tiny_dataset):
    torch.manual_seed(0)
    vae = build_model("vae", latent_dim=4, hidden=32).eval()
    m = reconstruction_metrics(vae, tiny_dataset.test, batch=20)
    assert set(m) >= {"mse", "bce", "ssim"} and m["n"] == 50
    x = tiny_dataset.test.batch(torch.arange(50))
    with torch.no_grad():
        r = vae.reconstruct(x)
    assert m["mse"] == pytest.approx(float((r - x).pow(2).mean()), rel=1e-5)
    assert m["ssim"] == pytest.approx(float(ssim(r, x).mean()), rel=1e-5)
    assert 0 < m["bce"] and -1 <= m["ssim"] <= 1
