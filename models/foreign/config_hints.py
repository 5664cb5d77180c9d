"""The config a bare state dict of one of the app's MLP autoencoders says by its own shapes.

A VAE exported as weights only still tells its width (the first dense layer's outputs), its
latent size (the decoder's first inputs), its depth (how many dense layers are named) and its
image's value count (the first layer's inputs), read as a square grey or RGB image as every
dataset here makes (an MLP cannot tell 3 x 64 x 48 from 1 x 96 x 96: the window says the
shape is read as square, and a given image shape overrides it). A hint is given only when a
model of the hinted config has exactly the file's names and shapes and is within the size
budget (checked on the meta device, nothing allocated), so it never fails to load; any other
file gets no hint and the user's form keeps the family's defaults.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from models.families.base import ModelConfig
from models.families.registry import config_class, model_class
from models.families.vae import AutoEncoder
from models.runs.model_budget import check_budget, expected_shapes, meta_model

#: image channels a dense first layer's inputs are read as (grey first: 3 * s * s is never a square)
CHANNELS = (1, 3)
_ENCODER_DENSE = re.compile(r"encoder\.net\.(\d+)\.weight")
#: the config fields an MLP autoencoder's shapes tell
TOLD = ("arch", "image_shape", "hidden", "latent_dim", "mlp_layers")


def _image_shape(inputs: int) -> tuple[int, int, int] | None:
    """(C, S, S) with ``C * S * S == inputs`` (square images, as every dataset here makes)."""
    for c in CHANNELS:
        side = math.isqrt(inputs // c)
        if inputs % c == 0 and side > 0 and c * side * side == inputs:
            return c, side, side
    return None


def _mlp_autoencoder_fields(shapes: Mapping[str, tuple[int, ...]],
                            image_shape: tuple[int, int, int] | None) -> dict[str, Any] | None:
    """The shape-setting fields of the MLP net :class:`~models.families.vae.AutoEncoder` builds."""
    dense = [name for name in shapes if _ENCODER_DENSE.fullmatch(name)]
    first, latent = shapes.get("encoder.net.1.weight"), shapes.get("decoder.net.0.weight")
    if not dense or first is None or latent is None or len(first) != 2 or len(latent) != 2:
        return None
    shape = _image_shape(first[1]) if image_shape is None else tuple(int(v) for v in image_shape)
    if shape is None or math.prod(shape) != first[1]:
        return None
    return {"arch": "mlp", "image_shape": shape, "hidden": first[0], "latent_dim": latent[1], "mlp_layers": len(dense)}


def hinted_config(family: str, shapes: Mapping[str, tuple[int, ...]],
                  image_shape: tuple[int, int, int] | None = None) -> ModelConfig | None:
    """``family``'s defaults with the fields ``shapes`` tell filled in (``image_shape``, when
    given, instead of the square reading); None when they tell nothing certain."""
    try:
        if not issubclass(model_class(family), AutoEncoder):
            return None
        fields = _mlp_autoencoder_fields(shapes, image_shape)
        if fields is None:
            return None
        config = dataclasses.replace(config_class(family)(), **fields)
        config.check_bounds()
        measured = meta_model(family, config)
        check_budget(measured, "the hinted model")
    except Exception:  # noqa: BLE001 - a family or config that does not build (or is too large) says nothing
        return None
    if expected_shapes(measured) != {k: tuple(v) for k, v in shapes.items()}:
        return None
    return config


def config_hints(family: str, shapes: Mapping[str, tuple[int, ...]],
                 image_shape: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """The fields of ``family``'s config that ``shapes`` (a state dict's names and shapes) tell,
    as JSON values for a form; {} when they tell nothing certain (see :func:`hinted_config`)."""
    config = hinted_config(family, shapes, image_shape)
    if config is None:
        return {}
    told = {name: getattr(config, name) for name in TOLD}
    return {**told, "image_shape": list(told["image_shape"])}
