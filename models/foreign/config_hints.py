"""The config a bare state dict of one of the app's MLP autoencoders says by its own shapes.

A VAE exported as weights only still tells its image size (the first dense layer's inputs),
its width (that layer's outputs), its latent size (the decoder's first inputs) and its depth
(how many dense layers are named), so a user opening it need not type them. A hint is given
only when a model of the hinted config has exactly the file's names and shapes (checked on
the meta device, nothing allocated), so it is never a guess that then fails to load: any
other file gets no hint and the user's form keeps the family's defaults.
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
from models.runs.model_budget import expected_shapes, meta_model

#: image channels a dense first layer's inputs are read as (grey first: 3 * s * s is never a square)
CHANNELS = (1, 3)
_ENCODER_DENSE = re.compile(r"encoder\.net\.(\d+)\.weight")


def _image_shape(inputs: int) -> tuple[int, int, int] | None:
    """(C, S, S) with ``C * S * S == inputs`` (square images, as every dataset here makes)."""
    for c in CHANNELS:
        side = math.isqrt(inputs // c)
        if inputs % c == 0 and side > 0 and c * side * side == inputs:
            return c, side, side
    return None


def _mlp_autoencoder_fields(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any] | None:
    """The shape-setting fields of the MLP net :class:`~models.families.vae.AutoEncoder` builds."""
    dense = sorted(int(m.group(1)) for name in shapes if (m := _ENCODER_DENSE.fullmatch(name)))
    first, latent = shapes.get("encoder.net.1.weight"), shapes.get("decoder.net.0.weight")
    if not dense or first is None or latent is None or len(first) != 2 or len(latent) != 2:
        return None
    image_shape = _image_shape(first[1])
    if image_shape is None:
        return None
    return {"arch": "mlp", "image_shape": image_shape, "hidden": first[0], "latent_dim": latent[1],
            "mlp_layers": len(dense)}


def config_hints(family: str, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    """The fields of ``family``'s config that ``shapes`` (a state dict's names and shapes) tell,
    as JSON values for a form or ``load_family_weights``; {} when they tell nothing certain."""
    try:
        if not issubclass(model_class(family), AutoEncoder):
            return {}
        fields = _mlp_autoencoder_fields(shapes)
        if fields is None:
            return {}
        config = dataclasses.replace(config_class(family)(), **fields)
        config.check_bounds()
        built = expected_shapes(meta_model(family, config))
    except Exception:  # noqa: BLE001 - a family or config that does not build says nothing
        return {}
    if built != {k: tuple(v) for k, v in shapes.items()}:
        return {}
    return {**fields, "image_shape": list(fields["image_shape"])}


def hinted_config(family: str, shapes: Mapping[str, tuple[int, ...]]) -> ModelConfig | None:
    """``family``'s defaults with :func:`config_hints` filled in; None without hints."""
    hints = config_hints(family, shapes)
    if not hints:
        return None
    return dataclasses.replace(config_class(family)(), **{**hints, "image_shape": tuple(hints["image_shape"])})
