"""UMAP coordinates for the latent map: what it keeps, how it reports progress and stops, and
what it says without umap-learn. Tests that fit skip where umap-learn is not installed; the
first fit in a process compiles UMAP's numba code (about 10 s on a shared 2-core machine)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from models.explore import latent_map


def _blobs(n: int = 120, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two tight, far-apart clusters in d dims and which cluster each point is in."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    centres = np.stack([np.zeros(d), np.full(d, 8.0)])
    return (centres[labels] + rng.standard_normal((n, d)) * 0.3).astype(np.float32), labels


def test_umap_keeps_clusters_apart_and_counts_its_epochs():
    pytest.importorskip("umap")
    codes, labels = _blobs()
    seen: list[tuple[int, int]] = []
    out = latent_map.umap_2d(codes, seed=0, progress=lambda done, total: seen.append((done, total)))
    assert out.shape == (len(codes), 2) and out.dtype == np.float32 and np.isfinite(out).all()
    # the nearest neighbour of every point on the map is in its own cluster
    d2 = ((out[:, None] - out[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    assert (labels[d2.argmin(1)] == labels).all()
    # busy (no measure) while the graph is built, then epochs up to the total
    assert seen[0] == (0, 0)
    epochs = [(d, t) for d, t in seen if t > 0]
    total = epochs[-1][1]
    assert total > 0 and epochs[-1] == (total, total)
    assert [d for d, _ in epochs] == sorted(d for d, _ in epochs) and len(epochs) > total // 2
    # seeded: the same map again
    np.testing.assert_allclose(latent_map.umap_2d(codes, seed=0), out, atol=1e-5)


def test_umap_stops_within_an_epoch_of_being_asked():
    pytest.importorskip("umap")
    codes, _ = _blobs()
    seen: list[tuple[int, int]] = []

    def stop() -> bool:
        return any(d >= 5 and t > 0 for d, t in seen)

    assert latent_map.umap_2d(codes, progress=lambda d, t: seen.append((d, t)), should_stop=stop) is None
    assert max(d for d, _ in seen) <= 6 < seen[-1][1]  # stopped near epoch 5, long before the last
    assert latent_map.umap_2d(codes, should_stop=lambda: True) is None


def test_umap_small_maps_and_bad_input():
    pytest.importorskip("umap")
    codes, _ = _blobs(n=8)
    assert latent_map.umap_2d(codes).shape == (8, 2)  # n_neighbors capped below N
    with pytest.raises(ValueError, match="N >= 4"):
        latent_map.umap_2d(codes[:3])


def test_without_umap_learn_it_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # an import of it now fails, as when not installed
    assert not latent_map.umap_available()
    with pytest.raises(ImportError, match="pip install umap-learn"):
        latent_map.umap_2d(np.zeros((10, 3), np.float32))


def test_a_fit_stopped_in_one_thread_leaves_the_next_fit_in_another_free_to_run():
    """The map fits in its job runner's thread, a new one per job: stopping a fit in one
    thread must not leave the next fit, in another thread, waiting on its progress bar."""
    pytest.importorskip("umap")
    import threading

    codes, _ = _blobs(n=60)
    out: dict[str, object] = {}

    def fit(name: str, stop) -> None:
        out[name] = latent_map.umap_2d(codes, should_stop=stop)

    reports = iter(range(10**6))
    first = threading.Thread(target=fit, args=("stopped", lambda: next(reports) > 3))
    first.start()
    first.join(120)
    second = threading.Thread(target=fit, args=("next", None), daemon=True)
    second.start()
    second.join(120)
    assert not second.is_alive(), "the next fit waits forever on tqdm's lock"
    assert out["stopped"] is None and out["next"].shape == (60, 2)
