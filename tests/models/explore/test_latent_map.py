"""Encoded datasets, PCA / t-SNE maps and the VAE manifold figure."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from models.explore import latent_map
from models.families.registry import build_model


@pytest.fixture
def vae():
    torch.manual_seed(0)
    return build_model("vae", latent_dim=4, hidden=32).eval()


def test_encode_dataset(vae, tiny_dataset):
    codes, labels, factors, idx = latent_map.encode_dataset(vae, tiny_dataset.test, batch=20)
    assert codes.shape == (50, 4) and codes.dtype == np.float32 and factors is None
    assert np.array_equal(labels, tiny_dataset.test.labels.numpy()) and np.array_equal(idx, np.arange(50))
    with torch.no_grad():
        mu = vae.encode_stats(tiny_dataset.test.batch(torch.arange(50)))[0].numpy()
    np.testing.assert_allclose(codes, mu, atol=1e-6)  # posterior means
    sub, sub_labels, _, sub_idx = latent_map.encode_dataset(vae, tiny_dataset.test, n=10)
    assert sub.shape == (10, 4) and np.all(np.diff(sub_idx) > 0)
    np.testing.assert_allclose(sub, codes[sub_idx], atol=1e-6)
    assert np.array_equal(sub_labels, labels[sub_idx])
    gan = build_model("gan", z_dim=4, g_hidden=[8], d_hidden=[8]) if _has_gan() else None
    if gan is not None:
        with pytest.raises(ValueError, match="no encoder"):
            latent_map.encode_dataset(gan, tiny_dataset.test)


def _has_gan() -> bool:
    try:
        from models.families.registry import config_class

        fields = config_class("gan").__dataclass_fields__
        return {"z_dim", "g_hidden", "d_hidden"} <= set(fields)
    except Exception:
        return False


def test_pca_recovers_plane_and_inverts():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((6, 2)))[0].T  # (2, 6) orthonormal rows
    coeffs = rng.standard_normal((200, 2)) * np.array([3.0, 1.0])
    offset = rng.standard_normal(6)
    codes = (coeffs @ basis + offset).astype(np.float32)
    pca = latent_map.pca_2d(codes)
    coords, comps, mean = pca  # unpacks like a tuple
    assert coords.shape == (200, 2) and comps.shape == (2, 6)
    np.testing.assert_allclose(mean, codes.mean(0), atol=1e-5)
    # the components span the plane, and the map back is exact for points on it
    m = comps @ basis.T  # each component lies in the plane: a 2x2 rotation/reflection
    np.testing.assert_allclose(m @ m.T, np.eye(2), atol=1e-4)
    np.testing.assert_allclose(pca.to_latent(coords), codes, atol=1e-4)
    np.testing.assert_allclose(pca.to_latent(coords[3]), codes[3], atol=1e-4)
    # first axis carries the larger variance
    assert coords[:, 0].var() > coords[:, 1].var()
    # other points (a prior's samples) land on the same axes
    np.testing.assert_allclose(pca.project(codes), coords, atol=1e-4)


def test_tsne_needs_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        latent_map.tsne_2d(np.zeros((10, 3), np.float32))


def test_tsne_small():
    pytest.importorskip("sklearn")
    codes = np.random.default_rng(0).standard_normal((40, 5)).astype(np.float32)
    out = latent_map.tsne_2d(codes, perplexity=30, seed=0)
    assert out.shape == (40, 2)
    assert latent_map.tsne_2d(codes, should_stop=lambda: True) is None


def test_manifold_grid(vae):
    img = latent_map.manifold_grid(vae, n=5)
    assert img.shape == (5 * 28, 5 * 28) and img.dtype == np.uint8
    flat = latent_map.manifold_latents(vae, n=3)
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)).float()
    torch.testing.assert_close(flat[:3, 0], q)  # dim 0 rightwards
    torch.testing.assert_close(flat[::3, 1], q.flip(0))  # dim 1 upwards
    assert flat[:, 2:].eq(0).all()
    with pytest.raises(ValueError):
        latent_map.manifold_grid(build_model("vae", latent_dim=1, hidden=8), n=3)


def test_a_cvae_maps_each_test_image_under_its_own_class(tiny_dataset):
    """The map of a class-conditional encoder places each image with its label, not a guess."""
    torch.manual_seed(0)
    model = build_model("cvae", {"arch": "mlp", "hidden": 16, "latent_dim": 3, "num_classes": 10})
    codes, labels, _, _ = latent_map.encode_dataset(model, tiny_dataset.test, n=20)
    z = model.latent_spec.z_dim
    assert np.array_equal(codes[:, z:].argmax(1), labels)


def test_the_pca_of_a_cvae_map_is_of_z_alone_and_leaves_the_class_to_the_caller():
    """Its class block is left out (each image sits under its own class, which the colours
    show): the loadings there are 0, the plane is that of the z columns, and the inverse map
    keeps the class of the latent it is given."""
    model = build_model("cvae", {"arch": "mlp", "hidden": 16, "latent_dim": 3, "num_classes": 4})
    spec = model.latent_spec
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 3)) * np.array([5.0, 1.0, 0.1])
    classes = np.eye(4)[rng.integers(0, 4, 200)] * 40  # a block that would swamp the PCA if it were in
    codes = np.concatenate([z, classes], 1).astype(np.float32)
    columns = latent_map.map_columns(spec)
    assert columns.tolist() == [True, True, True, False, False, False, False]
    pca = latent_map.pca_2d(codes, columns)
    assert np.all(pca.components[:, 3:] == 0) and np.all(pca.mean[3:] == 0)
    np.testing.assert_allclose(np.abs(pca.components[:, :3]), [[1, 0, 0], [0, 1, 0]], atol=0.05)
    np.testing.assert_allclose(pca.coords, latent_map.pca_2d(codes[:, :3]).coords, atol=1e-4)
    current = spec.with_category(spec.zeros(1), 0, 2)[0].numpy()
    back = latent_map.keep_unmapped(pca.to_latent((1.0, -2.0)), columns, current)
    assert back[3:].tolist() == [0, 0, 1, 0]  # the class kept: exactly one-hot
    assert np.all(latent_map.map_columns(build_model("vae", latent_dim=3, hidden=8).latent_spec))
