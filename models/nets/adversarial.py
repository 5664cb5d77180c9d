"""Generator and discriminator bodies of the adversarial families (GAN, DCGAN, WGAN-GP, InfoGAN).

Every generator ends in ``tanh`` (images in [-1, 1]); every discriminator takes images in
[-1, 1] and returns one logit per image, except :class:`DenseConvTrunk`, the feature body
InfoGAN puts its D and Q heads on.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from models.nets.autoencoder import downsampling_stages


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
    n = downsampling_stages(h)
    if n == 0:
        raise ValueError(f"image side {h} cannot be halved down to 7 or 4")
    return n, h // 2**n, [base * 2**i for i in range(n)]


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


def upsampling_layers(chans: list[int], norm: str) -> list[nn.Module]:
    """[ConvT 4/2/1 + norm + ReLU] from ``chans[-1]`` channels down to ``chans[0]``, each
    doubling the side: the generators' stages between their entry and their output layer."""
    layers: list[nn.Module] = []
    for i in reversed(range(1, len(chans))):
        layers += [nn.ConvTranspose2d(chans[i], chans[i - 1], 4, 2, 1, bias=False), make_norm(norm, chans[i - 1]), nn.ReLU(True)]
    return layers


def downsampling_layers(chans: list[int], norm: str, slope: float) -> list[nn.Module]:
    """[Conv 4/2/1 + norm + LeakyReLU] from ``chans[0]`` channels up to ``chans[-1]``, each
    halving the side: the discriminators' stages after their first conv (biases only
    without a norm)."""
    layers: list[nn.Module] = []
    for i in range(1, len(chans)):
        layers += [nn.Conv2d(chans[i - 1], chans[i], 4, 2, 1, bias=norm == "none"), make_norm(norm, chans[i]),
                   nn.LeakyReLU(slope, True)]
    return layers


class ConvGenerator(nn.Module):
    """DCGAN generator: z -> ConvTranspose(side x side) -> [ConvT 4/2/1 + BN + ReLU]* -> ConvT -> tanh.

    28x28: 7 -> 14 -> 28 (128, 64 channels); 64x64: 4 -> 8 -> 16 -> 32 -> 64 (512..64 channels).
    """

    def __init__(self, image_shape: tuple[int, int, int], in_dim: int, base: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        _, side, chans = conv_plan(image_shape, base)
        norm = "batch" if batch_norm else "none"
        self.in_dim = in_dim
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, chans[-1], side, 1, 0, bias=False), make_norm(norm, chans[-1]),
                                   nn.ReLU(True)]
        layers += upsampling_layers(chans, norm)
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
        _, side, chans = conv_plan(image_shape, base)

        make_norm(norm, 1)  # validate the name before building anything
        bias = norm == "none"
        layers: list[nn.Module] = [nn.Conv2d(image_shape[0], chans[0], 4, 2, 1, bias=bias), nn.LeakyReLU(0.2, True)]
        layers += downsampling_layers(chans, norm, 0.2)
        layers += [nn.Conv2d(chans[-1], 1, side, 1, 0, bias=bias), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [-1, 1] -> logits (B,)
        return self.net(x).view(-1)


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
        _, side, chans = conv_plan(image_shape, base)
        self.top, self.side = chans[-1], side
        self.fc = nn.Sequential(
            nn.Linear(in_dim, fc_hidden, bias=False), nn.BatchNorm1d(fc_hidden), nn.ReLU(True),
            nn.Linear(fc_hidden, chans[-1] * side * side, bias=False), nn.BatchNorm1d(chans[-1] * side * side), nn.ReLU(True),
        )
        layers = upsampling_layers(chans, "batch")
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
        _, side, chans = conv_plan(image_shape, base)
        layers: list[nn.Module] = [nn.Conv2d(image_shape[0], chans[0], 4, 2, 1), nn.LeakyReLU(slope, True)]
        layers += downsampling_layers(chans, norm, slope)
        layers += [nn.Flatten(), nn.Linear(chans[-1] * side * side, fc_hidden, bias=norm == "none"),
                   make_norm(norm, fc_hidden, spatial=False), nn.LeakyReLU(slope, True)]
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
