"""Between latents and positions on the latent map (numpy only): where a latent lies on the
map, which latent a map position stands for, the point under the cursor, and a drawn
stroke resampled into evenly spaced positions.

The map shows the two latent dims themselves (``MODE_LATENT``), PCA coordinates
(``MODE_PCA``, linear, so any position maps back to a latent) or t-SNE / UMAP (``MODE_TSNE``,
``MODE_UMAP``: no map back; a position stands for the nearest encoded point).
"""
from __future__ import annotations

import numpy as np

from models.explore.latent_map import PCA2D, keep_unmapped, map_columns
from models.latent import LatentSpec

MODE_LATENT, MODE_PCA, MODE_TSNE, MODE_UMAP = "latent", "pca", "tsne", "umap"


def map_position(mode: str, pca: PCA2D, flat: np.ndarray) -> tuple[float, float] | None:
    """Where a latent lies on the map (None under t-SNE, which has no such map)."""
    if mode == MODE_LATENT:
        return float(flat[0]), float(flat[1])
    if mode == MODE_PCA:
        c = (flat.astype(np.float64) - pca.mean) @ pca.components.T.astype(np.float64)
        return float(c[0]), float(c[1])
    return None


def latent_at(mode: str, spec: LatentSpec, pca: PCA2D, codes: np.ndarray, coords: np.ndarray | None,
              x: float, y: float, snap: bool = False, keep: np.ndarray | None = None) -> np.ndarray | None:
    """The latent at a map position: the inverse map, or with ``snap`` under t-SNE the code of
    the nearest shown point (``coords``: the shown positions of ``codes``). ``keep``: the
    current latent, whose class a conditional model's inverse map keeps (the map is of z)."""
    if mode == MODE_LATENT:
        flat = spec.zeros(1)[0].numpy()
        flat[0], flat[1] = x, y
        return keep_unmapped(flat, map_columns(spec), keep)
    if mode == MODE_PCA:
        return keep_unmapped(pca.to_latent((x, y)), map_columns(spec), keep)
    if snap and coords is not None:
        i = int(np.argmin(((coords - np.array([x, y], np.float32)) ** 2).sum(1)))
        return codes[i].copy()
    return None


def nearest_point(coords: np.ndarray | None, x: float, y: float, pixel_size: tuple[float, float],
                  radius_px: float) -> int | None:
    """Index of the point of ``coords`` nearest (x, y) in screen pixels (``pixel_size``: map
    units per pixel on each axis), if within ``radius_px``."""
    if coords is None or not len(coords):
        return None
    px, py = pixel_size
    px, py = px or 1.0, py or 1.0
    d2 = ((coords[:, 0] - x) / px) ** 2 + ((coords[:, 1] - y) / py) ** 2
    i = int(np.argmin(d2))
    return i if d2[i] <= radius_px**2 else None


def resample_stroke(points: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``n`` positions evenly spaced along a drawn (M, 2) stroke, as (xs, ys); None when the
    stroke has no length."""
    seg = np.sqrt((np.diff(points, axis=0) ** 2).sum(1))
    along = np.concatenate([[0.0], np.cumsum(seg)])
    if along[-1] <= 0:
        return None
    at = np.linspace(0.0, along[-1], n)
    return np.interp(at, along, points[:, 0]), np.interp(at, along, points[:, 1])
