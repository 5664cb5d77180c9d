"""Adversarial autoencoder (Makhzani et al. 2016).

A deterministic autoencoder (encoder q(z|x), decoder p(x|z), the same bodies as the AE
family, see models/nets/autoencoder.py) whose code distribution is matched to a prior by a
discriminator MLP on z. Each ``training_step``, on one batch:

1. the discriminator learns prior samples -> 1, encoded codes -> 0 (``d_loss``, BCE summed
   over both);
2. encoder + decoder minimise the reconstruction NLL (``recon``) plus ``adv_weight`` (per
   784 pixels, see ``AAEConfig.adv_weight``) times the encoder's adversarial loss (``g_loss``, non-saturating ``-log D(q(x))``: make D call
   the codes prior samples), in one update.

``adv_weight = 0`` gives the paper's schedule instead: a reconstruction update, then the
D update, then a separate adversarial update of the encoder (its own optimizer). With Adam
that separate step has a fixed size whatever D's verdict, and over long runs the codes drift
from the prior (see ``AAEConfig.adv_weight``); in the joint loss the push back grows with D's
confidence.

Neither schedule reads anything back from the device, so on CUDA the training loop may
capture all of a step's updates (two or three optimizers) in one graph.

Priors (``prior``), all sampled on the device:

* ``"normal"``: N(0, I);
* ``"uniform"``: U(-1, 1)^D (the latent spec says ``prior="uniform"``, z_range (-1, 1));
* ``"mixture"``: the paper's mixture of 10 2-D Gaussians generalised to D dims: component
  k has mean ``(R cos 2pi k/10, R sin 2pi k/10, 0, ..., 0)`` with R = ``mixture_radius``,
  std ``mixture_std`` in the first two dims and 1 in the others (a standard normal
  there). With D = 1 the 10 means are evenly spaced on [-R, R]. The latent spec reports
  ``prior="mixture"``, which LatentSpec.sample cannot draw (it would give N(0, I)):
  ``sample_latents`` is overridden with the actual mixture, and every caller draws
  through it.

``validation_terms`` (and so the validation total / test loss) is the reconstruction
term only. The paper trained with SGD + momentum; this uses Adam (what most
reimplementations use): ``lr`` for the autoencoder and ``adv_lr`` (lower) with beta1 = 0.5
for the discriminator (and the separate adversarial phase).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
from torch import nn

from models.families.adversarial import discriminator_step, generator_bce, generator_step
from models.families.base import adam
from models.latent import LatentSpec
from models.families.vae import AEConfig, AutoEncoder, recon_nll

PRIORS = ("normal", "mixture", "uniform")


@dataclasses.dataclass
class AAEConfig(AEConfig):
    #: "mlp" or "conv" encoder/decoder bodies (as for the AE)
    arch: str = "mlp"
    #: code size (Makhzani et al. use 8 for the MNIST likelihood experiments)
    latent_dim: int = 8
    #: width of the encoder/decoder dense layer (paper: 1000-unit layers)
    hidden: int = 1000
    #: "bernoulli" (BCE) or "gaussian" (squared error / 2 sigma^2)
    likelihood: str = "bernoulli"
    #: the prior the codes are matched to: "normal", "mixture" or "uniform"
    prior: str = "normal"
    #: discriminator hidden widths, ReLU (paper: two layers of 1000 units)
    disc_hidden: tuple[int, ...] = (1000, 1000)
    #: mixture prior: radius of the circle the 10 means lie on, and the per-component std
    mixture_radius: float = 2.0
    mixture_std: float = 0.5
    #: number of mixture components
    mixture_components: int = 10
    #: Adam learning rate of the reconstruction phase
    lr: float = 1e-3
    #: weight of the encoder's adversarial term ``-log D(q(x))``, added to its reconstruction
    #: loss in one update, per 784 pixels: the reconstruction NLL sums over pixels, so the term
    #: is scaled by C*H*W / 784 to hold the same balance at any image size (exactly this
    #: weight on 28x28 grey images). 0 = the paper's separate regularisation phase: the
    #: encoder takes its own adversarial step (optimizer "generator", rate ``adv_lr``). Why
    #: joint by default: Adam scales every optimizer's steps to about its rate whatever the
    #: gradient's size, so with separate phases the push back towards the prior cannot grow
    #: when the codes drift from it; in one loss it grows with D's confidence. MNIST, 10
    #: epochs: separate phases let the codes spread to per-dimension std 1.4-2.7 (prior: 1);
    #: joint, std stays ~1. Shapes 64x64, 2-D mixture prior, 1,500 steps: unscaled weight 1
    #: left the codes at median radius 3.6 (prior: 2), scaled (5.2) 2.3
    adv_weight: float = 1.0
    #: Adam learning rate of the discriminator (and of the separate adversarial phase when
    #: ``adv_weight`` is 0); 0 = lr
    adv_lr: float = 3e-4
    #: Adam beta1 for the adversarial updates (GAN practice)
    adv_beta1: float = 0.5

    #: runs saved before ``adv_lr`` / ``adv_weight`` existed trained their adversarial
    #: updates in a separate phase at ``lr``
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {**AEConfig.SAVED_BEFORE, "adv_lr": 0.0, "adv_weight": 0.0}
    APPLIES_WHEN: ClassVar[dict[str, tuple[str, Any]]] = {
        **AEConfig.APPLIES_WHEN, "mixture_radius": ("prior", "mixture"), "mixture_std": ("prior", "mixture"),
        "mixture_components": ("prior", "mixture")}


class AdversarialAE(AutoEncoder):
    family = "aae"
    Config = AAEConfig
    has_prior = True

    def __init__(self, config: AAEConfig) -> None:
        if config.prior not in PRIORS:
            raise ValueError(f"unknown prior {config.prior!r}: use one of {', '.join(PRIORS)}")
        super().__init__(config)
        layers: list[nn.Module] = []
        d = config.latent_dim
        for h in config.disc_hidden:
            layers += [nn.Linear(d, h), nn.ReLU(True)]
            d = h
        layers.append(nn.Linear(d, 1))
        self.discriminator = nn.Sequential(*layers)
        self.register_buffer("mixture_means", self._mixture_means(config), persistent=False)

    @staticmethod
    def _mixture_means(cfg: AAEConfig) -> torch.Tensor:
        k, d, r = cfg.mixture_components, cfg.latent_dim, cfg.mixture_radius
        means = torch.zeros(k, d)
        if d == 1:
            means[:, 0] = torch.linspace(-r, r, k)
        else:
            angle = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
            means[:, 0] = (r * torch.cos(angle)).float()
            means[:, 1] = (r * torch.sin(angle)).float()
        return means

    # -- the prior ----------------------------------------------------------------------
    @property
    def latent_spec(self) -> LatentSpec:
        z_range = (-1.0, 1.0) if self.config.prior == "uniform" else (-3.0, 3.0)
        return LatentSpec(z_dim=self.config.latent_dim, z_range=z_range, prior=self.config.prior, has_encoder=True)

    def sample_latents(self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None,
                       truncation: float | None = None) -> torch.Tensor:
        """n codes from the declared prior, shape (n, latent_dim), on ``device`` (default: the
        CPU); the mixture is drawn here, normal and uniform by the latent spec."""
        cfg = self.config
        device = torch.device(device) if device is not None else torch.device("cpu")
        if cfg.prior != "mixture":  # normal / uniform: exactly what the latent spec declares
            return self.latent_spec.sample(n, generator=generator, device=device, truncation=truncation)
        gen_device = generator.device if generator is not None else device
        d = cfg.latent_dim
        comp = torch.randint(cfg.mixture_components, (n,), generator=generator, device=gen_device)
        z = torch.randn(n, d, generator=generator, device=gen_device)
        std = torch.ones(d, device=gen_device)
        std[: min(d, 2)] = cfg.mixture_std
        z = self.mixture_means.to(gen_device)[comp] + z * std
        if truncation is not None:
            z = z.clamp(-truncation, truncation)
        return z.to(device)

    # -- training -----------------------------------------------------------------------
    def ae_params(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.to_latent.parameters(), *self.decoder.parameters()]

    def encoder_params(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.to_latent.parameters()]

    def configure_optimizers(self, lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        lr = lr or cfg.lr
        adv_lr = (cfg.adv_lr or cfg.lr) * (lr / cfg.lr)  # a user's lr scales both phases alike
        adv = (cfg.adv_beta1, 0.999)
        optimizers = {
            "autoencoder": adam(self.ae_params(), lr),
            "discriminator": adam(self.discriminator.parameters(), adv_lr, adv),
        }
        if cfg.adv_weight <= 0:  # the paper's separate regularisation phase
            optimizers["generator"] = adam(self.encoder_params(), adv_lr, adv)
        return optimizers

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        if self.config.adv_weight > 0:
            return self._joint_step(batch, optimizers)
        return self._phased_step(batch, optimizers)

    @property
    def adversarial_weight(self) -> float:
        """``adv_weight`` scaled to the image size (C*H*W / 784), as the joint loss uses it."""
        return self.config.adv_weight * math.prod(self.config.image_shape) / 784

    def _joint_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """D learns prior -> 1, codes -> 0; then the autoencoder minimises
        recon + adv_weight * (-log D(q(x))) in one update."""
        opt_ae, opt_d = optimizers["autoencoder"], optimizers["discriminator"]
        z = self.encode(batch)
        z_prior = self.sample_latents(z.shape[0], device=z.device)
        d_loss, _, _ = discriminator_step(self.discriminator, opt_d, z_prior, z)  # z detached inside

        opt_ae.zero_grad(set_to_none=True)
        recon = recon_nll(self.decoder(z), batch, self.config.likelihood, self.config.sigma).mean()
        g_loss = generator_bce(self.discriminator(z))
        (recon + self.adversarial_weight * g_loss).backward()
        opt_ae.step()
        opt_d.zero_grad(set_to_none=True)  # the g term's gradients on D are not D's to use

        recon = recon.detach()
        # no "total": the loss minimised is not one number here (and recon alone would plot twice)
        return {"recon": recon, "d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def _phased_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        """The paper's two phases, each with its own update (``adv_weight`` 0)."""
        opt_ae, opt_d, opt_g = optimizers["autoencoder"], optimizers["discriminator"], optimizers["generator"]

        # 1. reconstruction phase
        opt_ae.zero_grad(set_to_none=True)
        recon = self.loss(batch)["recon"]
        recon.backward()
        opt_ae.step()

        # 2a. regularisation phase, discriminator: prior samples -> 1, codes -> 0
        z = self.encode(batch)
        z_prior = self.sample_latents(z.shape[0], device=z.device)
        d_loss, _, _ = discriminator_step(self.discriminator, opt_d, z_prior, z)

        # 2b. regularisation phase, encoder as generator: fool the discriminator
        g_loss = generator_step(self.discriminator, opt_g, z, opt_d)

        recon = recon.detach()
        # no "total": the loss minimised is not one number here (and recon alone would plot twice)
        return {"recon": recon, "d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
