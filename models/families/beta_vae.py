"""beta-VAE (Higgins et al. 2017) and its capacity-annealed variant (Burgess et al. 2018).

Plain beta-VAE: ``recon + beta * KL`` with beta > 1 (4 is the paper's dSprites value).

Capacity schedule (``capacity=True``, "Understanding disentangling in beta-VAE"):
``recon + gamma * |KL - C|`` where the target KL ``C`` grows linearly from 0 to
``capacity_max`` nats over ``capacity_steps`` training steps, then stays there.

The step count lives in a registered buffer (``train_step``, int64) that ``loss()``
increments on the device whenever the model is in training mode: no Python counter, no
host sync, so the whole step stays capturable in a CUDA graph, and the schedule survives
a checkpoint round trip (the buffer is in the state dict). Validation (eval mode) never
advances it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from models.families.vae import MAX_MLP_LAYERS, VAE, VAEConfig


@dataclasses.dataclass
class BetaVAEConfig(VAEConfig):
    #: weight on the KL term (Higgins et al. 2017 use beta = 4 on dSprites)
    beta: float = 4.0
    #: switch on Burgess et al.'s controlled-capacity objective (replaces beta * KL)
    capacity: bool = False
    #: weight on |KL - C| (Burgess et al. 2018: 1000)
    gamma: float = 1000.0
    #: final target KL C in nats (Burgess et al. 2018: 25)
    capacity_max: float = 25.0
    #: training steps over which C grows linearly from 0 to capacity_max (Burgess: 100k)
    capacity_steps: int = 100_000
    #: Adam learning rate (Burgess et al. 2018: 5e-4)
    lr: float = 5e-4
    #: 10 latents, as Higgins et al. on dSprites: with 20 the shapes' x-y plane spreads over
    #: more dimensions than it has (MIG at 64x64 after 10 epochs: README, the disentanglement rows)
    latent_dim: int = 10
    #: mlp arch: four dense layers a side (Higgins et al.'s dSprites nets have two to three).
    #: With one layer the code folds the shapes' x-y plane over several dimensions (no dimension
    #: follows x alone); more layers let it unfold: at 28x28 two suffice, at 64x64 (the shapes
    #: default) MIG after 10 epochs rises from 0.02 (two layers, 20-d) to 0.28 (four, 10-d)
    mlp_layers: int = dataclasses.field(default=4, metadata={"min": 1, "max": MAX_MLP_LAYERS})

    APPLIES_WHEN: ClassVar[dict[str, tuple[str, Any]]] = {
        **VAEConfig.APPLIES_WHEN, "gamma": ("capacity", True), "capacity_max": ("capacity", True),
        "capacity_steps": ("capacity", True)}


class BetaVAE(VAE):
    family = "beta-vae"
    Config = BetaVAEConfig

    def __init__(self, config: BetaVAEConfig) -> None:
        super().__init__(config)
        # training steps taken so far (device tensor: see the module docstring)
        self.register_buffer("train_step", torch.zeros((), dtype=torch.long))

    def current_capacity(self) -> torch.Tensor:
        """The target KL C (nats) at the current step, a 0-d float tensor on the model's device."""
        cfg = self.config
        frac = self.train_step.float() / max(int(cfg.capacity_steps), 1)
        return frac.clamp(max=1.0) * cfg.capacity_max

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.training:
            self.train_step.add_(1)  # in place on the device: graph capturable
        cfg = self.config
        if not cfg.capacity:
            return super().loss(batch)  # recon + beta * KL
        recon, kl_dims, _ = self.forward_terms(batch)
        recon, kl = recon.mean(), kl_dims.sum(1).mean()
        c = self.current_capacity()
        return {"recon": recon, "kl": kl, "capacity": c, "total": recon + cfg.gamma * (kl - c).abs()}
