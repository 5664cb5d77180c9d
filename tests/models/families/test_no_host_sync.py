"""Every family's training step reads nothing back to the host.

On an accelerator each host read (``.item()``, ``bool(tensor)``, ``nonzero``, ...) waits for
the device and makes the step impossible to capture in a CUDA graph. The CPU runs the same
Python, so a dispatch spy over ``training_step`` + ``on_train_step_end`` (and the latent
draws the step makes) sees every op an accelerator would run. Only the optimizers' own
``step`` is left out: torch's CPU Adam reads its step count on the host, a path CUDA never
takes (the fused capturable kernel keeps the count on the device).
"""
from __future__ import annotations

import pytest
import torch

from models.families.registry import FAMILIES, build_model

#: tiny nets, so each variant takes a fraction of a second on a shared CPU
VARIANTS = {
    "ae": ("ae", dict(hidden=32, latent_dim=4)),
    "ae-conv": ("ae", dict(arch="conv", hidden=32, latent_dim=4)),
    "vae": ("vae", dict(hidden=32, latent_dim=4)),
    "beta-vae": ("beta-vae", dict(hidden=32, latent_dim=4)),
    "beta-vae-capacity": ("beta-vae", dict(hidden=32, latent_dim=4, capacity=True, capacity_steps=3)),
    "aae": ("aae", dict(hidden=32, latent_dim=4, disc_hidden=(16,))),
    "aae-phased": ("aae", dict(hidden=32, latent_dim=4, disc_hidden=(16,), adv_weight=0.0)),
    "aae-mixture": ("aae", dict(hidden=32, latent_dim=4, disc_hidden=(16,), prior="mixture")),
    "aae-uniform": ("aae", dict(hidden=32, latent_dim=4, disc_hidden=(16,), prior="uniform")),
    "gan": ("gan", dict(z_dim=8, g_hidden=(16, 32), d_hidden=(32,))),
    "gan-no-ema": ("gan", dict(z_dim=8, g_hidden=(16, 32), d_hidden=(32,), ema=0.0)),
    "dcgan": ("dcgan", dict(z_dim=8, g_channels=4, d_channels=4, fc_hidden=16)),  # ema on: the default
    "dcgan-conv": ("dcgan", dict(z_dim=8, g_channels=4, d_channels=4, arch="conv")),
    "wgan-gp": ("wgan-gp", dict(z_dim=8, g_channels=4, d_channels=4, fc_hidden=16, n_critic=3)),
    "wgan-gp-one-critic": ("wgan-gp", dict(z_dim=8, g_channels=4, d_channels=4, fc_hidden=16, n_critic=1,
                                            critic_norm="none")),
    "infogan": ("infogan", dict(z_dim=8, fc_hidden=16, q_hidden=8, channels=4)),
    "infogan-learned-std": ("infogan", dict(z_dim=8, fc_hidden=16, q_hidden=8, channels=4, learn_std=True)),
    "cvae": ("cvae", dict(arch="mlp", hidden=32, latent_dim=4, num_classes=3)),
    "cvae-conv": ("cvae", dict(arch="conv", hidden=32, latent_dim=4, num_classes=3)),
    "cgan": ("cgan", dict(z_dim=8, g_channels=4, d_channels=4, fc_hidden=16, num_classes=3)),
    "cgan-conv": ("cgan", dict(z_dim=8, g_channels=4, d_channels=4, arch="conv", num_classes=3)),
    "pggan": ("pggan", dict(z_dim=8, fmap_base=16, fmap_max=4, images_per_fade=12, images_per_stable=12)),
}


def test_every_registered_family_is_covered():
    assert {family for family, _ in VARIANTS.values()} == set(FAMILIES)


def _optimizers_outside(spy, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Run each optimizer's own ``step`` with the spy paused (see the module docstring)."""
    for opt in optimizers.values():
        original = opt.step

        def step(*args, _original=original, **kwargs):
            with spy.paused():
                return _original(*args, **kwargs)

        opt.step = step


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_training_step_reads_nothing_on_the_host(variant, host_read_spy):
    family, config = VARIANTS[variant]
    model = build_model(family, image_shape=(1, 28, 28), **config)
    model.train()
    optimizers = model.configure_optimizers()
    _optimizers_outside(host_read_spy, optimizers)
    batch = torch.rand(12, 1, 28, 28)
    if model.conditional:  # (images, labels), as the training step gathers them
        batch = (batch, torch.arange(12) % 3)
    # two steps: the weight average's first update (a copy) and a later one differ in
    # AveragedModel, and the capacity schedule moves
    for _ in range(2):
        with host_read_spy:
            terms = model.training_step(batch, optimizers)
            model.on_train_step_end()
            model.sample_latents(5, device="cpu")
        assert host_read_spy.host_reads == [], (variant, host_read_spy.host_reads)
    assert terms and all(torch.isfinite(v).all() for v in terms.values())
    assert host_read_spy.ops  # the spy saw the step's ops (a spy that records nothing proves nothing)
