"""Encoder and decoder bodies shared by the families (MLP and conv, 28x28 or 64x64): the
conv net's width and its residual blocks at the lowest resolution are the config's
``conv_channels`` and ``res_blocks``."""
from __future__ import annotations

import math

import torch
from torch import nn


def downsampling_stages(size: int) -> int:
    """How many stride-2 convs take ``size`` down to 7 (28x28) or 4 (64x64)."""
    n = 0
    while size > 7 and size % 2 == 0:
        size //= 2
        n += 1
    return n


def conv_channels(size: int, channels: int) -> list[int]:
    """Channels after each stride-2 stage of :class:`ConvEncoder` (and before each of its
    mirror, :class:`ConvDecoder`): up to 32 px ``channels`` then ``2 * channels``; larger
    images double them every second stage."""
    return [channels * (2 ** min(i, 1)) if size <= 32 else channels * (2 ** (i // 2)) for i in range(downsampling_stages(size))]


def _dense_stack(width: int, layers: int) -> list[nn.Module]:
    """``layers - 1`` more ``width``-wide ReLU layers after the first (appended, so a
    one-layer net keeps the parameter names it always had)."""
    out: list[nn.Module] = []
    for _ in range(layers - 1):
        out += [nn.Linear(width, width), nn.ReLU()]
    return out


class MLPEncoder(nn.Module):
    """``layers`` dense ReLU layers of ``hidden`` units (the classic example has one)."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int, out_dim: int, layers: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), hidden), nn.ReLU(),
                                 *_dense_stack(hidden, layers))
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, hidden)
        return self.net(x)


class MLPDecoder(nn.Module):
    """The mirror of :class:`MLPEncoder`: ``layers`` dense ReLU layers, then the pixels' logits."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int, in_dim: int, layers: int = 1) -> None:
        super().__init__()
        self.image_shape = image_shape
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), *_dense_stack(hidden, layers),
                                 nn.Linear(hidden, math.prod(image_shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> logits (B, C, H, W)
        return self.net(z).view(-1, *self.image_shape)


class ResidualBlock(nn.Module):
    """``relu(x + conv3x3(relu(conv3x3(x))))`` at one resolution: depth without a harder
    optimisation, as the identity path carries the signal and its gradient past the convs."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ConvEncoder(nn.Module):
    """Stride-2 4x4 convs down to 7x7 or 4x4, ``res_blocks`` :class:`ResidualBlock` s
    there, then a dense layer of ``hidden`` units."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int = 256, channels: int = 32,
                 res_blocks: int = 0) -> None:
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = []
        ch = c
        for out in conv_channels(h, channels):
            layers += [nn.Conv2d(ch, out, 4, 2, 1), nn.ReLU()]
            ch = out
        # at the lowest resolution only: a 3x3 conv there costs a quarter of one a stage up
        layers += [ResidualBlock(ch) for _ in range(res_blocks)]
        side = h // (2 ** downsampling_stages(h))
        layers += [nn.Flatten(), nn.Linear(ch * side * side, hidden), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: dense, ``res_blocks`` residual blocks at the
    lowest resolution, then a stride-2 transposed conv per stage."""

    def __init__(self, image_shape: tuple[int, int, int], in_dim: int, hidden: int = 256, channels: int = 32,
                 res_blocks: int = 0) -> None:
        super().__init__()
        c, h, w = image_shape
        chans = conv_channels(h, channels)
        n = len(chans)
        self.side = h // (2**n)
        self.top = chans[-1]
        self.fc = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, self.top * self.side**2), nn.ReLU())
        layers: list[nn.Module] = [ResidualBlock(self.top) for _ in range(res_blocks)]
        for i in reversed(range(n)):
            out = chans[i - 1] if i > 0 else c
            layers.append(nn.ConvTranspose2d(chans[i], out, 4, 2, 1))
            if i > 0:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> logits (B, C, H, W)
        return self.net(self.fc(z).view(-1, self.top, self.side, self.side))


def make_encoder(arch: str, image_shape: tuple[int, int, int], hidden: int, channels: int = 32,
                 res_blocks: int = 0, mlp_layers: int = 1) -> nn.Module:
    """The encoder body of ``arch`` ("mlp" or "conv"; ``channels`` and ``res_blocks`` shape the
    conv net, ``mlp_layers`` the MLP's depth)."""
    if arch == "mlp":
        return MLPEncoder(image_shape, hidden, hidden, mlp_layers)
    if arch == "conv":
        return ConvEncoder(image_shape, hidden, channels, res_blocks)
    raise ValueError(f"unknown architecture {arch!r}: use 'mlp' or 'conv'")


def make_decoder(arch: str, image_shape: tuple[int, int, int], in_dim: int, hidden: int, channels: int = 32,
                 res_blocks: int = 0, mlp_layers: int = 1) -> nn.Module:
    """The decoder body of ``arch``, the mirror of :func:`make_encoder`'s; it returns logits."""
    if arch == "mlp":
        return MLPDecoder(image_shape, hidden, in_dim, mlp_layers)
    if arch == "conv":
        return ConvDecoder(image_shape, in_dim, hidden, channels, res_blocks)
    raise ValueError(f"unknown architecture {arch!r}: use 'mlp' or 'conv'")
