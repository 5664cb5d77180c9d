"""The growing generator and discriminator of the progressive GAN (Karras et al. 2018,
"Progressive Growing of GANs for Improved Quality, Stability, and Variation").

Both nets hold every resolution's block from the start; ``level`` says how many are used
(level 0: 4x4, level k: 4 * 2**k), and ``alpha`` in [0, 1] fades the newest one in:

* G: ``lerp(upsample(to_rgb[k-1](h[k-1])), to_rgb[k](block[k](h[k-1])), alpha)``;
* D: ``lerp(from_rgb[k-1](avgpool(x)), block[k](from_rgb[k](x)), alpha)``, then down to 4x4.

So at alpha 0 a new level computes exactly what the level before it did (its output
upscaled), and the nets change smoothly as alpha rises. Blocks not yet in use get no
gradient (Adam skips them), so they start training from their initial weights.

The paper's three stabilisers, all here:

* **equalized learning rate** (:class:`EqualizedConv2d`, :class:`EqualizedLinear`): weights
  are drawn from N(0, 1) and multiplied at every forward by He's constant
  ``gain / sqrt(fan_in)``, so Adam's per-parameter step size is the same relative change for
  every layer whatever its fan-in;
* **pixel norm** (:func:`pixel_norm`) after every conv of G (and on the latent), the feature
  vector at each pixel scaled to unit mean square, in place of batch norm;
* **minibatch standard deviation** (:func:`minibatch_stddev`) before D's last block: one more
  channel holding the average spread of the features within groups of 4 images, so D can
  see a batch that lacks variety.

:func:`stage_at` is the schedule: images seen -> (level, alpha).
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

#: LeakyReLU slope of both nets (the paper: 0.2)
SLOPE = 0.2


# ---------------------------------------------------------------------------------------
# the schedule
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Stage:
    """Where growing stands: ``level`` (0: 4x4) and how far its block has faded in."""

    level: int
    #: 1.0 once the level's block is fully in (its stable phase)
    alpha: float

    @property
    def resolution(self) -> int:
        return 4 * 2**self.level

    @property
    def fading(self) -> bool:
        return self.alpha < 1.0

    def describe(self) -> str:
        """"16x16, fading in 43 %" or "32x32": what the window and the CLI show."""
        return stage_text(self.resolution, self.alpha)


def stage_text(resolution: float, fade: float) -> str:
    """"16x16, fading in 43 %" (or "16x16" once stable) from a resolution and a fade in [0, 1]
    (logged means of a few steps may straddle a boundary: the nearest power of two is named)."""
    side = 2 ** round(math.log2(max(float(resolution), 1.0)))
    text = f"{side}x{side}"
    if fade < 1.0:
        text += f", fading in {math.floor(100 * max(float(fade), 0.0)):d} %"
    return text


def stage_at(images_seen: int, n_levels: int, images_per_fade: int, images_per_stable: int) -> Stage:
    """The stage after ``images_seen`` training images: ``images_per_stable`` at 4x4, then per
    level a fade (alpha rising linearly from 0) of ``images_per_fade`` and a stable phase of
    ``images_per_stable``; the last level stays, stable, for the rest of the run."""
    if n_levels < 1 or images_per_fade < 0 or images_per_stable < 0:
        raise ValueError("a schedule needs at least one level and phases of >= 0 images")
    seen = max(0, int(images_seen))
    if seen < images_per_stable:
        return Stage(0, 1.0)
    seen -= images_per_stable
    period = images_per_fade + images_per_stable
    if period == 0:  # no phases at all: the full resolution at once
        return Stage(n_levels - 1, 1.0)
    level = 1 + seen // period
    if level >= n_levels:
        return Stage(n_levels - 1, 1.0)
    into = seen - (level - 1) * period
    if into < images_per_fade:
        return Stage(level, into / images_per_fade)
    return Stage(level, 1.0)


def level_channels(n_levels: int, fmap_base: int, fmap_max: int) -> list[int]:
    """Channels of each level's features, the released code's ``nf``: ``fmap_base / 2**(k+1)``
    capped at ``fmap_max`` (the paper: 8192 and 512, so 512 up to 32x32 and halving above)."""
    return [max(1, min(fmap_base // 2 ** (k + 1), fmap_max)) for k in range(n_levels)]


# ---------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------
class EqualizedConv2d(nn.Module):
    """A conv whose weight is stored as N(0, 1) draws and scaled by ``gain / sqrt(fan_in)``
    at every forward (the equalized learning rate); "same" padding, bias from zero."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, gain: float = math.sqrt(2), padding: int | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2 if padding is None else padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """A dense layer with the equalized learning rate (see :class:`EqualizedConv2d`)."""

    def __init__(self, in_dim: int, out_dim: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale = gain / math.sqrt(in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each pixel's feature vector (dim 1) scaled to unit mean square."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + 1, H, W): the added channel holds, for each group of images,
    the standard deviation of every feature over the group averaged over features and pixels.
    Groups are the largest size <= ``group_size`` that divides the batch (the released code
    requires divisibility; this keeps odd batches working)."""
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, b) + 1) if b % d == 0)
    y = x.reshape(g, b // g, c, h, w)  # image i is in group i % (b // g)
    y = (y - y.mean(dim=0)).pow(2).mean(dim=0).add(1e-8).sqrt()  # (M, C, H, W)
    y = y.mean(dim=(1, 2, 3)).reshape(1, b // g, 1, 1, 1).expand(g, -1, 1, h, w).reshape(b, 1, h, w)
    return torch.cat([x, y], dim=1)


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, SLOPE)


# ---------------------------------------------------------------------------------------
# the nets
# ---------------------------------------------------------------------------------------
class ProgressiveGenerator(nn.Module):
    """z -> images in about [-1, 1] (a linear to_rgb, as in the paper: no tanh) at the
    resolution of ``level``. ``images_seen`` (an int64 buffer) is the training progress: it
    lives here so every copy of G (its weight average, a timeline snapshot) carries its stage."""

    images_seen: torch.Tensor

    def __init__(self, z_dim: int, channels: list[int], out_channels: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        c0 = channels[0]
        # the 4x4 block: a dense layer to 4x4 features (the released code's gain sqrt(2)/4), a 3x3 conv
        self.entry = EqualizedLinear(z_dim, c0 * 16, gain=math.sqrt(2) / 4)
        self.entry_conv = EqualizedConv2d(c0, c0, 3)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(channels[k - 1], channels[k], 3), EqualizedConv2d(channels[k], channels[k], 3)])
            for k in range(1, len(channels))
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, out_channels, 1, gain=1.0) for c in channels)
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.long))

    @property
    def n_levels(self) -> int:
        return len(self.to_rgb)

    def forward(self, z: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
        # (B, z_dim) -> (B, out_channels, 4 * 2**level, 4 * 2**level)
        h = _act(self.entry(pixel_norm(z))).view(z.shape[0], -1, 4, 4)
        h = pixel_norm(_act(self.entry_conv(pixel_norm(h))))
        prev = h
        for conv1, conv2 in self.blocks[:level]:
            prev = h
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = pixel_norm(_act(conv2(pixel_norm(_act(conv1(h))))))
        out = self.to_rgb[level](h)
        if level > 0 and alpha < 1.0:
            old = F.interpolate(self.to_rgb[level - 1](prev), scale_factor=2, mode="nearest")
            out = torch.lerp(old, out, alpha)
        return out


class ProgressiveDiscriminator(nn.Module):
    """Images in [-1, 1] at the resolution of ``level`` -> one score per image (a critic:
    no sigmoid)."""

    def __init__(self, channels: list[int], in_channels: int, mbstd_group: int = 4) -> None:
        super().__init__()
        self.mbstd_group = mbstd_group
        self.from_rgb = nn.ModuleList(EqualizedConv2d(in_channels, c, 1) for c in channels)
        # block k: 3x3 conv at level k's width, 3x3 conv down to level k-1's, 2x average pool
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(channels[k], channels[k], 3), EqualizedConv2d(channels[k], channels[k - 1], 3)])
            for k in range(1, len(channels))
        )
        c0 = channels[0]
        self.final_conv = EqualizedConv2d(c0 + 1, c0, 3)
        self.final_dense = EqualizedConv2d(c0, c0, 4, padding=0)  # 4x4 -> 1x1: a dense layer on the features
        self.out = EqualizedLinear(c0, 1, gain=1.0)

    def _block(self, k: int, h: torch.Tensor) -> torch.Tensor:
        conv1, conv2 = self.blocks[k - 1]
        return F.avg_pool2d(_act(conv2(_act(conv1(h)))), 2)

    def forward(self, x: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
        # (B, C, R, R), R = 4 * 2**level -> (B,)
        h = _act(self.from_rgb[level](x))
        if level > 0:
            h = self._block(level, h)
            if alpha < 1.0:
                old = _act(self.from_rgb[level - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(old, h, alpha)
        for k in range(level - 1, 0, -1):
            h = self._block(k, h)
        h = minibatch_stddev(h, self.mbstd_group)
        h = _act(self.final_dense(_act(self.final_conv(h))))
        return self.out(h.flatten(1)).view(-1)
