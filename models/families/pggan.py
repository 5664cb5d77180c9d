"""Progressive GAN (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation"): G and D grow from 4x4 by doubling the side, each new block
faded in over a set number of images (the nets and the schedule: models/nets/progressive.py).

Sizes: the nets work at a power-of-two side ``S``: MNIST's and Fashion-MNIST's 28 px are
padded to 32 (real batches padded with black, generated images cropped back), a side that is
not a power of two and too far from the next one (48, 100) is resized to the largest power of
two below it, capped at ``max_resolution``. Everything outside the model (the sliders, the
sample grid, the classifier that scores samples) sees the dataset's own ``image_shape``.

Schedule (``images_per_stable``, ``images_per_fade``): 4x4 for a stable phase, then per level
a fade and a stable phase; the last level stays for the rest of the run. The progress is
G's ``images_seen`` buffer, so it is in every checkpoint (a resumed run goes on mid-fade)
and every timeline snapshot (a snapshot of G's weight average carries the average's copy),
and the stage is a pure function of it and the config. While fading, real images are
blended between the level's resolution and the one below it (upscaled) with the same
alpha as the nets, as the released code does, so D compares like with like.

Loss (the paper's, Section A.1): WGAN-GP, one critic step per G step,

    critic: D(fake) - D(real) + lambda * (||grad D(x_hat)|| - 1)^2 + eps_drift * D(real)^2
    G:      -D(G(z))

Adam(lr 1e-3, betas 0 and 0.99), and the optimizers' moments reset when a fade starts or
ends (the released code's ``reset_opt_for_new_lod``). Samples come from G's weight average
(decay 0.999, as in the paper). ``decode`` renders at the current stage, with its fade, and
upscales (nearest) to the full size, so previews and sliders show the run as it grows.

Terms: ``critic_loss`` (all of it), ``wasserstein`` (E[D(real)] - E[D(fake)]),
``gradient_penalty`` (unweighted), ``drift`` (E[D(real)^2], unweighted), ``g_loss``, and the
stage: ``resolution`` (the side G renders at) and ``fade`` (0..1; 1 when stable).

Not captured in a CUDA graph (``graph_capturable = False``): which blocks run and the fade
weight change with the images seen, and a graph replays one fixed path. Capture per level,
with alpha as a device tensor, would work but means a new capture at each level; the step
is eager, and it reads nothing back from the device (the progress is mirrored on the host).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.families.adversarial import (
    AdversarialModel,
    ema_field,
    from_tanh_range,
    to_tanh_range,
)
from models.families.base import ModelConfig
from models.nets.progressive import (
    ProgressiveDiscriminator,
    ProgressiveGenerator,
    Stage,
    level_channels,
    stage_at,
)


@dataclasses.dataclass
class PGGANConfig(ModelConfig):
    #: latent dimension (the paper: 512, its 4x4 channel count; 128 with the narrower nets here)
    z_dim: int = 128
    #: channels of level k (side 4 * 2**k) are fmap_base / 2**(k+1), capped at fmap_max (the
    #: paper: 8192 and 512; 1024 and 128 here, for MNIST-size data: 128 up to 16x16, 64 at 32x32)
    fmap_base: int = 1024
    #: the most channels any level has (the paper: 512)
    fmap_max: int = 128
    #: the largest side the nets grow to (a power of two; the paper went to 1024)
    max_resolution: int = 64
    #: training images per fade-in of a new level (the paper: 800k at 1024x1024 on CelebA-HQ;
    #: 120k, two passes over MNIST, here)
    images_per_fade: int = 120_000
    #: training images per stable phase, 4x4 first (the paper: 800k; 120k here)
    images_per_stable: int = 120_000
    #: group size of the minibatch standard deviation (the paper: 4)
    mbstd_group: int = 4
    #: gradient penalty weight lambda (the paper: 10)
    gp_lambda: float = 10.0
    #: weight of the drift term E[D(real)^2] that keeps the critic's scores near 0 (the paper: 0.001)
    eps_drift: float = 0.001
    #: reset both optimizers' moments when a fade starts or ends (the released code does)
    reset_optimizer: bool = True
    #: Adam learning rate of both nets (the paper: 1e-3)
    lr: float = 1e-3
    #: Adam beta1 (the paper: 0)
    beta1: float = 0.0
    #: Adam beta2 (the paper: 0.99)
    beta2: float = 0.99
    ema: float = ema_field()  # the paper's 0.999

    def default_batch_size(self) -> int:
        """The paper's minibatch of 16 up to 128x128."""
        return 16


