"""A bare state dict of one of the app's own families (weights only, as other tools export
them), opened when the caller says which family and config made it.

The model is measured on the meta device and checked against the size budget before it is
built, then loaded with ``strict=True``; a dict that does not fit gets one message listing
the missing and unexpected names (and the first shape that differs), so a user can tell a
wrong config (every shape off) from a wrong family (every name off).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from models.families.base import LatentModel, ModelConfig
from models.families.registry import UnknownFamily, build_model, config_class
from models.foreign.errors import ForeignModelError
from models.io.files import FileRefused
from models.io.validate import check_config
from models.runs.model_budget import (
    ModelTooLarge,
    check_budget,
    expected_shapes,
    meta_model,
)

#: names a message lists of each kind before it says "and N more"
SHOWN = 5


def _names(keys: list[str]) -> str:
    more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def describe_misfit(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]) -> str | None:
    """Why tensors of shapes ``found`` do not load into a model of ``expected`` (every
    missing and unexpected name, counted), or None when they do."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_names(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
    wrong = [k for k in expected if k in found and tuple(found[k]) != tuple(expected[k])]
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} of another shape ({k} is {list(found[k])} in the file, the config makes "
                     f"{list(expected[k])})")
    return "; ".join(parts) or None


def load_family_weights(tensors: Mapping[str, torch.Tensor], path: str | Path, family: str,
                        config: ModelConfig | Mapping[str, Any] | None = None) -> LatentModel:
    """The ``family`` model of ``config`` (None: the family's defaults) holding ``tensors``,
    in eval mode on the CPU; ForeignModelError naming the file when they do not fit."""
    path = Path(path)
    try:
        if isinstance(config, ModelConfig):
            cfg = config
        else:
            cls = config_class(family)
            cfg = cls.from_dict(check_config(cls, dict(config or {}), path, "config"))
        measured = meta_model(family, cfg)
        check_budget(measured, path)
    except UnknownFamily as e:
        raise ForeignModelError(path, str(e)) from None
    except FileRefused as e:  # a config field of the wrong type
        raise ForeignModelError(path, e.reason) from None
    except ModelTooLarge as e:
        raise ForeignModelError(path, str(e).split(": ", 1)[-1]) from None
    except (ValueError, TypeError) as e:
        raise ForeignModelError(path, f"the {family} config is not valid: {str(e).splitlines()[0]}") from None
    misfit = describe_misfit(expected_shapes(measured), {k: tuple(v.shape) for k, v in tensors.items()})
    if misfit:
        raise ForeignModelError(path, f"does not hold the weights of a {family} model of this config: {misfit}")
    model = build_model(family, cfg)
    try:
        model.load_state_dict(dict(tensors), strict=True)
    except RuntimeError as e:  # dtypes that do not copy, and the like
        raise ForeignModelError(path, f"the {family} weights do not load: {str(e).splitlines()[-1].strip()[:200]}") from None
    return model.eval()


def families_named_like(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The app's families whose default model has exactly these tensor names (the shapes
    may differ: another config; several families share names, the VAEs do): the hint for a
    bare state dict opened without a family."""
    from models.families.registry import FAMILIES

    names = set(tensors)
    found = []
    for family in FAMILIES:
        try:
            if set(meta_model(family).state_dict()) == names:
                found.append(family)
        except Exception:  # a family that cannot build at its defaults is simply no match
            continue
    return found
