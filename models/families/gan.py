"""GAN (Goodfellow et al. 2014) with MLPs, and DCGAN (Radford et al. 2016).

Image range convention shared by every GAN family here (gan, dcgan, wgan-gp, infogan):
the generator ends in ``tanh`` (images in [-1, 1]); the discriminator / critic only ever
sees images in [-1, 1] (real data is mapped with ``2x - 1``); ``decode()`` returns
``(G(z) + 1) / 2`` in [0, 1] like every other family.

Training (one call of ``training_step`` per batch, two Adam optimizers):

1. discriminator: ``-log D(x) - log(1 - D(G(z)))`` (BCE on logits, real and fake summed);
2. generator: the non-saturating loss ``-log D(G(z))`` on the same fakes.

Reported terms: ``d_loss``, ``g_loss``, ``d_real`` (mean D(x) as a probability) and
``d_fake`` (mean D(G(z)) before the generator update). GANs have no held-out loss, so
``validation_terms`` is empty and the best checkpoint is never chosen by score.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from models.families.base import LatentModel, ModelConfig, adam
from models.latent import LatentSpec
from models.nets.autoencoder import _n_down


# ---------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------
def to_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> [-1, 1] (what discriminators see)."""
    return x * 2 - 1


def from_tanh_range(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1] (what ``decode`` returns)."""
    return (x + 1) * 0.5


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv/linear weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def conv_plan(image_shape: tuple[int, int, int], base: int) -> tuple[int, int, list[int]]:
    """(n stride-2 stages, side of the smallest feature map, channels per stage from the
    image side: base, 2*base, 4*base, ...). 28 -> 2 stages down to 7; 64 -> 4 stages to 4."""
    c, h, w = image_shape
    if h != w:
        raise ValueError(f"GAN families need square images, got {h}x{w}")
    n = _n_down(h)
    if n == 0:
        raise ValueError(f"image side {h} cannot be halved down to 7 or 4")
    return n, h // 2**n, [base * 2**i for i in range(n)]


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


class ConvGenerator(nn.Module):
    """DCGAN generator: z -> ConvTranspose(side x side) -> [ConvT 4/2/1 + BN + ReLU]* -> ConvT -> tanh.

    28x28: 7 -> 14 -> 28 (128, 64 channels); 64x64: 4 -> 8 -> 16 -> 32 -> 64 (512..64 channels).
    """

    def __init__(self, image_shape: tuple[int, int, int], in_dim: int, base: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        n, side, chans = conv_plan(image_shape, base)
        norm = (lambda ch: nn.BatchNorm2d(ch)) if batch_norm else (lambda ch: nn.Identity())
        self.in_dim = in_dim
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, chans[-1], side, 1, 0, bias=False), norm(chans[-1]), nn.ReLU(True)]
        for i in reversed(range(1, n)):
            layers += [nn.ConvTranspose2d(chans[i], chans[i - 1], 4, 2, 1, bias=False), norm(chans[i - 1]), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[0], image_shape[0], 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, C, H, W) in [-1, 1]
        return self.net(z.view(z.shape[0], self.in_dim, 1, 1))


class ConvDiscriminator(nn.Module):
    """DCGAN discriminator: Conv 4/2/1 + LeakyReLU(0.2) (no norm on the first layer), then
    [Conv 4/2/1 + norm + LeakyReLU]*, then a side x side conv to one logit.

    ``norm``: "batch" (DCGAN), "layer" (WGAN-GP's recommendation: LayerNorm over C, H, W,
    as GroupNorm with one group) or "none".
    """

    def __init__(self, image_shape: tuple[int, int, int], base: int = 64, norm: str = "batch") -> None:
        super().__init__()
        n, side, chans = conv_plan(image_shape, base)

        make_norm(norm, 1)  # validate the name before building anything
        bias = norm == "none"
        layers: list[nn.Module] = [nn.Conv2d(image_shape[0], chans[0], 4, 2, 1, bias=bias), nn.LeakyReLU(0.2, True)]
        for i in range(1, n):
            layers += [nn.Conv2d(chans[i - 1], chans[i], 4, 2, 1, bias=bias), make_norm(norm, chans[i]), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(chans[-1], 1, side, 1, 0, bias=bias), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [-1, 1] -> logits (B,)
        return self.net(x).view(-1)


NORMS = ("batch", "layer", "none")


def make_norm(norm: str, width: int, spatial: bool = True) -> nn.Module:
    """"batch" (DCGAN), "layer" (WGAN-GP's recommendation for critics: LayerNorm over all
    features; over C, H, W for feature maps, as GroupNorm with one group) or "none"."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}: use 'batch', 'layer' or 'none'")
    if norm == "none":
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm2d(width) if spatial else nn.BatchNorm1d(width)
    return nn.GroupNorm(1, width) if spatial else nn.LayerNorm(width)


