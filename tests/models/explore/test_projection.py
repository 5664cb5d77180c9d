"""Projecting images back to latents: GAN-style (optimised codes) and encoder models."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.families.base import LatentModel, ModelConfig
from models.latent import LatentSpec
from models.explore.projection import project
from models.families.registry import build_model


class TinyGenerator(LatentModel):
    """A fixed random one-layer generator with InfoGAN's latent layout and no encoder."""

    family = "tiny-gan"

    def __init__(self) -> None:
        super().__init__(ModelConfig(image_shape=(1, 6, 6)))
        self.spec = LatentSpec(z_dim=4, categorical=(3,), continuous=1, has_encoder=False)
        g = torch.Generator().manual_seed(0)
        self.lin = torch.nn.Linear(self.spec.input_dim, 36)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(36, self.spec.input_dim, generator=g))
            self.lin.bias.zero_()

    @property
    def latent_spec(self) -> LatentSpec:
        return self.spec

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.lin(latent)).view(-1, 1, 6, 6)


def _known_target(model: TinyGenerator) -> tuple[torch.Tensor, torch.Tensor]:
    spec = model.spec
    z_true = spec.compose(torch.tensor([[0.8, -0.5, 0.3, 1.1]]), torch.tensor([[2]]), torch.tensor([[0.4]]))
    with torch.no_grad():
        return z_true[0], model.decode(z_true)[0]


def test_projection_recovers_generated_image():
    model = TinyGenerator()
    z_true, target = _known_target(model)
    calls = []
    res = project(model, target, steps=150, lr=0.05, restarts=4, callback=lambda s, n, l: calls.append((s, n, l)))
    with torch.no_grad():
        baseline = float((model.decode(model.spec.sample(64, generator=torch.Generator().manual_seed(1))) - target).pow(2).mean())
    assert res.mse < 0.05 * baseline
    assert not res.cancelled and res.steps_done == 150 and len(res.losses) == 150
    assert len(calls) == 150 and calls[-1][:2] == (150, 150)
    assert all(b <= a + 1e-12 for a, b in zip(res.losses, res.losses[1:]))  # best so far never rises
    # a valid flat latent: hard one-hot category
    assert res.latent.dtype == np.float32 and res.latent.shape == (model.spec.input_dim,)
    block = res.latent[4:7]
    assert sorted(block.tolist()) == [0.0, 0.0, 1.0]
    assert int(block.argmax()) == 2
    with torch.no_grad():
        again = model.decode(torch.from_numpy(res.latent)[None])[0].numpy()
    np.testing.assert_allclose(res.image, again, atol=1e-6)
    assert no_grads(model)


def no_grads(model: torch.nn.Module) -> bool:
    return all(p.grad is None for p in model.parameters())


def test_projection_cancel_returns_best_so_far():
    model = TinyGenerator()
    _, target = _known_target(model)
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 5

    res = project(model, target, steps=1000, restarts=2, should_stop=stop)
    assert res.cancelled and res.steps_done == 6 and len(res.losses) == 6
    assert np.isfinite(res.mse) and res.latent.shape == (model.spec.input_dim,)
    res0 = project(model, target, steps=10, restarts=2, should_stop=lambda: True)
    assert res0.cancelled and res0.steps_done == 1 and res0.image.shape == (1, 6, 6)


def test_projection_encoder_model_never_worse_than_encoder():
    torch.manual_seed(0)
    vae = build_model("vae", latent_dim=4, hidden=32).eval()
    x = (torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(2)) > 0.6).float()
    with torch.no_grad():
        enc_mse = float((vae.reconstruct(x[None])[0] - x).pow(2).mean())
    res = project(vae, x, steps=20, restarts=1, prior_weight=0.0)  # objective == MSE: best <= start
    assert res.mse <= enc_mse + 1e-6
    with pytest.raises(ValueError, match="image"):
        project(vae, torch.rand(1, 8, 8), steps=1)
