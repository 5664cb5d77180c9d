"""What every adversarial family shares: the [-1, 1] image range, the BCE losses and their
update steps, the moving average of the generator's weights, and :class:`AdversarialModel`.

Image range convention shared by every GAN family here (gan, dcgan, wgan-gp, infogan):
the generator ends in ``tanh`` (images in [-1, 1]); the discriminator / critic only ever
sees images in [-1, 1] (real data is mapped with ``2x - 1``); ``decode()`` returns
``(G(z) + 1) / 2`` in [0, 1] like every other family.

The default step (one call of ``training_step`` per batch, two Adam optimizers):

1. discriminator: ``-log D(x) - log(1 - D(G(z)))`` (BCE on logits, real and fake summed);
2. generator: the non-saturating loss ``-log D(G(z))`` on the same fakes.

Reported terms: ``d_loss``, ``g_loss``, ``d_real`` (mean D(x) as a probability) and
``d_fake`` (mean D(G(z)) before the generator update). GANs have no held-out loss, so
``validation_terms`` is empty and the best checkpoint is never chosen by score.

The step and the weight average that follows it (``on_train_step_end``) read nothing back
from the device: on CUDA the training loop may capture both updates, their optimizers'
steps and the average in one graph.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from models.families.base import LatentModel, ModelConfig, adam
from models.families.weight_average import WeightAverage
from models.latent import LatentSpec


# ---------------------------------------------------------------------------------------
# image range
# ---------------------------------------------------------------------------------------
def to_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> [-1, 1] (what discriminators see)."""
    return x * 2 - 1


def from_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1] (what ``decode`` returns)."""
    return (x + 1) * 0.5


# ---------------------------------------------------------------------------------------
# losses and update steps
# ---------------------------------------------------------------------------------------
def discriminator_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's BCE on logits: real -> 1 plus fake -> 0 (each a batch mean)."""
    return F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + F.binary_cross_entropy_with_logits(
        fake_logits, torch.zeros_like(fake_logits)
    )


