"""WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").

A DCGAN-style generator (transposed convs + batch norm, tanh output, see models/families/adversarial.py for
the [-1, 1] convention) and a conv critic *without* batch norm (layer norm by default, as
the paper recommends, or none as in its MNIST code). Per generator step the critic is
updated ``n_critic`` times on

    D(fake) - D(real) + lambda * (||grad_x D(x_hat)||_2 - 1)^2,   x_hat = eps*real + (1-eps)*fake

and the generator then minimises ``-D(G(z))``.

Critic batches: the training loop hands one batch per step, so the incoming batch is
**split into n_critic equal chunks**, one per critic iteration (each with fresh fakes);
every critic update therefore sees different real images, as in the paper. The chunk
size is ``batch_size // n_critic``: to match the paper's 64 images per critic update use
``batch_size = 64 * n_critic`` (320). A batch smaller than n_critic is reused whole for
each iteration. The generator step uses one chunk's worth of fresh noise.

Reported terms (means over the critic iterations of the step):
``critic_loss`` (including the penalty), ``gradient_penalty`` (the unweighted mean of
(||grad|| - 1)^2, always >= 0), ``wasserstein`` (E[D(real)] - E[D(fake)], the critic's
estimate of the Wasserstein-1 distance; ~0 at init, grows as the critic learns) and
``g_loss``.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from models.families.adversarial import AdversarialModel, ema_field, to_tanh_range
from models.families.dcgan import DCGANNetsConfig, dcgan_nets
from models.nets.adversarial import dcgan_init


@dataclasses.dataclass
class WGANGPConfig(DCGANNetsConfig):
    #: noise dimension (the paper's released code: 128)
    z_dim: int = 128
    #: "auto": "dense" for images up to 32 px, "conv" above. "dense": the DCGAN authors'
    #: MNIST net (fc layers around two stride-2 convs; see models/families/dcgan.py) with the critic
    #: normalised by ``critic_norm``; "conv": DCGAN's all-conv nets
    arch: str = "auto"
    #: width of the dense layers of the "dense" arch
    fc_hidden: int = 1024
    #: generator channels at full resolution, doubled at each halving (DCGAN-like)
    g_channels: int = 64
    #: critic channels after the first conv, doubled at each halving
    d_channels: int = 64
    #: critic normalisation: "layer" (paper's recommendation) or "none" (never batch norm)
    critic_norm: str = "layer"
    #: critic iterations per generator iteration (paper: 5)
    n_critic: int = 5
    #: gradient penalty coefficient lambda (paper: 10)
    gp_lambda: float = 10.0
    #: Adam learning rate (paper: 1e-4)
    lr: float = 1e-4
    #: Adam beta1 / beta2 (paper, Algorithm 1: 0 and 0.9)
    beta1: float = 0.0
    beta2: float = 0.9
    #: Adam learning rate of G; 0 = lr
    g_lr: float = 0.0
    ema: float = ema_field()

    def default_batch_size(self) -> int:
        """The paper's 64 real images per critic update: the step's batch is split into
        n_critic chunks (see the module docstring)."""
        return 64 * self.n_critic


class WGANGP(AdversarialModel):
    family = "wgan-gp"
    Config = WGANGPConfig

    def __init__(self, config: WGANGPConfig) -> None:
        super().__init__(config)
        if config.critic_norm == "batch":
            raise ValueError("WGAN-GP's critic must not use batch norm (the penalty is per sample): use 'layer' or 'none'")
        if config.n_critic < 1:
            raise ValueError("n_critic must be >= 1")
        self.generator, self.discriminator = dcgan_nets(config, d_norm=config.critic_norm)
        dcgan_init(self)
        for m in self.discriminator.modules():  # layer norm starts as identity
            if isinstance(m, (nn.GroupNorm, nn.LayerNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.track_generator_ema()

    discriminator_name = "critic"

    def generator_lr(self) -> float:
        return self.config.g_lr or self.config.lr

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of (||grad_x D(x_hat)|| - 1)^2 on random interpolates; differentiable."""
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = self.discriminator(x_hat)
        (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).pow(2).sum(1).add(1e-12).sqrt()
        return (norm - 1).pow(2).mean()

    def _critic_chunks(self, real: torch.Tensor) -> list[torch.Tensor]:
        n = self.config.n_critic
        size = real.shape[0] // n
        if size == 0:
            return [real] * n
        return list(real[: size * n].split(size))

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        real = to_tanh_range(batch)
        with torch.enable_grad():  # the penalty needs input gradients even under no_grad
            fake = self.generator(self.sample_latents(batch.shape[0], device=batch.device))
            d_real, d_fake = self.discriminator(real).mean(), self.discriminator(fake).mean()
            gp = self.gradient_penalty(real, fake.detach())
        w = d_real - d_fake
        return {"critic_loss": -w + self.config.gp_lambda * gp, "g_loss": -d_fake, "gradient_penalty": gp, "wasserstein": w}

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        opt_c, opt_g = optimizers["critic"], optimizers["generator"]
        cfg = self.config
        chunks = self._critic_chunks(to_tanh_range(batch))
        m = chunks[0].shape[0]
        sums = {"critic_loss": 0.0, "gradient_penalty": 0.0, "wasserstein": 0.0}
        for real in chunks:
            with torch.no_grad():
                fake = self.generator(self.sample_latents(m, device=batch.device))
            opt_c.zero_grad(set_to_none=True)
            w = self.discriminator(real).mean() - self.discriminator(fake).mean()
            gp = self.gradient_penalty(real, fake)
            critic_loss = -w + cfg.gp_lambda * gp
            critic_loss.backward()
            opt_c.step()
            sums["critic_loss"] = sums["critic_loss"] + critic_loss.detach()
            sums["gradient_penalty"] = sums["gradient_penalty"] + gp.detach()
            sums["wasserstein"] = sums["wasserstein"] + w.detach()

        opt_g.zero_grad(set_to_none=True)
        g_loss = -self.discriminator(self.generator(self.sample_latents(m, device=batch.device))).mean()
        g_loss.backward()
        opt_g.step()
        opt_c.zero_grad(set_to_none=True)

        n = len(chunks)
        out = {k: v / n for k, v in sums.items()}
        out["g_loss"] = g_loss.detach()
        return out
