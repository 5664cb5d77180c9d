"""Autoencoder and variational autoencoder (Kingma & Welling 2014).

The MLP VAE with ``hidden=400, latent_dim=20`` is the classic PyTorch example
(784-400-20-400-784); ``test_loss`` (BCE summed over pixels + KL, per image) compares
directly with its published figures.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from models.families.base import LatentModel, ModelConfig
from models.latent import LatentSpec
from models.nets.autoencoder import make_decoder, make_encoder


#: residual blocks per side at most (each is two 3x3 convs at the lowest resolution)
MAX_RES_BLOCKS = 64
#: dense layers per side at most for the MLP
MAX_MLP_LAYERS = 8


@dataclasses.dataclass
class AEConfig(ModelConfig):
    #: "mlp" (784-400-d) or "conv" (stride-2 convs)
    arch: str = "mlp"
    latent_dim: int = 20
    #: width of the dense layers on each side
    hidden: int = 400
    #: mlp arch: dense ReLU layers of ``hidden`` units on each side (the classic example: 1)
    mlp_layers: int = dataclasses.field(default=1, metadata={"min": 1, "max": MAX_MLP_LAYERS})
    #: "bernoulli": BCE on grey levels; "gaussian": squared error / (2 sigma^2)
    likelihood: str = "bernoulli"
    #: fixed decoder std for the Gaussian likelihood (smaller = sharper, less regularised)
    sigma: float = 0.1
    lr: float = 1e-3
    #: conv arch: channels of the first stride-2 stage (the next has twice as many)
    conv_channels: int = 32
    #: conv arch: residual blocks (two 3x3 convs and a skip) at the lowest resolution, after
    #: the encoder's last stage and before the decoder's first
    res_blocks: int = dataclasses.field(default=1, metadata={"max": MAX_RES_BLOCKS})

    #: conv nets saved before the two fields existed were 32/64 channels without residual
    #: blocks; MLPs saved before ``mlp_layers`` had one layer a side
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"conv_channels": 32, "res_blocks": 0, "mlp_layers": 1}
    APPLIES_WHEN: ClassVar[dict[str, tuple[str, Any]]] = {
        "sigma": ("likelihood", "gaussian"), "conv_channels": ("arch", "conv"), "res_blocks": ("arch", "conv"),
        "mlp_layers": ("arch", "mlp")}

    def default_batch_size(self) -> int | None:
        """The conv net trains on batches of 64: twice the updates per epoch of 128, for the
        same pixels seen, lowers its bound within a fixed number of epochs (the MLP keeps the
        classic example's 128)."""
        return 64 if self.arch == "conv" else None

    def default_lr_decay(self) -> str | None:
        """The conv net's schedule: half a cosine to 0 over the run (the MLP: constant, as the
        classic example)."""
        return "cosine" if self.arch == "conv" else None


@dataclasses.dataclass
class VAEConfig(AEConfig):
    #: weight on the KL term (1 = the ELBO; >1 is a beta-VAE)
    beta: float = 1.0


def recon_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str, sigma: float) -> torch.Tensor:
    """Per-image reconstruction negative log-likelihood (nats, constants dropped), shape (B,)."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    if likelihood == "gaussian":
        return (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1) / (2 * sigma**2)
    raise ValueError(f"unknown likelihood {likelihood!r}: use 'bernoulli' or 'gaussian'")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per latent dimension, shape (B, D)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)


class AutoEncoder(LatentModel):
    family = "ae"
    Config = AEConfig
    has_prior = False

    def __init__(self, config: AEConfig) -> None:
        super().__init__(config)
        # before any layer exists: a tampered or mistyped count would build blocks for hours
        config.check_bounds()
        body = {"channels": config.conv_channels, "res_blocks": config.res_blocks, "mlp_layers": config.mlp_layers}
        self.encoder = make_encoder(config.arch, config.image_shape, config.hidden, **body)
        self.to_latent = nn.Linear(config.hidden, self._encoder_outputs())
        self.decoder = make_decoder(config.arch, config.image_shape, config.latent_dim, config.hidden, **body)

    def _encoder_outputs(self) -> int:
        return self.config.latent_dim

    @property
    def latent_spec(self) -> LatentSpec:
        return LatentSpec(z_dim=self.config.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.encoder(x))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(latent))

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.decoder(self.encode(batch))
        recon = recon_nll(logits, batch, self.config.likelihood, self.config.sigma).mean()
        return {"recon": recon, "total": recon}


class VAE(AutoEncoder):
    family = "vae"
    Config = VAEConfig
    has_prior = True
    has_kl = True

    def _encoder_outputs(self) -> int:
        return 2 * self.config.latent_dim  # mean and log-variance

    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) -> mu, logvar, each (B, latent_dim)."""
        mu, logvar = self.to_latent(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_stats(x)[0]

    def forward_terms(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-image recon NLL (B,), per-dimension KL (B, D), and the decoder logits."""
        mu, logvar = self.encode_stats(batch)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        logits = self.decoder(z)
        return recon_nll(logits, batch, self.config.likelihood, self.config.sigma), gaussian_kl(mu, logvar), logits

    def kl_weight_term(self, kl: torch.Tensor) -> torch.Tensor:
        """What the KL contributes to the objective; beta-VAE variants override it."""
        return self.config.beta * kl

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        recon, kl_dims, _ = self.forward_terms(batch)
        recon, kl = recon.mean(), kl_dims.sum(1).mean()
        return {"recon": recon, "kl": kl, "total": recon + self.kl_weight_term(kl)}
