"""Principal directions: the known direction of a synthetic decoder is found, through a
layer and through the output alone; InfoGAN's codes stay out; the results are
deterministic, bounded and survive a JSON round trip that refuses what is not theirs."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from torch import nn

from models.cancel import Cancelled
from models.explore.directions import (OUTPUT, Directions, activation_layer, direction_latents, principal_directions,
                                       weights_fingerprint)
from models.families.base import LatentModel, ModelConfig
from models.families.registry import build_model
from models.foreign.protocol import ForeignConfig, ForeignModel
from models.latent import LatentSpec

Z_DIM = 12


def known_direction(seed: int = 3) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=Z_DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


class KnownDirectionDecoder(LatentModel):
    """A decoder whose first hidden layer is dominated by one latent direction ``v``:
    half its units read ``v . z`` strongly, the rest read other directions weakly. With
    ``categorical``, the categorical code drives the hidden units harder still (as a digit
    class does), which the directions must not pick up."""

    family = "known-direction"

    def __init__(self, v: np.ndarray, categorical: tuple[int, ...] = ()) -> None:
        super().__init__(ModelConfig(image_shape=(1, 6, 6)))
        self._spec = LatentSpec(z_dim=Z_DIM, categorical=categorical, has_encoder=False)
        g = torch.Generator().manual_seed(0)
        hidden = 32
        w = 0.1 * torch.randn(hidden, self._spec.input_dim, generator=g)
        w[:16, :Z_DIM] = torch.from_numpy(v)[None] * (2 + torch.rand(16, 1, generator=g))
        if categorical:
            w[:, Z_DIM:] = 8 * torch.randn(hidden, sum(categorical), generator=g)
        self.first = nn.Linear(self._spec.input_dim, hidden)
        self.first.weight.data.copy_(w)
        self.first.bias.data.zero_()
        self.act = nn.ReLU()
        self.out = nn.Linear(hidden, 36)

    @property
    def latent_spec(self) -> LatentSpec:
        return self._spec

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(self.act(self.first(latent)))).view(-1, 1, 6, 6)


def callable_decoder_model(v: np.ndarray) -> ForeignModel:
    """A decoder with no modules at all (as an ONNX graph is): a plain function of z whose
    image mostly follows ``v . z``."""
    g = torch.Generator().manual_seed(1)
    pattern = torch.rand(36, generator=g)
    other = 0.1 * torch.randn(Z_DIM, 36, generator=g)
    vt = torch.from_numpy(v)

    def decoder(z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(3 * (z @ vt)[:, None] * pattern + z @ other)

    config = ForeignConfig(image_shape=(1, 6, 6), kind="onnx", latent_shape=(Z_DIM,), description="a function")
    return ForeignModel(config, LatentSpec(z_dim=Z_DIM, has_encoder=False), decoder)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_first_component_recovers_the_known_direction_through_the_first_hidden_layer():
    v = known_direction()
    model = KnownDirectionDecoder(v)
    assert activation_layer(model) == "act"
    d = principal_directions(model, n_samples=2000, k=4, seed=0)
    assert d.layer == "act" and "layer act (32 values)" in d.source
    assert cosine(d.directions[0, :Z_DIM], v) > 0.99
    np.testing.assert_allclose(np.linalg.norm(d.directions, axis=1), 1.0, atol=1e-5)
    ratio = d.explained_variance
    assert np.all(np.diff(ratio) <= 0) and np.all(ratio >= 0) and ratio.sum() <= 1.0
    assert ratio[0] > 0.5  # the v units are half the layer and move together
    assert d.stdev == pytest.approx(np.ones(4), abs=0.1)  # a unit direction of N(0, I) has std 1


def test_a_decoder_without_layers_is_read_through_its_output():
    v = known_direction(5)
    d = principal_directions(callable_decoder_model(v), n_samples=2000, k=3, seed=0)
    assert d.layer == OUTPUT and "decoded images (36 values)" in d.source
    assert cosine(d.directions[0], v) > 0.99
    assert np.all(np.diff(d.explained_variance) <= 0) and d.explained_variance.sum() <= 1.0


def test_infogan_codes_are_not_directions_and_are_not_moved():
    v = known_direction(7)
    model = KnownDirectionDecoder(v, categorical=(10,))
    d = principal_directions(model, n_samples=3000, k=3, seed=0)
    # the category drives the hidden layer far harder than z, yet the top direction is v:
    # what the code explains is removed before the PCA
    assert cosine(d.directions[0, :Z_DIM], v) > 0.99
    assert not d.directions[:, Z_DIM:].any()
    assert d.mean[Z_DIM:].tolist() == [1.0] + [0.0] * 9  # category 0, as the spec's origin
    # moving along a direction leaves the codes of any point as they were
    point = model.latent_spec.sample(1, torch.Generator().manual_seed(4))[0].numpy()
    moved = point + d.offset([2.0, -1.0, 0.5])
    np.testing.assert_array_equal(moved[Z_DIM:], point[Z_DIM:])


def test_real_infogan_directions_live_in_z_only():
    model = build_model("infogan").eval()
    spec = model.latent_spec
    d = principal_directions(model, n_samples=400, k=5, seed=0)
    assert d.k == 5 and d.input_dim == spec.input_dim and d.z_dim == spec.z_dim
    assert not d.directions[:, spec.z_dim:].any()
    np.testing.assert_allclose(np.linalg.norm(d.directions[:, : spec.z_dim], axis=1), 1.0, atol=1e-5)


def test_deterministic_with_the_seed():
    model = build_model("dcgan").eval()
    a = principal_directions(model, n_samples=300, k=4, seed=1)
    b = principal_directions(model, n_samples=300, k=4, seed=1)
    np.testing.assert_array_equal(a.directions, b.directions)
    np.testing.assert_array_equal(a.explained_variance, b.explained_variance)
    np.testing.assert_array_equal(a.stdev, b.stdev)
    c = principal_directions(model, n_samples=300, k=4, seed=2)
    assert not np.array_equal(a.directions, c.directions)


def test_k_is_capped_at_z_and_bounds_are_refused():
    model = KnownDirectionDecoder(known_direction())
    assert principal_directions(model, n_samples=100, k=50).k == Z_DIM
    with pytest.raises(ValueError, match="number of directions"):
        principal_directions(model, k=0)
    with pytest.raises(ValueError, match="latents"):
        principal_directions(model, n_samples=5, k=4)
    with pytest.raises(ValueError, match="no module 'nope'"):
        principal_directions(model, n_samples=100, k=2, layer="nope")


def test_progress_and_cancel():
    model = KnownDirectionDecoder(known_direction())
    seen = []
    principal_directions(model, n_samples=250, k=2, batch=100, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(100, 250), (200, 250), (250, 250)]
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        principal_directions(model, n_samples=250, k=2, cancel=stop)


def test_weights_fingerprint_follows_the_weights():
    model = KnownDirectionDecoder(known_direction())
    before = weights_fingerprint(model)
    assert weights_fingerprint(model) == before
    with torch.no_grad():
        model.out.bias.add_(1e-3)
    assert weights_fingerprint(model) != before
    assert principal_directions(model, n_samples=100, k=2).weights == weights_fingerprint(model)


def test_direction_latents_sweep_each_direction_around_a_point():
    model = KnownDirectionDecoder(known_direction(), categorical=(3,))
    d = principal_directions(model, n_samples=200, k=3)
    around = model.latent_spec.sample(1, torch.Generator().manual_seed(0))[0].numpy()
    flat = direction_latents(d, around, steps=5, value_range=2.0).numpy().reshape(3, 5, -1)
    np.testing.assert_allclose(flat[:, 2], np.repeat(around[None], 3, 0), atol=1e-6)  # the middle column: the point
    np.testing.assert_allclose(flat[1, 4] - around, 2.0 * d.stdev[1] * d.directions[1], atol=1e-5)
    assert direction_latents(d, steps=3, rows=2).shape == (6, model.latent_spec.input_dim)
    with pytest.raises(ValueError, match="3 directions"):
        direction_latents(d, rows=4)


# -- JSON ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved() -> dict:
    d = principal_directions(KnownDirectionDecoder(known_direction(), categorical=(3,)), n_samples=200, k=3)
    return json.loads(json.dumps(d.to_dict()))


def test_round_trip(saved):
    back = Directions.from_dict(saved)
    assert back.to_dict() == saved
    assert back.k == 3 and back.misfit(Z_DIM + 3, Z_DIM) is None
    assert "12 z" in back.misfit(20, 20)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d.update(directions="x"), "directions must be a list"),
    (lambda d: d["directions"][0].append(0.5), "rows of equal length"),
    (lambda d: d["directions"][1].__setitem__(0, "a"), "only numbers"),
    (lambda d: d["directions"][0].__setitem__(0, 7.0), "direction 1 has length"),
    (lambda d: d["directions"][2].__setitem__(Z_DIM, 0.001), "moves the codes"),
    (lambda d: d.update(explained_variance=[0.1, 0.5, 0.2]), "descending"),
    (lambda d: d.update(explained_variance=[0.1, 0.1]), r"shape \(2,\)"),
    (lambda d: d.update(mean=d["mean"][:-1]), "mean has shape"),
    (lambda d: d.update(stdev=[1.0, -1.0, 1.0]), r"stdev\[1\]"),
    (lambda d: d.update(z_dim=99), "z_dim is 99"),
    (lambda d: d.pop("layer"), "layer is missing"),
    (lambda d: d.update(directions=[[0.0] * 10_001] * 1001), "more than 10,000,000 values"),
])
def test_refuses_what_is_not_directions(saved, change, message):
    d = json.loads(json.dumps(saved))
    change(d)
    with pytest.raises(ValueError, match=message) as e:
        Directions.from_dict(d, name="session.json")
    assert "session.json" in str(e.value)


def test_a_value_beyond_float32_is_refused_not_stored_as_infinity():
    from models.explore.directions_format import _array

    import pytest as _pytest

    with _pytest.raises(ValueError, match="not a finite number"):
        _array([[1e300, 0.0]], "d.json", "mean", (1, 2))
    assert _array([[1.0, -2.5]], "d.json", "mean", (1, 2)).dtype.name == "float32"
