"""DCGAN (Radford et al. 2016): convolutional generator and discriminator with batch norm,
trained with the shared BCE step of :class:`models.families.adversarial.AdversarialModel`.
Images up to 32 px get the dense-entry nets the DCGAN authors ran on MNIST (``arch``)."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from torch import nn

from models.families.adversarial import AdversarialModel, ema_field
from models.families.base import ModelConfig
from models.nets.adversarial import ConvDiscriminator, ConvGenerator, DenseConvDiscriminator, DenseConvGenerator, dcgan_init


def resolve_arch(arch: str, image_shape: tuple[int, int, int]) -> str:
    """"auto" -> "dense" for images up to 32 px (MNIST-size), "conv" above."""
    if arch == "auto":
        return "dense" if image_shape[-1] <= 32 else "conv"
    if arch not in ("dense", "conv"):
        raise ValueError(f"unknown arch {arch!r}: use 'auto', 'dense' or 'conv'")
    return arch


@dataclasses.dataclass
class DCGANNetsConfig(ModelConfig):
    """The base of the configs of the families built on DCGAN's nets (DCGAN, WGAN-GP). Each
    declares ``z_dim``, ``arch``, ``fc_hidden``, ``g_channels`` and ``d_channels`` itself,
    with its paper's defaults and docs: a field declared here would come first in every
    family's field order, which is the order of the CLI's flags and of the Train form."""

    #: checkpoints from before ``arch`` existed hold the all-conv nets
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"arch": "conv", "ema": 0.0}

    def resolved_arch(self) -> str:
        return resolve_arch(self.arch, self.image_shape)


@dataclasses.dataclass
class DCGANConfig(DCGANNetsConfig):
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
    ema: float = ema_field()


def dcgan_nets(config: DCGANNetsConfig, d_norm: str) -> tuple[nn.Module, nn.Module]:
    """(G, D) for ``config.resolved_arch()``: the dense-entry nets or the all-conv ones, D's
    hidden layers normalised by ``d_norm`` ("batch", "layer" or "none")."""
    shape = config.image_shape
    if config.resolved_arch() == "dense":
        return (DenseConvGenerator(shape, config.z_dim, config.fc_hidden, config.g_channels),
                DenseConvDiscriminator(shape, config.fc_hidden, config.d_channels, norm=d_norm))
    return (ConvGenerator(shape, config.z_dim, config.g_channels, batch_norm=True),
            ConvDiscriminator(shape, config.d_channels, norm=d_norm))


class DCGAN(AdversarialModel):
    family = "dcgan"
    Config = DCGANConfig

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config)
        self.generator, self.discriminator = dcgan_nets(config, d_norm="batch")
        dcgan_init(self)
        self.track_generator_ema()

    def generator_lr(self) -> float:
        cfg = self.config
        if cfg.g_lr > 0:
            return cfg.g_lr
        return 1e-3 if cfg.resolved_arch() == "dense" else cfg.lr
