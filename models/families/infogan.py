"""InfoGAN (Chen et al. 2016), the paper's MNIST setup.

Latent (flat, as every family): ``[z (62) | one-hot of a 10-way categorical code |
2 continuous codes]``; training draws z ~ N(0, I), the category uniformly and the codes
from U(-1, 1).

Networks (28x28; other sizes add stride-2 stages, channels doubling per halving):

* G: fc 1024 + BN + ReLU -> fc 7*7*128 + BN + ReLU -> upconv 64 + BN + ReLU -> upconv C,
  then tanh (the [-1, 1] convention of models/families/adversarial.py; ``decode`` maps back to [0, 1]);
* D body: conv 64 + lReLU -> conv 128 + BN + lReLU -> fc 1024 + BN + lReLU (leaky slope 0.1);
  D head: fc 1 (real/fake logit);
* Q head on the shared body: fc 128 + BN + lReLU -> categorical logits + continuous means
  (+ log-stds with ``learn_std``: the paper's factored Gaussian; the released MNIST code
  fixes std = 1, the default here).

Training (per step, the common PyTorch arrangement of the paper's objective):

1. D (body + D head, Adam ``lr``): BCE real -> 1, fake -> 0;
2. G + Q head (Adam ``g_lr``): non-saturating ``-log D(G(z, c))`` + ``lambda_cat`` *
   cross-entropy(c_cat) + ``lambda_cont`` * Gaussian NLL(c_cont).

Terms: ``d_loss``, ``g_loss`` (adversarial part only), ``d_real``, ``d_fake``,
``info_cat`` (cross-entropy, nats, summed over categorical codes), ``info_cont``
(Gaussian NLL per code, constants dropped: 0.5*(c-mu)^2/s^2 + log s, summed over codes)
and ``mutual_info``: the lower bound on I(c_cat; G(z, c)) for the categorical codes,
``sum_k log(k) - info_cat`` in nats (-> log 10 = 2.30 when Q recovers the category).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from models.families.adversarial import (
    AdversarialModel, bce_terms, discriminator_bce, discriminator_step, ema_field, generator_bce, to_tanh_range,
)
from models.families.base import ModelConfig
from models.latent import LatentSpec
from models.nets.adversarial import DenseConvGenerator, DenseConvTrunk, dcgan_init


@dataclasses.dataclass
class InfoGANConfig(ModelConfig):
    #: checkpoints from before ``ema`` existed hold no weight average
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"ema": 0.0}
    #: incompressible noise dimension (paper, MNIST: 62)
    z_dim: int = 62
    #: sizes of the categorical codes (paper, MNIST: one 10-way code)
    categorical: tuple[int, ...] = (10,)
    #: number of continuous codes, drawn from U(-1, 1) (paper, MNIST: 2)
    continuous: int = 2
    #: weight of the categorical information term (paper: 1)
    lambda_cat: float = 1.0
    #: weight of the continuous information term (paper: 0.1)
    lambda_cont: float = 0.1
    #: Q also predicts a log-std per continuous code (factored Gaussian); False: std = 1
    learn_std: bool = False
    #: width of the G/D dense layer (paper: 1024) and of the Q head's layer (paper: 128)
    fc_hidden: int = 1024
    q_hidden: int = 128
    #: channels of the conv layer at the highest resolution (paper: 64, then 128)
    channels: int = 64
    #: Adam learning rate of D (paper: 2e-4)
    lr: float = 2e-4
    #: Adam learning rate of G + Q head (paper: 1e-3)
    g_lr: float = 1e-3
    #: Adam beta1 / beta2 (paper: 0.5, 0.999)
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float = ema_field()


class InfoGAN(AdversarialModel):
    family = "infogan"
    Config = InfoGANConfig

    def __init__(self, config: InfoGANConfig) -> None:
        super().__init__(config)
        self.n_cat = sum(config.categorical)
        self.cont_outputs = config.continuous * (2 if config.learn_std else 1)
        spec = self.latent_spec
        self.generator = DenseConvGenerator(config.image_shape, spec.input_dim, config.fc_hidden, config.channels)
        # D and Q share this trunk (the paper's leaky slope: 0.1)
        self.body = DenseConvTrunk(config.image_shape, config.fc_hidden, config.channels, norm="batch", slope=0.1)
        self.d_head = nn.Linear(config.fc_hidden, 1)
        self.q_head = nn.Sequential(
            nn.Linear(config.fc_hidden, config.q_hidden, bias=False), nn.BatchNorm1d(config.q_hidden), nn.LeakyReLU(0.1, True),
            nn.Linear(config.q_hidden, self.n_cat + self.cont_outputs),
        )
        dcgan_init(self)
        self.track_generator_ema()

    # -- latent ---------------------------------------------------------------------------
    @property
    def latent_spec(self) -> LatentSpec:
        cfg = self.config
        return LatentSpec(
            z_dim=cfg.z_dim, z_range=(-3.0, 3.0), prior="normal", categorical=tuple(cfg.categorical),
            continuous=cfg.continuous, continuous_range=(-2.0, 2.0), has_encoder=False,
        )

    def preview_latents(self, generator: torch.Generator) -> torch.Tensor:
        """The paper's figure: row r = category r of the first categorical code, columns =
        continuous code 0 swept from -2 to 2 (other codes 0), one noise vector shared by
        all cells (fixed noise). 10 x 10 = 100 latents for the MNIST setup."""
        spec = self.latent_spec
        rows = spec.categorical[0] if spec.categorical else 1
        cols = self.preview_columns()
        z = spec.split(self.sample_latents(1, generator, device=generator.device))[0].expand(rows * cols, -1).clone().cpu()
        cats = None
        if spec.categorical:
            cats = torch.zeros(rows * cols, len(spec.categorical), dtype=torch.long)
            cats[:, 0] = torch.arange(rows).repeat_interleave(cols)
        codes = None
        if spec.continuous:
            codes = torch.zeros(rows * cols, spec.continuous)
            codes[:, 0] = torch.linspace(*spec.continuous_range, cols).repeat(rows)
        return spec.compose(z, cats, codes)

    def preview_columns(self) -> int:
        return 10

    # -- nets -----------------------------------------------------------------------------
    def discriminator(self, x: torch.Tensor) -> torch.Tensor:  # [-1, 1] images -> logits (B,)
        return self.d_head(self.body(x)).view(-1)

    def _q(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        out = self.q_head(h)
        cat, cont = out[:, : self.n_cat], out[:, self.n_cat :]
        if self.config.learn_std:
            mean, log_std = cont.chunk(2, dim=1)
            return cat, mean, log_std
        return cat, cont, None

    @torch.no_grad()
    def q_codes(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] -> (categorical logits (B, sum(categorical)), continuous means (B, continuous)).
        With several categorical codes their logits are concatenated in latent order."""
        cat, mean, _ = self._q(self.body(to_tanh_range(images)))
        return cat, mean

    def generator_params(self) -> list[nn.Parameter]:
        return [*self.generator.parameters(), *self.q_head.parameters()]

    def discriminator_params(self) -> list[nn.Parameter]:
        return [*self.body.parameters(), *self.d_head.parameters()]

    def generator_lr(self) -> float:
        """G + Q head at ``g_lr`` (the paper: 1e-3, D at 2e-4)."""
        return self.config.g_lr

    # -- losses ---------------------------------------------------------------------------
    def _info_terms(self, h_fake: torch.Tensor, cats: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cat_logits, mean, log_std = self._q(h_fake)
        info_cat = h_fake.new_zeros(())
        at = 0
        for i, k in enumerate(self.config.categorical):
            info_cat = info_cat + F.cross_entropy(cat_logits[:, at : at + k], cats[:, i])
            at += k
        info_cont = h_fake.new_zeros(())
        if self.config.continuous:
            if log_std is None:
                nll = 0.5 * (codes - mean).pow(2)
            else:
                log_std = log_std.clamp(-5.0, 5.0)
                nll = 0.5 * (codes - mean).pow(2) * torch.exp(-2 * log_std) + log_std
            info_cont = nll.sum(1).mean()
        return info_cat, info_cont

    def _draw(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat latents from the training prior, with the category indices and codes."""
        spec = self.latent_spec
        latent = self.sample_latents(n, device=device)
        _, blocks, codes = spec.split(latent)
        if spec.categorical:
            cats = torch.stack([b.argmax(1) for b in blocks], dim=1)
        else:
            cats = torch.zeros(n, 0, dtype=torch.long, device=device)
        return latent, cats, codes

    def _mutual_info(self, info_cat: torch.Tensor) -> torch.Tensor:
        return sum(math.log(k) for k in self.config.categorical) - info_cat

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        real = to_tanh_range(batch)
        latent, cats, codes = self._draw(batch.shape[0], batch.device)
        fake = self.generator(latent)
        real_logits = self.discriminator(real)
        h_fake = self.body(fake)
        fake_logits = self.d_head(h_fake).view(-1)
        info_cat, info_cont = self._info_terms(h_fake, cats, codes)
        return {**bce_terms(discriminator_bce(real_logits, fake_logits), generator_bce(fake_logits), real_logits, fake_logits),
                "info_cat": info_cat, "info_cont": info_cont, "mutual_info": self._mutual_info(info_cat)}

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        cfg = self.config
        opt_d, opt_g = optimizers["discriminator"], optimizers["generator"]
        real = to_tanh_range(batch)
        latent, cats, codes = self._draw(batch.shape[0], batch.device)
        fake = self.generator(latent)

        # 1. discriminator
        d_loss, real_logits, fake_logits = discriminator_step(self.discriminator, opt_d, real, fake)

        # 2. generator + Q head: fool D and make the codes recoverable
        opt_g.zero_grad(set_to_none=True)
        h_fake = self.body(fake)
        g_loss = generator_bce(self.d_head(h_fake).view(-1))
        info_cat, info_cont = self._info_terms(h_fake, cats, codes)
        (g_loss + cfg.lambda_cat * info_cat + cfg.lambda_cont * info_cont).backward()
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)

        info_cat = info_cat.detach()
        return {**bce_terms(d_loss.detach(), g_loss.detach(), real_logits.detach(), fake_logits.detach()),
                "info_cat": info_cat, "info_cont": info_cont.detach(), "mutual_info": self._mutual_info(info_cat)}
