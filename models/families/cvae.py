"""Conditional VAE (Sohn, Lee and Yan 2015): encoder and decoder both see the one-hot class.

    q(z | x, y) = N(mu(x, y), diag(exp(logvar(x, y))))     p(x | z, y)      p(z) = N(0, I)

loss (per image, nats): ``recon`` = -log p(x | z, y) with z drawn by the reparameterisation,
``kl`` = KL(q(z | x, y) || p(z)), ``total`` = recon + kl: the negative conditional ELBO, a
bound on -log p(x | y). The flat latent is ``[z | one-hot class]`` (see
:mod:`models.families.conditional`), which is what the decoder reads, so ``decode`` needs no
labels.

Networks: the VAE's (784-400-d MLP, or ``models.nets.autoencoder``'s stride-2 convs), the
class joined to each side's input as the paper does: the encoder reads ``[x | one-hot]`` (the
conv encoder: the one-hot as K constant image channels), the decoder ``[z | one-hot]``.

Encoding without a label (the explorer drops or draws an image; ``encode(x)``): the class
whose conditional ELBO is highest, computed at the posterior mean (deterministic), i.e. the
most likely class under a uniform class prior; ``encode(x, labels)`` uses the labels given.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn

from models.families.base import LatentModel, ModelConfig
from models.families.conditional import ClassConditional, check_classes, class_names_field, num_classes_field
from models.families.vae import gaussian_kl, recon_nll
from models.nets.autoencoder import make_decoder, make_encoder


#: the most classes a cvae takes: encoding an image without its label scores every class, each
#: as K one-hot input channels, so the work grows with K squared (300 classes: ~0.4 s an image)
CVAE_MAX_CLASSES = 256


@dataclasses.dataclass
class CVAEConfig(ModelConfig):
    #: "conv" (stride-2 convs, 32 then 64 channels) or "mlp" (784-400-d, the VAE's). After 10
    #: MNIST epochs with an 8-d z, conv: class_accuracy 0.986, test_loss 96.7 nats; mlp:
    #: 0.874, 106.7 (its blurrier samples are read as the class asked for less often)
    arch: str = "conv"
    #: size of z, what the class leaves open (a digit's style). Small, so that every class's
    #: codes fill the prior alike and a prior draw decodes as the class asked for: after 10
    #: MNIST epochs (mlp) 4 dimensions gave class_accuracy 0.948, 8 gave 0.874 and 20 gave
    #: 0.682, at test_loss 120.1, 106.7 and 101.8 nats
    latent_dim: int = 8
    #: width of the dense layer on each side
    hidden: int = 400
    #: "bernoulli": BCE on grey levels; "gaussian": squared error / (2 sigma^2)
    likelihood: str = "bernoulli"
    #: fixed decoder std for the Gaussian likelihood (smaller = sharper, less regularised)
    sigma: float = 0.1
    num_classes: int = num_classes_field(most=CVAE_MAX_CLASSES)
    class_names: tuple[str, ...] = class_names_field()
    lr: float = 1e-3

    APPLIES_WHEN: ClassVar[dict[str, tuple[str, Any]]] = {"sigma": ("likelihood", "gaussian")}


#: input elements (images x channels x pixels) one pass of :meth:`CVAE.class_elbo` may hold
ELBO_PASS_ELEMENTS = 1 << 24


class CVAE(ClassConditional, LatentModel):
    family = "cvae"
    Config = CVAEConfig
    has_kl = True
    encoder_family = True

    def __init__(self, config: CVAEConfig) -> None:
        check_classes(config, CVAE_MAX_CLASSES, " (a label-free encode scores every class)")
        super().__init__(config)
        k = config.num_classes
        c, h, w = config.image_shape
        if config.arch == "mlp":  # the VAE's 784-400 layer, on [x | one-hot]
            self.encoder = nn.Sequential(nn.Linear(c * h * w + k, config.hidden), nn.ReLU())
        else:  # the conv encoder on the image and K constant channels holding the one-hot
            self.encoder = make_encoder(config.arch, (c + k, h, w), config.hidden)
        self.to_latent = nn.Linear(config.hidden, 2 * config.latent_dim)  # -> mu, logvar
        self.decoder = make_decoder(config.arch, config.image_shape, config.latent_dim + k, config.hidden)

    @property
    def z_size(self) -> int:
        return self.config.latent_dim

    # -- encoder ------------------------------------------------------------------------------
    def _posterior(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu, logvar of q(z | x, y), each (B, latent_dim)."""
        one_hot = self.one_hot(labels, x.dtype)
        if self.config.arch == "mlp":
            inputs = torch.cat([x.flatten(1), one_hot], 1)
        else:
            inputs = torch.cat([x, one_hot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        mu, logvar = self.to_latent(self.encoder(inputs)).chunk(2, dim=1)
        return mu, logvar

    @torch.no_grad()
    def class_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, num_classes): each class's conditional ELBO of the images (nats,
        constants dropped), at the posterior mean, so the same images always give the same
        figures. Several classes go through the nets in one batch (every image repeated per
        class), as many as keep a pass's encoder input under ELBO_PASS_ELEMENTS (64 MB) and
        near 4,096 images: one image of a 10-class model is one pass, not ten."""
        B, K = x.shape[0], self.num_classes
        c, h, w = self.config.image_shape
        per_image = (c * h * w + K) if self.config.arch == "mlp" else (c + K) * h * w
        images = max(1, ELBO_PASS_ELEMENTS // per_image)  # one class of this many images fits a pass
        if B > images:  # a large batch of a many-class model: in slices of images
            return torch.cat([self.class_elbo(x[a:a + images]) for a in range(0, B, images)])
        per_pass = max(1, min(K, 4096 // max(B, 1), ELBO_PASS_ELEMENTS // max(B * per_image, 1)))
        out = []
        for k0 in range(0, K, per_pass):
            ks = torch.arange(k0, min(K, k0 + per_pass), device=x.device)
            labels = ks.repeat(B)  # image-major: (image 0, classes...), (image 1, classes...)
            xs = x.repeat_interleave(len(ks), 0)
            mu, logvar = self._posterior(xs, labels)
            nll = recon_nll(self.decoder(self.with_class(mu, labels)), xs, self.config.likelihood, self.config.sigma)
            out.append((-(nll + gaussian_kl(mu, logvar).sum(1))).view(B, len(ks)))
        return torch.cat(out, dim=1)

    def infer_labels(self, x: torch.Tensor) -> torch.Tensor:
        """The class of highest conditional ELBO per image (a uniform class prior), (B,) int64."""
        return self.class_elbo(x).argmax(1)

    def encode_stats(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) -> mu, logvar of q(z | x, y), each (B, latent_dim); ``labels`` None:
        the classes :meth:`infer_labels` picks."""
        if labels is None:
            labels = self.infer_labels(x)
        return self._posterior(x, labels)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images -> flat latents ``[mu | one-hot class]``: the labels given, else the classes
        of highest ELBO (see the module docstring)."""
        if labels is None:
            labels = self.infer_labels(x)
        return self.with_class(self._posterior(x, labels)[0], labels)

    # -- decoder ------------------------------------------------------------------------------
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(latent))

    # -- training -----------------------------------------------------------------------------
    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        x, labels = batch
        mu, logvar = self._posterior(x, labels)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        logits = self.decoder(self.with_class(z, labels))
        recon = recon_nll(logits, x, self.config.likelihood, self.config.sigma).mean()
        kl = gaussian_kl(mu, logvar).sum(1).mean()
        return {"recon": recon, "kl": kl, "total": recon + kl}