def working_side(side: int, max_resolution: int) -> int:
    """The power-of-two side the nets work at for images of ``side``: the side itself when a
    power of two, the next one when padding adds at most a quarter (28 -> 32), else the one
    below (48 -> 32); never above ``max_resolution``."""
    if side < 4:
        raise ValueError(f"a progressive GAN needs images of at least 4x4, got {side}x{side}")
    down = 1 << (side.bit_length() - 1)
    up = down if down == side else down * 2
    target = up if up - side <= side // 4 else down
    return min(target, max_resolution)


#: the most images a run's progress may count (2**62: far past any schedule, far from overflow)
MAX_IMAGES_SEEN = 2**62


def _check_progress(module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    """Before a load_state_dict: a progress count that is not one whole number of images in
    0..2**62 (a tampered or foreign file: a float, NaN, negative, near overflow) is refused
    (RuntimeError, which the checkpoint and snapshot loaders word as their own error), rather
    than growing from a stage the count does not describe."""
    for key, value in state_dict.items():
        if not (key.startswith(prefix) and key.endswith("images_seen")):
            continue
        if not isinstance(value, torch.Tensor) or value.dtype != torch.int64 or value.numel() != 1:
            raise RuntimeError(f"{key} must be one int64 count of images, got "
                               f"{getattr(value, 'dtype', type(value).__name__)} {tuple(getattr(value, 'shape', ()))}")
        if not 0 <= int(value) <= MAX_IMAGES_SEEN:
            raise RuntimeError(f"{key} must count 0 to 2**62 images, got {int(value)}")


def _forget_progress(module: nn.Module, incompatible_keys: Any) -> None:
    """After a load_state_dict: the host copy of the progress is stale (read again lazily)."""
    module._seen = None


class PGGAN(AdversarialModel):
    family = "pggan"
    Config = PGGANConfig
    graph_capturable = False  # see the module docstring
    discriminator_name = "critic"

    def __init__(self, config: PGGANConfig) -> None:
        super().__init__(config)
        c, h, w = config.image_shape
        if h != w:
            raise ValueError(f"a progressive GAN needs square images, got {h}x{w}")
        r = config.max_resolution
        if r < 4 or r & (r - 1):
            raise ValueError(f"max_resolution must be a power of two >= 4, got {r}")
        if config.fmap_base < 1 or config.fmap_max < 1 or config.z_dim < 1 or config.mbstd_group < 1:
            raise ValueError("z_dim, fmap_base, fmap_max and mbstd_group must be >= 1")
        self.side = working_side(h, r)
        n_levels = self.side.bit_length() - 2  # 4 -> 1 level, 32 -> 4
        channels = level_channels(n_levels, config.fmap_base, config.fmap_max)
        self.generator = ProgressiveGenerator(config.z_dim, channels, c)
        self.discriminator = ProgressiveDiscriminator(channels, c, config.mbstd_group)
        self.track_generator_ema()
        # the progress as a host int, so choosing the step's path never reads the device;
        # None after a load (read once from the buffer, see images_seen)
        self._seen: int | None = 0
        self._phase: tuple[int, bool] | None = None  # the last step's (level, fading)
        self.register_load_state_dict_pre_hook(_check_progress)
        self.register_load_state_dict_post_hook(_forget_progress)

    # -- the stage ------------------------------------------------------------------------
    @property
    def n_levels(self) -> int:
        return self.generator.n_levels

    @property
    def images_seen(self) -> int:
        """Training images shown so far, as the generator that samples records it (after loading
        a timeline snapshot, which holds only that generator, its count is the one that counts)."""
        if self._seen is None:
            self._seen = int(self.sampling_generator.images_seen)
        return self._seen

    def stage(self) -> Stage:
        """The current level and fade (see :func:`models.nets.progressive.stage_at`)."""
        cfg = self.config
        return stage_at(self.images_seen, self.n_levels, cfg.images_per_fade, cfg.images_per_stable)

    def _advance(self, n: int) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            n *= torch.distributed.get_world_size()  # every rank's images count: the ranks stay on one schedule
        self._seen = self.images_seen + n
        self.generator.images_seen.add_(n)  # on the device, no sync; G's average copies it after the step

    # -- images in and out ----------------------------------------------------------------
    def _to_working(self, batch: torch.Tensor) -> torch.Tensor:
        """[0, 1] images of ``image_shape`` -> [-1, 1] at the working side (padded or resized)."""
        x = to_tanh_range(batch)
        s, S = x.shape[-1], self.side
        if S > s:
            a = (S - s) // 2
            x = F.pad(x, (a, S - s - a, a, S - s - a), value=-1.0)  # black, like MNIST's border
        elif S < s:
            x = F.interpolate(x, size=(S, S), mode="area")
        return x

    def _from_working(self, y: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images at the working side -> [0, 1] images of ``image_shape``."""
        s, S = self.config.image_shape[-1], self.side
        if S > s:
            a = (S - s) // 2
            y = y[..., a : a + s, a : a + s]
        elif S < s:
            y = F.interpolate(y, size=(s, s), mode="bilinear", align_corners=False)
        return from_tanh_range(y).clamp(0.0, 1.0)

    def real_images(self, batch: torch.Tensor, stage: Stage) -> torch.Tensor:
        """A real batch as D sees it at ``stage``: at the stage's resolution (box-filtered
        down), blended while fading with the level below upscaled, as G's output is."""
        x = self._to_working(batch)
        factor = self.side // stage.resolution
        if factor > 1:
            x = F.avg_pool2d(x, factor)
        if stage.fading:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = torch.lerp(low, x, stage.alpha)
        return x

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        stage = self.stage()
        y = self.sampling_generator(latent, stage.level, stage.alpha)
        factor = self.side // stage.resolution
        if factor > 1:
            y = F.interpolate(y, scale_factor=factor, mode="nearest")
        return self._from_working(y)

    # -- the loss -----------------------------------------------------------------------
    def _critic(self, x: torch.Tensor, stage: Stage) -> torch.Tensor:
        return self.discriminator(x, stage.level, stage.alpha)

    def _fakes(self, n: int, stage: Stage, device: torch.device) -> torch.Tensor:
        return self.generator(self.sample_latents(n, device=device), stage.level, stage.alpha)

    def critic_terms(self, real: torch.Tensor, fake: torch.Tensor, stage: Stage) -> dict[str, torch.Tensor]:
        """The critic's loss and its parts (attached): ``critic_loss`` = -wasserstein +
        gp_lambda * gradient_penalty + eps_drift * drift."""
        cfg = self.config
        d_real = self._critic(real, stage)
        d_fake = self._critic(fake, stage)
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        x_hat = torch.lerp(fake, real, eps).requires_grad_(True)
        (grad,) = torch.autograd.grad(self._critic(x_hat, stage).sum(), x_hat, create_graph=True)
        gp = (grad.flatten(1).pow(2).sum(1).add(1e-12).sqrt() - 1).pow(2).mean()
        drift = d_real.pow(2).mean()
        w = d_real.mean() - d_fake.mean()
        loss = -w + cfg.gp_lambda * gp + cfg.eps_drift * drift
        return {"critic_loss": loss, "wasserstein": w, "gradient_penalty": gp, "drift": drift, "d_fake": d_fake.mean()}

    def _stage_terms(self, stage: Stage, device: torch.device) -> dict[str, torch.Tensor]:
        # filled on the device (no host-to-device copy), like every other term
        return {"resolution": torch.full((), float(stage.resolution), device=device),
                "fade": torch.full((), float(stage.alpha), device=device)}

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms at the current stage, updating nothing."""
        stage = self.stage()
        real = self.real_images(batch, stage)
        with torch.no_grad():  # no graph through G: only the penalty's mixes need gradients
            fake = self._fakes(batch.shape[0], stage, batch.device)
        with torch.enable_grad():  # the penalty needs input gradients even under no_grad
            terms = self.critic_terms(real, fake, stage)
        d_fake = terms.pop("d_fake")
        return {**terms, "g_loss": -d_fake, **self._stage_terms(stage, batch.device)}

    def _reset_on_new_phase(self, stage: Stage, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        phase = (stage.level, stage.fading)
        if self.config.reset_optimizer and self._phase is not None and phase != self._phase:
            for opt in optimizers.values():
                opt.state.clear()  # Adam starts afresh: moments and step counts
        self._phase = phase

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        opt_c, opt_g = optimizers["critic"], optimizers["generator"]
        stage = self.stage()
        self._reset_on_new_phase(stage, optimizers)
        n, device = batch.shape[0], batch.device
        real = self.real_images(batch, stage)

        # 1. critic
        with torch.no_grad():
            fake = self._fakes(n, stage, device)
        opt_c.zero_grad(set_to_none=True)
        terms = self.critic_terms(real, fake, stage)
        terms["critic_loss"].backward()
        opt_c.step()

        # 2. generator, against the updated critic
        opt_g.zero_grad(set_to_none=True)
        g_loss = -self._critic(self._fakes(n, stage, device), stage).mean()
        g_loss.backward()
        opt_g.step()
        opt_c.zero_grad(set_to_none=True)  # drop what G's backward left on the critic

        self._advance(n)
        out = {k: v.detach() for k, v in terms.items() if k != "d_fake"}
        out["g_loss"] = g_loss.detach()
        return {**out, **self._stage_terms(stage, device)}
