"""GAN (Goodfellow et al. 2014) with MLPs: MLP generator and discriminator, trained with
the shared BCE step of :class:`models.families.adversarial.AdversarialModel` (see there
for the image range, the two updates and the reported terms)."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from models.families.adversarial import AdversarialModel, ema_field
from models.families.base import ModelConfig
from models.nets.adversarial import MLPDiscriminator, MLPGenerator


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
    ema: float = ema_field()


class GAN(AdversarialModel):
    family = "gan"
    Config = GANConfig

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config)
        self.generator = MLPGenerator(config.image_shape, config.z_dim, tuple(config.g_hidden), config.g_batch_norm, config.g_slope)
        self.discriminator = MLPDiscriminator(math.prod(config.image_shape), tuple(config.d_hidden), config.dropout)
        self.track_generator_ema()