def generator_bce(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``-log D(G(z))`` on the discriminator's logits."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_step(
    discriminator: Callable[[torch.Tensor], torch.Tensor], optimizer: torch.optim.Optimizer, real: torch.Tensor,
    fake: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One discriminator update on ``discriminator_bce`` (``fake`` is detached: no gradient
    reaches what made it). Returns (loss, real logits, fake logits), still attached."""
    optimizer.zero_grad(set_to_none=True)
    real_logits = discriminator(real)
    fake_logits = discriminator(fake.detach())
    loss = discriminator_bce(real_logits, fake_logits)
    loss.backward()
    optimizer.step()
    return loss, real_logits, fake_logits


def generator_step(
    discriminator: Callable[[torch.Tensor], torch.Tensor], optimizer: torch.optim.Optimizer, fake: torch.Tensor,
    discriminator_optimizer: torch.optim.Optimizer,
) -> torch.Tensor:
    """One non-saturating generator update (``generator_bce`` of ``discriminator(fake)``),
    then drops the gradients it left on the discriminator. Returns the loss, still attached."""
    optimizer.zero_grad(set_to_none=True)
    loss = generator_bce(discriminator(fake))
    loss.backward()
    optimizer.step()
    discriminator_optimizer.zero_grad(set_to_none=True)
    return loss


def bce_terms(d_loss: torch.Tensor, g_loss: torch.Tensor, real_logits: torch.Tensor,
              fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The terms every BCE-trained GAN reports: both losses, and D's mean verdicts on the real
    and the fake images as probabilities (``d_real``, ``d_fake``)."""
    return {"d_loss": d_loss, "g_loss": g_loss, "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean()}


# ---------------------------------------------------------------------------------------
# the moving average of G's weights
# ---------------------------------------------------------------------------------------
#: the doc of every GAN config's ``ema`` field (the Train form's tooltip, the CLI's help)
EMA_DOC = ("decay of the moving average of G's weights that samples and the explorer use "
           "(0 = off: sample from G itself; 0.999: about the last 1,000 steps, ramped up over the "
           "run). Not in the paper; it gives cleaner samples at no training cost")


def ema_field(default: float = 0.999) -> Any:
    """The ``ema`` field of a GAN config (``ema: float = ema_field()``): the decay of the
    weight average that :meth:`AdversarialModel.track_generator_ema` keeps, with its doc."""
    return dataclasses.field(default=default, metadata={"doc": EMA_DOC})


def ema_ramp_decay(decay: float, n_updates: torch.Tensor) -> torch.Tensor:
    """The decay of update ``n_updates + 1``: min(decay, (1 + n) / (10 + n)), TensorFlow's
    ExponentialMovingAverage ramp. The average's memory grows with the run (a half-life of
    ~8 % of the steps so far) up to ``decay``'s, so a short run's samples follow G instead
    of being dragged back to the random initial weights."""
    n = n_updates.to(torch.float32)
    return torch.clamp((1 + n) / (10 + n), max=decay)


# ---------------------------------------------------------------------------------------
# the shared adversarial model
# ---------------------------------------------------------------------------------------
class AdversarialModel(LatentModel):
    """Generator ``self.generator`` (latent -> [-1, 1] images) and ``self.discriminator``
    ([-1, 1] images -> logits). Subclasses build the two nets and may change the step."""

    generator: nn.Module
    discriminator: nn.Module
    #: the exponential moving average of G's weights (None when the config's ``ema`` is 0)
    generator_ema: WeightAverage | None

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.generator_ema = None

    def track_generator_ema(self) -> None:
        """Families call this once their generator is built and initialised: with ``ema`` > 0
        a copy of G follows its weights (and batch-norm statistics) as an exponential moving
        average, updated after every step (its decay ramps up to ``ema``: see
        :func:`ema_ramp_decay`). Samples, previews and the explorer decode with the copy.
        Why: G's weights jitter from step to step around what D currently rewards; averaging
        them (Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training")
        gives cleaner samples at no training cost. The update never syncs with the device
        (see :mod:`models.families.weight_average`)."""
        decay = float(self.config.ema)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema must be in [0, 1): got {decay}")
        if decay > 0:
            self.generator_ema = WeightAverage(self.generator, functools.partial(ema_ramp_decay, decay))

    def set_ema(self, decay: float) -> None:
        """Switch the weight average on (it starts from G's current weights), off (0), or to
        another decay: what a continued run may change, since it never alters training."""
        if decay == self.config.ema:  # the average exists exactly when ema > 0
            return
        self.config = dataclasses.replace(self.config, ema=float(decay))
        self.generator_ema = None
        self.track_generator_ema()

    def on_train_step_end(self) -> None:
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)

    @property
    def sampling_generator(self) -> nn.Module:
        """The net that makes images for users: the weight average when tracked, else G."""
        return self.generator if self.generator_ema is None else self.generator_ema.module

    @property
    def latent_spec(self) -> LatentSpec:
        return LatentSpec(z_dim=self.config.z_dim, z_range=(-3.0, 3.0), prior="normal", has_encoder=False)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return from_tanh_range(self.sampling_generator(latent))

    def generator_params(self) -> list[nn.Parameter]:
        return list(self.generator.parameters())

    def discriminator_params(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    #: the name of the discriminator's optimizer (WGAN-GP calls it the critic)
    discriminator_name = "discriminator"

    def generator_lr(self) -> float:
        """G's Adam rate when D runs at the config's ``lr`` (the same, unless a family says otherwise)."""
        return self.config.lr

    def configure_optimizers(self, lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
        """D at ``lr`` (default: the config's), G at ``generator_lr()``; a user ``lr`` scales
        G's rate by the same factor as D's, so the families' D:G ratios hold."""
        cfg = self.config
        d_lr = lr or cfg.lr
        g_lr = self.generator_lr() * (d_lr / cfg.lr)
        betas = (cfg.beta1, cfg.beta2)
        return {self.discriminator_name: adam(self.discriminator_params(), d_lr, betas),
                "generator": adam(self.generator_params(), g_lr, betas)}

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The GAN terms without updating anything (real batch vs. fresh fakes)."""
        real = to_tanh_range(batch)
        fake = self.generator(self.sample_latents(batch.shape[0], device=batch.device))
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        return bce_terms(discriminator_bce(real_logits, fake_logits), generator_bce(fake_logits), real_logits, fake_logits)

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        opt_d, opt_g = optimizers["discriminator"], optimizers["generator"]
        real = to_tanh_range(batch)
        fake = self.generator(self.sample_latents(batch.shape[0], device=batch.device))

        # 1. discriminator: real -> 1, fake -> 0
        d_loss, real_logits, fake_logits = discriminator_step(self.discriminator, opt_d, real, fake)

        # 2. generator: non-saturating -log D(G(z)) against the updated discriminator
        g_loss = generator_step(self.discriminator, opt_g, fake, opt_d)

        return bce_terms(d_loss.detach(), g_loss.detach(), real_logits.detach(), fake_logits.detach())

    @torch.no_grad()
    def validation_terms(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