class DenseConvGenerator(nn.Module):
    """The small-image generator of the DCGAN authors' MNIST code (Newmu/dcgan_code,
    mnist/) and of InfoGAN: fc ``fc_hidden`` + BN + ReLU -> fc (top channels x side x side)
    + BN + ReLU -> [ConvT 4/2/1 + BN + ReLU]* -> ConvT 4/2/1 -> tanh.

    28x28: 1024 -> 128 x 7 x 7 -> 64 x 14 x 14 -> 1 x 28 x 28. The dense entry gives every
    output pixel a path to every noise dimension from the first layer on, which is what
    makes 28x28 digits come out whole within a few epochs (the all-conv projection of
    ``ConvGenerator`` trains much slower there).
    """

    def __init__(self, image_shape: tuple[int, int, int], in_dim: int, fc_hidden: int = 1024, base: int = 64) -> None:
        super().__init__()
        n, side, chans = conv_plan(image_shape, base)
        self.top, self.side = chans[-1], side
        self.fc = nn.Sequential(
            nn.Linear(in_dim, fc_hidden, bias=False), nn.BatchNorm1d(fc_hidden), nn.ReLU(True),
            nn.Linear(fc_hidden, chans[-1] * side * side, bias=False), nn.BatchNorm1d(chans[-1] * side * side), nn.ReLU(True),
        )
        layers: list[nn.Module] = []
        for i in reversed(range(1, n)):
            layers += [nn.ConvTranspose2d(chans[i], chans[i - 1], 4, 2, 1, bias=False), nn.BatchNorm2d(chans[i - 1]), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[0], image_shape[0], 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, C, H, W) in [-1, 1]
        return self.net(self.fc(latent).view(-1, self.top, self.side, self.side))


