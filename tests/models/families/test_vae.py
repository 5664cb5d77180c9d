import math

import pytest
import torch

from models.families.registry import build_model
from models.families.vae import gaussian_kl, recon_nll


def test_bernoulli_recon_matches_hand_computed_bce():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 0.5]]).view(2, 1, 1, 2)
    x = torch.tensor([[1.0, 0.0], [0.25, 1.0]]).view(2, 1, 1, 2)
    p = torch.sigmoid(logits)
    # -[x log p + (1-x) log(1-p)] summed over pixels, by hand
    hand = [-(math.log(0.5)) - math.log(1 - 1 / (1 + math.exp(-2.0))),
            -(0.25 * math.log(float(p[1, 0, 0, 0])) + 0.75 * math.log(1 - float(p[1, 0, 0, 0]))) - math.log(float(p[1, 0, 0, 1]))]
    assert recon_nll(logits, x, "bernoulli", 0.1).tolist() == pytest.approx(hand, rel=1e-5)


def test_gaussian_recon_is_squared_error_over_two_sigma_squared():
    logits = torch.zeros(1, 1, 1, 2)  # mean 0.5
    x = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    assert float(recon_nll(logits, x, "gaussian", 0.5)[0]) == pytest.approx((0.25 + 0.25) / (2 * 0.25))


def test_kl_of_standard_normal_is_zero_and_matches_closed_form():
    assert float(gaussian_kl(torch.zeros(3), torch.zeros(3)).sum()) == 0.0
    mu, logvar = torch.tensor([1.0]), torch.tensor([math.log(4.0)])
    assert float(gaussian_kl(mu, logvar)) == pytest.approx(0.5 * (1 + 4 - 1 - math.log(4)))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("family", ["ae", "vae"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 64, 64), (3, 64, 64)])
def test_encode_decode_shapes(family, arch, shape):
    m = build_model(family, arch=arch, latent_dim=5, hidden=32, image_shape=shape)
    x = torch.rand(3, *shape)
    with torch.no_grad():
        z = m.encode(x)
        out = m.decode(z)
    assert z.shape == (3, 5) and m.latent_spec.input_dim == 5
    assert out.shape == (3, *shape) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert m.sample(4).shape == (4, *shape)


def test_vae_loss_terms_and_beta():
    torch.manual_seed(0)
    m = build_model("vae", latent_dim=4, hidden=16, beta=3.0)
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(1)
    with torch.no_grad():
        t = m.loss(x)
    assert set(t) == {"recon", "kl", "total"}
    assert float(t["total"]) == pytest.approx(float(t["recon"] + 3.0 * t["kl"]), rel=1e-6)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="mlp"):
        build_model("vae", arch="resnet")
