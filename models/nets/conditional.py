"""The class-conditional discriminator: a projection discriminator (Miyato and Koyama 2018)
on the DCGAN discriminator bodies of :mod:`models.nets.adversarial`.

    D(x, y) = psi(phi(x)) + <embed(y), phi(x)>

``phi`` is a DCGAN trunk giving one feature vector per image, ``psi`` the unconditional
logit, ``embed`` one vector per class. The class embedding is a bias-free linear layer on
the one-hot label rather than an ``nn.Embedding`` lookup: the same maths, and its backward
is a plain matrix product (no index kernels), so the whole step stays capturable in a CUDA
graph and reads nothing on the host.
"""
from __future__ import annotations

import torch
from torch import nn

from models.latent import one_hot
from models.nets.adversarial import DenseConvTrunk, conv_plan, downsampling_layers, make_norm


class ConvTrunk(nn.Module):
    """:class:`~models.nets.adversarial.ConvDiscriminator` without its last conv: Conv 4/2/1 +
    LeakyReLU(0.2), [Conv 4/2/1 + norm + LeakyReLU]*, flattened. ``features``: the vector
    size (top channels x side x side); a linear layer on it is exactly that last conv."""

    def __init__(self, image_shape: tuple[int, int, int], base: int = 64, norm: str = "batch") -> None:
        super().__init__()
        _, side, chans = conv_plan(image_shape, base)
        make_norm(norm, 1)  # validate the name before building anything
        layers: list[nn.Module] = [nn.Conv2d(image_shape[0], chans[0], 4, 2, 1, bias=norm == "none"),
                                   nn.LeakyReLU(0.2, True)]
        layers += downsampling_layers(chans, norm, 0.2)
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        self.features = chans[-1] * side * side

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [-1, 1] images -> (B, features)
        return self.net(x)


class ProjectionDiscriminator(nn.Module):
    """``D(x, y)`` of the module docstring on ``trunk`` (images -> (B, features))."""

    def __init__(self, trunk: nn.Module, features: int, num_classes: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.num_classes = num_classes
        self.head = nn.Linear(features, 1)
        self.embed = nn.Linear(num_classes, features, bias=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # -> logits (B,)
        h = self.trunk(x)
        return self.head(h).view(-1) + (self.embed(one_hot(labels, self.num_classes, h.dtype)) * h).sum(1)


def projection_discriminator(image_shape: tuple[int, int, int], arch: str, num_classes: int, base: int = 64,
                             fc_hidden: int = 1024, norm: str = "batch") -> ProjectionDiscriminator:
    """The projection D on the "dense" trunk (DCGAN's MNIST net: convs then fc ``fc_hidden``)
    or the "conv" one (the all-conv DCGAN discriminator's body)."""
    if arch == "dense":
        return ProjectionDiscriminator(DenseConvTrunk(image_shape, fc_hidden, base, norm), fc_hidden, num_classes)
    trunk = ConvTrunk(image_shape, base, norm)
    return ProjectionDiscriminator(trunk, trunk.features, num_classes)
