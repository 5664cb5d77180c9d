"""Class-conditional DCGAN: the generator of Mirza and Osindero (2014), the class given as a
one-hot input beside z, and a projection discriminator (Miyato and Koyama 2018).

    G([z | one-hot y]) -> image          D(x, y) = psi(phi(x)) + <embed(y), phi(x)>

Why projection rather than Mirza and Osindero's discriminator (the label concatenated to its
input or hidden layer): a concatenated label only adds a class-dependent bias that D is free
to ignore, and in Miyato and Koyama's comparisons the projection discriminator gave markedly
higher class fidelity and sample quality than concatenation on the same nets (their Table 1
and Figure 5), which is what ``class_accuracy`` measures here. It also leaves DCGAN's
discriminator body untouched: the label enters after it, as one inner product, so the
unconditional D and the conditional one share ``models.nets.adversarial``'s trunks.

G's input is the flat latent itself (``[z | one-hot class]``, see
:mod:`models.families.conditional`), so ``decode`` needs no labels. The nets are DCGAN's
(``arch``: the dense-entry MNIST nets up to 32 px, the all-conv ones above), with its
initialisation, learning rates and G's weight average; training is the shared BCE step of
:mod:`models.families.adversarial` with D seeing each image beside its class. Fakes are made
for the real batch's labels, so D compares real and fake images of the same classes and the
fakes' classes follow the data's.

Terms: ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` (as DCGAN's).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import torch

from models.families.adversarial import (AdversarialModel, bce_terms, discriminator_bce, discriminator_step,
                                         generator_bce, generator_step, to_tanh_range)
from models.families.conditional import ClassConditional, check_classes, class_names_field, num_classes_field
from models.families.dcgan import DCGAN, DCGANConfig
from models.nets.adversarial import ConvGenerator, DenseConvGenerator, dcgan_init
from models.nets.conditional import projection_discriminator


@dataclasses.dataclass
class CGANConfig(DCGANConfig):
    """DCGAN's fields with their defaults and docs (Mirza and Osindero also use a 100-d z),
    then the classes, which the train entries fill from the data."""

    #: a new family: no checkpoint predates any of its fields
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {}
    num_classes: int = num_classes_field()
    class_names: tuple[str, ...] = class_names_field()


class CGAN(ClassConditional, AdversarialModel):
    family = "cgan"
    Config = CGANConfig

    def __init__(self, config: CGANConfig) -> None:
        check_classes(config)
        super().__init__(config)
        shape, arch, k = config.image_shape, config.resolved_arch(), config.num_classes
        if arch == "dense":
            self.generator = DenseConvGenerator(shape, config.z_dim + k, config.fc_hidden, config.g_channels)
        else:
            self.generator = ConvGenerator(shape, config.z_dim + k, config.g_channels, batch_norm=True)
        self.discriminator = projection_discriminator(shape, arch, k, config.d_channels, config.fc_hidden, norm="batch")
        dcgan_init(self)
        self.track_generator_ema()

    @property
    def z_size(self) -> int:
        return self.config.z_dim

    generator_lr = DCGAN.generator_lr

    def _fakes(self, labels: torch.Tensor) -> torch.Tensor:
        """G's images in [-1, 1] for fresh noise and ``labels``."""
        z = torch.randn(labels.shape[0], self.config.z_dim, device=labels.device)
        return self.generator(self.with_class(z, labels))

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """The terms without updating anything (a real batch vs. fresh fakes of its classes)."""
        x, labels = batch
        real_logits = self.discriminator(to_tanh_range(x), labels)
        fake_logits = self.discriminator(self._fakes(labels), labels)
        d_loss, g_loss = discriminator_bce(real_logits, fake_logits), generator_bce(fake_logits)
        return bce_terms(d_loss, g_loss, real_logits, fake_logits)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor],  # type: ignore[override]
                      optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        x, labels = batch
        opt_d, opt_g = optimizers["discriminator"], optimizers["generator"]
        fake = self._fakes(labels)
        judge = functools.partial(self.discriminator, labels=labels)  # D(., y): each image beside its class

        # 1. discriminator: (real, y) -> 1, (fake, y) -> 0
        d_loss, real_logits, fake_logits = discriminator_step(judge, opt_d, to_tanh_range(x), fake)
        # 2. generator: non-saturating -log D(G(z, y), y) against the updated discriminator
        g_loss = generator_step(judge, opt_g, fake, opt_d)
        return bce_terms(d_loss.detach(), g_loss.detach(), real_logits.detach(), fake_logits.detach())
