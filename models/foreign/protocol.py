"""A model made elsewhere, seen through the interface every explore panel already uses.

:class:`ForeignModel` is a :class:`~models.families.base.LatentModel` whose decoder (and
optional encoder) is any callable: an ``nn.Module`` rebuilt from a state dict, a user's
module from an adapter file, or an ONNX graph. It adds nothing a panel has to know about:
the flat latent of its :class:`~models.latent.LatentSpec` is reshaped to what the decoder
takes (``(N, 100, 1, 1)`` for the DCGAN example), the decoder's output is mapped from its
range to [0, 1] and clipped there, and an encoder that returns ``(mean, logvar)`` gives the
per-dimension KL (``has_kl``) as the app's VAEs do.

What it cannot do is said by :func:`unavailable`, one line per feature, so every panel and
command words it alike; :func:`is_trainable` is the one test for "may Train / Continue
training run on this model".
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from models.families.base import LatentModel, ModelConfig
from models.latent import LatentSpec

#: a decoder or encoder: a module, or any callable from tensors to tensors (an ONNX graph)
Net = nn.Module | Callable[[torch.Tensor], Any]


@dataclasses.dataclass
class ForeignConfig(ModelConfig):
    """What a foreign model was opened from and how its nets are called (printed and saved
    like a family's config; it builds nothing)."""

    #: the file or folder it was opened from
    source: str = ""
    #: which importer recognised it: "pytorch-examples-vae", "pytorch-examples-dcgan", "onnx", "adapter"
    kind: str = ""
    #: the decoder's input for one latent ((20,) or (100, 1, 1)); the flat latent is reshaped to it
    latent_shape: tuple[int, ...] = ()
    #: the range of the decoder's raw output; decode maps it to [0, 1]
    output_range: tuple[float, float] = (0.0, 1.0)
    #: one line saying what the model is ("the PyTorch examples VAE: 784-400-20")
    description: str = ""
    #: nothing trains a foreign model
    lr: float = 0.0


class BoundMethod(nn.Module):
    """``module.<name>(x)`` as a module of its own, so a decoder and an encoder may be two
    methods of one network (the examples VAE) and still move, copy and ``eval()`` with it."""

    def __init__(self, module: nn.Module, name: str) -> None:
        super().__init__()
        self.target = module
        self.method = name

    def forward(self, x: torch.Tensor) -> Any:
        return getattr(self.target, self.method)(x)


class ForeignModel(LatentModel):
    """A decoder (and maybe an encoder) from elsewhere, explored like the app's own models.

    ``decoder(z)`` takes ``(N, *config.latent_shape)`` and returns ``(N, C, H, W)`` (or
    ``(N, C*H*W)``) in ``config.output_range``; ``encoder(x)`` takes ``(N, C, H, W)`` images
    in [0, 1] and returns the mean code ``(N, d)``, or ``(mean, logvar)`` when
    ``encoder_logvar``. ``has_prior``: whether the source declares the prior its latents
    were drawn from (else random points are drawn from the spec's prior all the same, but
    no score assumes the model was trained to match it)."""

    family = "foreign"
    Config = ForeignConfig
    #: the app's families are trainable (see :func:`is_trainable`); a foreign model is not
    trainable: ClassVar[bool] = False
    graph_capturable = False

    def __init__(self, config: ForeignConfig, spec: LatentSpec, decoder: Net, encoder: Net | None = None, *,
                 encoder_logvar: bool = False, has_prior: bool = True) -> None:
        super().__init__(config)
        self._spec = dataclasses.replace(spec, has_encoder=encoder is not None)
        # modules register (they move with .to() and copy with deepcopy); an ONNX graph is a plain attribute
        self.decoder_net = decoder
        self.encoder_net = encoder
        self.has_kl = bool(encoder is not None and encoder_logvar)
        self.has_prior = has_prior

    # -- the protocol -----------------------------------------------------------------------
    @property
    def latent_spec(self) -> LatentSpec:
        return self._spec

    @property
    def device(self) -> torch.device:
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device
        return torch.device("cpu")  # an ONNX graph runs on the CPU, whatever .to() was asked

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Flat latents (N, input_dim) -> images (N, C, H, W) in [0, 1]."""
        d = self._spec.input_dim
        if latent.dim() != 2 or latent.shape[1] != d:
            raise ValueError(f"this model decodes latents of {d} values (N x {d}); got {tuple(latent.shape)}")
        out = _first(self.decoder_net(latent.reshape(latent.shape[0], *self.config.latent_shape)))
        out = _as_images(out, tuple(self.config.image_shape), latent.shape[0])
        lo, hi = self.config.output_range
        if (lo, hi) != (0.0, 1.0):
            out = (out - lo) / (hi - lo)
        return out.clamp(0.0, 1.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> the encoder's mean code (N, input_dim)."""
        return self._encoded(x)[0]

    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images -> (mu, logvar), for an encoder that gives both (``has_kl``)."""
        if not self.has_kl:
            raise NotImplementedError(f"{self.describe()} gives no log-variance, so it has no KL per dimension")
        mu, logvar = self._encoded(x)
        return mu, logvar

    def _encoded(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.encoder_net is None:
            raise NotImplementedError(f"{self.describe()} has no encoder")
        shape = tuple(self.config.image_shape)
        if x.dim() != 4 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"this model encodes images of shape N x {' x '.join(map(str, shape))}; got {tuple(x.shape)}")
        out = self.encoder_net(x)
        parts = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        return tuple(p.reshape(x.shape[0], -1) for p in parts)

    @property
    def differentiable(self) -> bool:
        """Whether gradients flow through ``decode`` (projection optimises a latent through
        it): a module's do, an ONNX graph's do not."""
        return isinstance(self.decoder_net, nn.Module)

    def describe(self) -> str:
        """One line: what the model is and where it came from."""
        return self.config.description or f"a {self.config.kind} model"

    # -- what it cannot do ----------------------------------------------------------------
    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError(unavailable(self, "train"))

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
        raise NotImplementedError(unavailable(self, "train"))


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _as_images(out: torch.Tensor, shape: tuple[int, int, int], n: int) -> torch.Tensor:
    """The decoder's output as (n, C, H, W); a flat (n, C*H*W) output is reshaped."""
    if tuple(out.shape) == (n, *shape):
        return out
    c, h, w = shape
    if out.dim() >= 1 and out.shape[0] == n and out[0].numel() == c * h * w:
        return out.reshape(n, c, h, w)
    raise ValueError(f"the decoder returned {tuple(out.shape)}, not images of {n} x {c} x {h} x {w}")


# ---------------------------------------------------------------------------------------
# capabilities: what a panel or command may offer for a model, and why not
# ---------------------------------------------------------------------------------------
#: the features a model may lack, as :func:`unavailable` names them
FEATURES = ("decode", "encode", "kl", "project", "sample_scores", "train", "save_checkpoint")


def is_trainable(model: LatentModel | None) -> bool:
    """Whether Train and Continue training may run on ``model``: the app's own families
    are, imported models are not."""
    return model is not None and bool(getattr(type(model), "trainable", True))


def source_words(model: LatentModel) -> str:
    """"opened from vae.pth (the PyTorch examples VAE: ...)" for a foreign model, else the family."""
    if isinstance(model, ForeignModel):
        name = Path(model.config.source).name or model.config.kind
        return f"{model.describe()}, opened from {name}"
    return model.family


def unavailable(model: LatentModel | None, feature: str) -> str | None:
    """Why ``model`` cannot do ``feature`` (one of :data:`FEATURES`), in one line; None when it can.

    ``decode``: anything opened decodes. ``encode``: images to latents (latent map, Encode,
    drawing pad, Compare reconstructions). ``kl``: the KL per dimension (sort by KL,
    traversal by KL). ``project``: optimising a latent to match an image (needs gradients
    through the decoder). ``sample_scores``: scores that assume samples come from the prior the
    model was trained on. ``train``: Train and Continue training. ``save_checkpoint``: Save
    as a Latent Explorer checkpoint (a foreign model is exported to ONNX instead)."""
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; one of {', '.join(FEATURES)}")
    if model is None:
        return "Open or train a model first."
    if feature == "decode":
        return None
    if feature == "encode":
        return None if model.latent_spec.has_encoder else (
            f"{source_words(model)} has no encoder: it turns latents into images but cannot map an image to its latent.")
    if feature == "kl":
        return None if getattr(model, "has_kl", False) else (
            f"{source_words(model)} gives no posterior variance, so there is no KL per dimension.")
    if feature == "project":
        return None if getattr(model, "differentiable", True) else (
            f"{source_words(model)} runs in onnxruntime, which gives no gradients, so no latent can be fitted to an "
            "image; open the PyTorch model (state dict or adapter) to project.")
    if feature == "sample_scores":
        return None if model.has_prior else f"{source_words(model)} declares no prior its samples were trained to match."
    # train, save_checkpoint
    if is_trainable(model):
        return None
    if feature == "train":
        return f"Training is for the app's own model families; {source_words(model)} was made elsewhere."
    return f"{source_words(model)} was made elsewhere: export it (ONNX) instead of saving a checkpoint."