class DenseConvTrunk(nn.Module):
    """The matching discriminator body: Conv 4/2/1 + lReLU (no norm on the first layer) ->
    [Conv 4/2/1 + norm + lReLU]* -> fc ``fc_hidden`` + norm + lReLU. InfoGAN shares it
    between its D and Q heads; ``DenseConvDiscriminator`` puts one logit on top."""

    def __init__(self, image_shape: tuple[int, int, int], fc_hidden: int = 1024, base: int = 64, norm: str = "batch",
                 slope: float = 0.2) -> None:
        super().__init__()
        n, side, chans = conv_plan(image_shape, base)
        bias = norm == "none"
        layers: list[nn.Module] = [nn.Conv2d(image_shape[0], chans[0], 4, 2, 1), nn.LeakyReLU(slope, True)]
        for i in range(1, n):
            layers += [nn.Conv2d(chans[i - 1], chans[i], 4, 2, 1, bias=bias), make_norm(norm, chans[i]), nn.LeakyReLU(slope, True)]
        layers += [nn.Flatten(), nn.Linear(chans[-1] * side * side, fc_hidden, bias=bias), make_norm(norm, fc_hidden, spatial=False),
                   nn.LeakyReLU(slope, True)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [-1, 1] images -> (B, fc_hidden)
        return self.net(x)


class DenseConvDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], fc_hidden: int = 1024, base: int = 64, norm: str = "batch",
                 slope: float = 0.2) -> None:
        super().__init__()
        self.trunk = DenseConvTrunk(image_shape, fc_hidden, base, norm, slope)
        self.head = nn.Linear(fc_hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [-1, 1] -> logits (B,)
        return self.head(self.trunk(x)).view(-1)


class MLPGenerator(nn.Module):
    """Dense layers, each but the first followed by batch norm when ``batch_norm``; ReLU
    (``slope`` 0) or LeakyReLU; tanh output. Batch norm uses eps 0.8, as the widely used
    PyTorch-GAN MLP generator does (it damps the normalisation of small-variance units)."""

    def __init__(self, image_shape: tuple[int, int, int], in_dim: int, hidden: tuple[int, ...],
                 batch_norm: bool = False, slope: float = 0.0) -> None:
        super().__init__()
        self.image_shape = image_shape
        layers, d = [], in_dim
        for i, h in enumerate(hidden):
            layers.append(nn.Linear(d, h))
            if batch_norm and i > 0:
                layers.append(nn.BatchNorm1d(h, eps=0.8))
            layers.append(nn.LeakyReLU(slope, True) if slope > 0 else nn.ReLU(True))
            d = h
        layers += [nn.Linear(d, math.prod(image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.LeakyReLU(0.2, True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # -> logits (B,)
        return self.net(x).view(-1)


def ema_ramp_decay(decay: float, n_updates: torch.Tensor) -> torch.Tensor:
    """The decay of update ``n_updates + 1``: min(decay, (1 + n) / (10 + n)), TensorFlow's
    ExponentialMovingAverage ramp. The average's memory grows with the run (a half-life of
    ~8 % of the steps so far) up to ``decay``'s, so a short run's samples follow G instead
    of being dragged back to the random initial weights."""
    n = n_updates.to(torch.float32)
    return torch.clamp((1 + n) / (10 + n), max=decay)


def ema_update(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """An ``AveragedModel`` multi_avg_fn: avg <- d * avg + (1 - d) * current with the ramped
    decay d (computed on the device: no host sync per step); integer buffers (batch norm's
    step counters) are copied."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        weight = 1 - ema_ramp_decay(decay, n_averaged)
        for avg, cur in zip(averaged, current):
            if avg.is_floating_point():
                avg.lerp_(cur, weight.to(avg.dtype))
            else:
                avg.copy_(cur)

    return update


# ---------------------------------------------------------------------------------------
# the shared adversarial model
# ---------------------------------------------------------------------------------------
class AdversarialModel(LatentModel):
    """Generator ``self.generator`` (latent -> [-1, 1] images) and ``self.discriminator``
    ([-1, 1] images -> logits). Subclasses build the two nets and may change the step."""

    graph_capturable = False  # two optimizers: the training loop runs the step eagerly

    generator: nn.Module
    discriminator: nn.Module
    #: the exponential moving average of G's weights (None when the config's ``ema`` is 0)
    generator_ema: AveragedModel | None

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
        gives cleaner samples at no training cost."""
        decay = float(self.config.ema)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema must be in [0, 1): got {decay}")
        if decay > 0:
            self.generator_ema = AveragedModel(self.generator, multi_avg_fn=ema_update(decay), use_buffers=True)
            self.generator_ema.requires_grad_(False)

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
            self.generator_ema.update_parameters(self.generator)

    @property
    def sampling_generator(self) -> nn.Module:
        """The net that makes images for users: the weight average when tracked, else G."""
        return self.generator if self.generator_ema is None else self.generator_ema.module

    @property
    def latent_spec(self) -> LatentSpec:
        return LatentSpec(z_dim=self.config.z_dim, z_range=(-3.0, 3.0), prior="normal", has_encoder=False)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return from_tanh_range(self.sampling_generator(latent))

    def sample_latent(self, n: int, device: torch.device) -> torch.Tensor:
        """Training-time latents from the prior, drawn on the device (no host sync)."""
        return self.latent_spec.sample(n, device=device)

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
        fake = self.generator(self.sample_latent(batch.shape[0], batch.device))
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        d_loss, g_loss = discriminator_bce(real_logits, fake_logits), generator_bce(fake_logits)
        return {"d_loss": d_loss, "g_loss": g_loss, "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean()}

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        opt_d, opt_g = optimizers["discriminator"], optimizers["generator"]
        real = to_tanh_range(batch)
        fake = self.generator(self.sample_latent(batch.shape[0], batch.device))

        # 1. discriminator: real -> 1, fake -> 0
        d_loss, real_logits, fake_logits = discriminator_step(self.discriminator, opt_d, real, fake)

        # 2. generator: non-saturating -log D(G(z)) against the updated discriminator
        g_loss = generator_step(self.discriminator, opt_g, fake, opt_d)

        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }

    @torch.no_grad()
    def validation_terms(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}


# ---------------------------------------------------------------------------------------
# the two families
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class GANConfig(ModelConfig):
    #: what checkpoints from before these fields existed were built with (plain ReLU G, no
    #: weight average)
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"ema": 0.0, "g_batch_norm": False, "g_slope": 0.0}
    #: noise dimension (the common MLP-GAN setup: 100)
    z_dim: int = 100
    #: generator hidden widths, output layer tanh (the PyTorch-GAN MLP recipe)
    g_hidden: tuple[int, ...] = (128, 256, 512, 1024)
    #: batch norm after each generator hidden layer but the first. Without it (and with ReLU,
    #: D 1024-512-256 with dropout 0.3) D won outright on MNIST: all samples one blurry digit,
    #: inception score 1.05 after the default 10 epochs
    g_batch_norm: bool = True
    #: LeakyReLU slope of the generator's hidden layers (0: plain ReLU)
    g_slope: float = 0.2
    #: discriminator hidden widths (LeakyReLU 0.2)
    d_hidden: tuple[int, ...] = (512, 256)
    #: dropout after each discriminator hidden layer (Goodfellow et al. used dropout in D; 0 = off)
    dropout: float = 0.0
    #: Adam learning rate for both nets (Radford et al.'s setting, standard for MLP GANs too)
    lr: float = 2e-4
    #: Adam beta1 / beta2
    beta1: float = 0.5
    beta2: float = 0.999
    #: decay of the moving average of G's weights that samples and the explorer use
    #: (0 = off: sample from G itself; 0.999: about the last 1,000 steps, ramped up over the
    #: run). Not in the paper; it gives cleaner samples at no training cost
    ema: float = 0.999


class GAN(AdversarialModel):
    family = "gan"
    Config = GANConfig

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config)
        self.generator = MLPGenerator(config.image_shape, config.z_dim, tuple(config.g_hidden), config.g_batch_norm, config.g_slope)
        self.discriminator = MLPDiscriminator(math.prod(config.image_shape), tuple(config.d_hidden), config.dropout)
        self.track_generator_ema()


def resolve_arch(arch: str, image_shape: tuple[int, int, int]) -> str:
    """"auto" -> "dense" for images up to 32 px (MNIST-size), "conv" above."""
    if arch == "auto":
        return "dense" if image_shape[-1] <= 32 else "conv"
    if arch not in ("dense", "conv"):
        raise ValueError(f"unknown arch {arch!r}: use 'auto', 'dense' or 'conv'")
    return arch


@dataclasses.dataclass
class DCGANConfig(ModelConfig):
    #: checkpoints from before ``arch`` existed hold the all-conv nets
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"arch": "conv", "ema": 0.0}
    #: noise dimension (Radford et al.: 100)
    z_dim: int = 100
    #: "auto": "dense" for images up to 32 px, "conv" above. "conv" is the paper's all-conv
    #: net (a 1x1 -> side x side transposed conv, then stride-2 ConvT / conv stacks with batch
    #: norm); "dense" is what the DCGAN authors ran on MNIST (Newmu/dcgan_code, mnist/):
    #: fc 1024 layers around the two stride-2 convs, in G and D alike
    arch: str = "auto"
    #: generator channels at full resolution (ngf); doubled at each halving of the side
    g_channels: int = 64
    #: discriminator channels after the first conv (ndf); doubled at each halving
    d_channels: int = 64
    #: width of the dense layers of the "dense" arch (Newmu/dcgan_code: 1024)
    fc_hidden: int = 1024
    #: Adam learning rate of D (Radford et al.: 2e-4)
    lr: float = 2e-4
    #: Adam learning rate of G; 0 = the arch's default: 1e-3 for "dense" (the setting the
    #: InfoGAN paper uses with this net: G at 5x D's rate keeps D from running away on
    #: MNIST), lr for "conv" (Radford et al.)
    g_lr: float = 0.0
    #: Adam beta1 (Radford et al.: 0.5) / beta2
    beta1: float = 0.5
    beta2: float = 0.999
    #: decay of the moving average of G's weights that samples and the explorer use
    #: (0 = off: sample from G itself; 0.999: about the last 1,000 steps, ramped up over the
    #: run). Not in the paper; it gives cleaner samples at no training cost
    ema: float = 0.999

    def resolved_arch(self) -> str:
        return resolve_arch(self.arch, self.image_shape)


class DCGAN(AdversarialModel):
    family = "dcgan"
    Config = DCGANConfig

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config)
        if config.resolved_arch() == "dense":
            self.generator = DenseConvGenerator(config.image_shape, config.z_dim, config.fc_hidden, config.g_channels)
            self.discriminator = DenseConvDiscriminator(config.image_shape, config.fc_hidden, config.d_channels, norm="batch")
        else:
            self.generator = ConvGenerator(config.image_shape, config.z_dim, config.g_channels, batch_norm=True)
            self.discriminator = ConvDiscriminator(config.image_shape, config.d_channels, norm="batch")
        dcgan_init(self)
        self.track_generator_ema()

    def generator_lr(self) -> float:
        cfg = self.config
        if cfg.g_lr > 0:
            return cfg.g_lr
        return 1e-3 if cfg.resolved_arch() == "dense" else cfg.lr
