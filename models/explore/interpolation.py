"""Interpolating between two latent vectors, and latent vector arithmetic.

``lerp`` is the straight line. ``slerp`` interpolates the *direction* of the two
vectors along the great circle and the *norm* linearly between ``|a|`` and ``|b|``.
Under a Gaussian prior almost all mass lies on a thin shell of radius ~sqrt(d), so a
straight line between two samples cuts through the low-norm interior (blurry,
"average" images half way) while this slerp stays at typical radius. Interpolating
the norm (rather than Shoemake's plain slerp, which only keeps it when |a| = |b|)
keeps the endpoints exact for any pair of vectors. Parallel, antiparallel or ~zero
endpoints have no unique great circle, so slerp falls back to the straight line.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from models.latent import LatentSpec

Vector = np.ndarray | torch.Tensor


def _as_f64(x: Vector) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach()).to("cpu", torch.float64)


def _like(result: torch.Tensor, a: Vector) -> Vector:
    """Back to the container and dtype of ``a`` (numpy stays numpy, float32 stays float32)."""
    if isinstance(a, torch.Tensor):
        dtype = a.dtype if a.is_floating_point() else torch.float32
        return result.to(a.device, dtype)
    a = np.asarray(a)
    dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float32
    return result.numpy().astype(dtype, copy=False)


def _endpoints_exact(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Rows with t == 0 (t == 1) are a (b) bit for bit, whatever rounding did."""
    if t.dim() == 0:
        return a.clone() if t == 0 else b.clone() if t == 1 else out
    tt = t[:, None]
    return torch.where(tt == 0, a, torch.where(tt == 1, b, out))


def lerp(a: Vector, b: Vector, t: float | Sequence[float] | np.ndarray) -> Vector:
    """``(1 - t) a + t b``; t a scalar gives one vector, a 1-D t gives (len(t), D)."""
    a64, b64 = _as_f64(a), _as_f64(b)
    t64 = _as_f64(t)
    tt = t64[:, None] if t64.dim() == 1 else t64
    out = (1 - tt) * a64 + tt * b64
    return _like(_endpoints_exact(out, a64, b64, t64), a)


def slerp(a: Vector, b: Vector, t: float | Sequence[float] | np.ndarray, eps: float = 1e-6) -> Vector:
    """Great-circle interpolation of the directions, linear interpolation of the norms.

    Endpoints are exact (t=0 -> a, t=1 -> b bit for bit). Falls back to :func:`lerp`
    when either vector is ~zero or they are (anti)parallel (sin of the angle < eps),
    where the great circle is undefined. Computed in float64, returned like ``a``.
    """
    a64, b64 = _as_f64(a), _as_f64(b)
    t64 = _as_f64(t)
    na, nb = a64.norm(), b64.norm()
    if na < eps or nb < eps:
        return lerp(a, b, t)
    ua, ub = a64 / na, b64 / nb
    cos = torch.clamp((ua * ub).sum(), -1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    if sin < eps:
        return lerp(a, b, t)
    tt = t64[:, None] if t64.dim() == 1 else t64
    direction = (torch.sin((1 - tt) * omega) * ua + torch.sin(tt * omega) * ub) / sin
    out = ((1 - tt) * na + tt * nb) * direction
    return _like(_endpoints_exact(out, a64, b64, t64), a)


def latent_arithmetic(spec: LatentSpec, a: Vector, b: Vector, c: Vector, scale: float = 1.0) -> np.ndarray:
    """``c + scale * (a - b)``: the DCGAN paper's vector arithmetic ("smiling woman - neutral
    woman + neutral man = smiling man"), on flat latents laid out as ``spec``.

    The noise dims and continuous codes take the arithmetic; each categorical block is
    ``c``'s (a difference of one-hot codes is not a code): "bold 3 - thin 3 + thin 7" keeps the 7.
    """
    a64, b64, c64 = (np.asarray(v, np.float64).reshape(-1) for v in (a, b, c))
    if not a64.shape == b64.shape == c64.shape == (spec.input_dim,):
        raise ValueError(f"latent arithmetic needs three points of {spec.input_dim} values")
    out = c64 + scale * (a64 - b64)
    start = spec.z_dim
    for k in spec.categorical:
        out[start : start + k] = c64[start : start + k]
        start += k
    return out.astype(np.float32)


def slerp_rows(a: np.ndarray, b: np.ndarray, t: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """:func:`slerp` of each row pair ``a[r]``, ``b[r]`` at ``t[r]``, in one pass (float64)."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    tt = t[:, None]
    line = (1 - tt) * a + tt * b
    ok = (na >= eps) & (nb >= eps)
    ua, ub = a / np.where(ok, na, 1.0)[:, None], b / np.where(ok, nb, 1.0)[:, None]
    omega = np.arccos(np.clip((ua * ub).sum(1), -1.0, 1.0))
    sin = np.sin(omega)
    ok &= sin >= eps  # (anti)parallel: no unique great circle, the straight line instead
    safe = np.where(ok, sin, 1.0)[:, None]
    arc = ((1 - tt) * na[:, None] + tt * nb[:, None]) * (np.sin((1 - tt) * omega[:, None]) * ua
                                                         + np.sin(tt * omega[:, None]) * ub) / safe
    out = np.where(ok[:, None], arc, line)
    return np.where(tt == 0, a, np.where(tt == 1, b, out))
