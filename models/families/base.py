"""The shared base of every model family.

A family is one module with a config dataclass and a subclass of :class:`LatentModel`.
The training loop talks to models only through this interface:

* ``loss(batch) -> dict[str, Tensor]`` named scalar terms (single-optimizer families
  include ``"total"``, the term that is minimised);
* ``configure_optimizers(lr) -> dict[str, Optimizer]``;
* ``training_step(batch, optimizers) -> dict[str, Tensor]`` one optimisation step (the
  default backpropagates ``loss(batch)["total"]``; adversarial families override it).

and the explorer only through ``latent_spec``, ``encode``, ``decode`` and
``sample_latents`` (every random latent is drawn there, so a family with its own prior, the
mixture AAE, is sampled from that prior everywhere), plus the capability flags
``has_prior`` and ``has_kl``.

A class-conditional family (``conditional`` True: cvae, cgan) takes the same three calls
with ``batch`` an ``(images, labels)`` pair, labels int64 (B,) on the images' device; the
training step, the captured step and validation gather that pair for it
(``models.training.steps.gather``). Its flat latent carries the class as categorical code 0,
so ``decode`` needs no labels. Every other family gets the images tensor alone, as before.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any, ClassVar

import torch
from torch import nn

from models.latent import LatentSpec


@dataclasses.dataclass
class ModelConfig:
    """Fields every family shares. Families subclass it and add their own."""

    #: (C, H, W) of the images the model reads and writes
    image_shape: tuple[int, int, int] = (1, 28, 28)
    #: paper-default learning rate, used when the user gives none
    lr: float = 1e-3

    #: values for fields that configs saved before the field existed lack: what those
    #: models were built with, which may differ from today's default for new models
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {}
    #: field -> (other field, value): the field matters only while the other has that value
    #: (a form greys it out otherwise)
    APPLIES_WHEN: ClassVar[dict[str, tuple[str, Any]]] = {}

    def default_batch_size(self) -> int | None:
        """The paper's batch size where it differs from the training loop's 128 (None: 128)."""
        return None

    def default_lr_decay(self) -> str | None:
        """The learning-rate schedule (``TrainConfig.lr_decay``) the family trains with when
        none is asked for, where it differs from constant rates (None: "none")."""
        return None

    def check_bounds(self) -> None:
        """ValueError for an integer field outside its own ``min`` / ``max`` metadata (0 when
        it gives no ``min``): called before any layer is built, since a tampered or mistyped
        count would otherwise build for hours."""
        for f in dataclasses.fields(self):
            most = f.metadata.get("max")
            if most is None:
                continue
            least, value = f.metadata.get("min", 0), getattr(self, f.name)
            if isinstance(value, int) and not least <= value <= most:
                raise ValueError(f"{f.name} must be {least} to {most}, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
        kwargs = {}
        for k, v in d.items():
            # JSON turns tuples into lists; the dataclass defaults say which were tuples
            default = names[k].default
            kwargs[k] = tuple(v) if isinstance(v, list) and (isinstance(default, tuple) or k == "image_shape") else v
        return cls(**kwargs)

    @classmethod
    def from_saved(cls, d: dict[str, Any]) -> "ModelConfig":
        """A config read back from a checkpoint (fields it predates take ``SAVED_BEFORE``)."""
        return cls.from_dict({**cls.SAVED_BEFORE, **d})


class LatentModel(nn.Module):
    """Base class of every family."""

    #: the family's name as the CLI and checkpoints spell it ("vae", "dcgan", ...)
    family: ClassVar[str] = ""
    #: the config dataclass of the family
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    #: whether ``training_step`` (with ``on_train_step_end``) may be captured whole in a CUDA
    #: graph: every op on the device, no value read on the host, the same shapes every step.
    #: Every family here is; one that is not sets False and trains eagerly on CUDA too
    graph_capturable: ClassVar[bool] = True
    #: whether ``sample`` draws from a prior the model was trained to match (every family
    #: but the plain autoencoder, whose codes follow no declared distribution)
    has_prior: ClassVar[bool] = True
    #: whether the encoder gives a Gaussian posterior per latent dimension (``encode_stats``
    #: -> mu, logvar), so each dimension has a KL to the prior (the VAE families)
    has_kl: ClassVar[bool] = False
    #: whether the app can train this model and continue its runs (every family; a model
    #: opened from elsewhere, models.foreign, only explores)
    trainable: ClassVar[bool] = True
    #: whether the family is class-conditional: it trains on labelled images, its batches are
    #: ``(images, labels)`` pairs (see the module docstring) and its latent spec names the
    #: classes (``LatentSpec.class_names``)
    conditional: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    @classmethod
    def config_from_data(cls, dataset: Any) -> dict[str, Any]:
        """The config fields a fresh model takes from the dataset it will train on (both
        train entries build with them): the image shape, and for a conditional family also
        its number of classes and their names, which the checkpoint then carries."""
        return {"image_shape": tuple(dataset.image_shape)}

    # -- what the explorer uses ---------------------------------------------------------
    @property
    def latent_spec(self) -> LatentSpec:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] -> flat latent (B, input_dim); the mean for a VAE."""
        raise NotImplementedError(f"{self.family} has no encoder")

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Flat latent (B, input_dim) -> images (B, C, H, W) in [0, 1]."""
        raise NotImplementedError

    def sample_latents(self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None,
                       truncation: float | None = None) -> torch.Tensor:
        """n flat latents from the model's prior, shape (n, input_dim), on ``device`` (default:
        the CPU). The one way to draw "a random point": previews, Random, paths, traversal
        origins, projection restarts, sample scores and GAN training all come here. The base
        draws from the latent spec's prior; a family with a prior the spec cannot express
        (the AAE's mixture) overrides this. ``truncation`` clamps |z| (the truncation trick)."""
        return self.latent_spec.sample(n, generator=generator, device=device if device is not None else "cpu",
                                       truncation=truncation)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, truncation: float | None = None) -> torch.Tensor:
        return self.decode(self.sample_latents(n, generator, self.device, truncation))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def preview_latents(self, generator: torch.Generator) -> torch.Tensor:
        """The fixed latents whose decodings the GUI shows while training (64 by default;
        InfoGAN overrides this with its rows-of-categories figure)."""
        return self.sample_latents(64, generator)

    def preview_columns(self) -> int:
        """Columns of the preview grid."""
        return 8

    # -- what the trainer uses ----------------------------------------------------------
    def forward(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms; ``forward`` so DistributedDataParallel can wrap the model."""
        return self.loss(batch)

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_train_step_end(self) -> None:
        """Called by the training loop after every optimisation step (GANs update the
        moving average of their generator's weights here)."""

    def configure_optimizers(self, lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
        return {"model": adam(self.parameters(), lr or self.config.lr)}

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        (opt,) = optimizers.values()
        opt.zero_grad(set_to_none=True)
        terms = self.loss(batch)
        terms["total"].backward()
        opt.step()
        return {k: v.detach() for k, v in terms.items()}

    @torch.no_grad()
    def validation_terms(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms on held-out data; "total" picks the best checkpoint. Families without
        a meaningful held-out loss (GANs) return {}."""
        return {k: v.detach() for k, v in self.loss(batch).items()}


def _fused_adam_devices() -> frozenset[str]:
    """Device types torch has a fused Adam kernel for (MPS since torch 2.4)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # a torch that moved the helper: CUDA has had the kernel longest
        return frozenset({"cuda"})
    return frozenset(_get_fused_kernels_supported_devices())


def adam(params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    """Adam, fused (one kernel for all parameters, its step count kept on the device) on CUDA
    and MPS; the CPU keeps torch's default. Never built capturable: a capturable optimizer
    stepping eagerly warns and runs slower, so the captured step (``models.training.capture``)
    switches ``capturable`` on for the optimizers it captures and off again if capture fails."""
    params = list(params)
    device = params[0].device.type if params else "cpu"
    fused = device != "cpu" and device in _fused_adam_devices()
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None)
