"""A bare state dict of one of the app's own families (weights only, as other tools export
them), opened when the caller says which family and config made it (or only the family,
for an MLP autoencoder whose shapes tell its config: ``models.foreign.config_hints``).

The model is measured on the meta device and checked against the size budget before it is
built, then loaded with ``strict=True``; a dict that does not fit gets one message listing
the missing and unexpected names (and the first shape that differs), so a user can tell a
wrong config (every shape off) from a wrong family (every name off).

A window asking the user for the family first needs a guess to preselect:
:func:`guess_configs` reads only a ``.safetensors`` header (names and shapes, no tensor
data) or an allowed pickle (``weights_only``), ranks the families whose names match and
gives each the config fields its shapes tell.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from models.families.base import LatentModel, ModelConfig
from models.families.registry import UnknownFamily, build_model, config_class
from models.foreign.config_hints import config_hints, hinted_config
from models.foreign.errors import ForeignModelError
from models.foreign.state_dicts import (
    OwnCheckpoint,
    check_finite,
    read_state_dict,
    safetensors_shapes,
    strip_prefixes,
)
from models.io.files import FileRefused
from models.io.validate import check_config
from models.runs.model_budget import (
    ModelTooLarge,
    check_budget,
    config_shapes,
    expected_shapes,
    meta_model,
)

#: names a message lists of each kind before it says "and N more"
SHOWN = 5
#: which of several families with the same tensor names to guess first, when the shapes do
#: not tell (a VAE of latent d and an AE of latent 2d have identical state dicts): the ones
#: people train and export most often first
COMMON_FIRST = ("vae", "dcgan", "beta-vae", "gan", "wgan-gp", "infogan", "aae", "ae")


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
                        config: ModelConfig | Mapping[str, Any] | None = None,
                        image_shape: tuple[int, int, int] | None = None) -> LatentModel:
    """The ``family`` model of ``config`` holding ``tensors``, in eval mode on the CPU;
    ForeignModelError naming the file when they do not fit. Without a config: what the shapes
    tell (with ``image_shape`` for the one they read as square), else the family's defaults."""
    path = Path(path)
    try:
        if isinstance(config, ModelConfig):
            cfg = config
        else:
            cls = config_class(family)
            cfg = cls.from_dict(check_config(cls, dict(config or {}), path, "config"))
            if config is None:  # what the shapes tell, else the defaults or an earlier default's net
                shapes = {k: tuple(v.shape) for k, v in tensors.items()}
                cfg = hinted_config(family, shapes, image_shape) or _config_that_fits(family, cfg, tensors)
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
    check_finite(path, tensors)
    model = build_model(family, cfg)
    try:
        model.load_state_dict(dict(tensors), strict=True)
    except RuntimeError as e:  # dtypes that do not copy, and the like
        raise ForeignModelError(path, f"the {family} weights do not load: {str(e).splitlines()[-1].strip()[:200]}") from None
    return model.eval()


def _configs_to_try(defaults: ModelConfig) -> Iterator[ModelConfig]:
    """``defaults``, the family's config as it was before a default changed (its
    ``SAVED_BEFORE``, e.g. the beta-VAE's one-layer MLP), then the defaults at each other MLP
    depth (the tensor names count the layers, so a deeper or shallower MLP is still this family)."""
    yield defaults
    try:
        yield type(defaults).from_saved({})
    except (TypeError, ValueError):  # an earlier config that no longer builds fits nothing
        pass
    depth = next((f for f in dataclasses.fields(defaults) if f.name == "mlp_layers"), None)
    if depth is not None and getattr(defaults, "arch", "mlp") == "mlp":
        for layers in range(depth.metadata.get("min", 1), depth.metadata.get("max", 1) + 1):
            if layers != defaults.mlp_layers:  # type: ignore[attr-defined] - the field is there
                yield dataclasses.replace(defaults, mlp_layers=layers)


def _config_that_fits(family: str, defaults: ModelConfig, tensors: Mapping[str, torch.Tensor]) -> ModelConfig:
    """The first of :func:`_configs_to_try` whose tensor names are exactly ``tensors``' own;
    ``defaults`` when none is (the misfit message then says what differs)."""
    names = set(tensors)
    for config in _configs_to_try(defaults):
        shapes = config_shapes(family, config)
        if shapes is not None and set(shapes) == names:
            return config
    return defaults


@functools.cache
def _default_shapes(family: str) -> tuple[dict[str, tuple[int, ...]], ...]:
    """The state dict shapes of ``family`` at each of :func:`_configs_to_try` from its
    defaults, without repeats; () when none builds. Cached, as the defaults never change
    while the app runs."""
    variants: list[dict[str, tuple[int, ...]]] = []
    try:
        defaults = config_class(family)()
    except Exception:  # noqa: BLE001 - a family that cannot build at its defaults is simply no match
        return ()
    for config in _configs_to_try(defaults):
        shapes = config_shapes(family, config)
        if shapes is not None and shapes not in variants:
            variants.append(shapes)
    return tuple(variants)


def _matching_shapes(family: str, names: set[str]) -> dict[str, tuple[int, ...]] | None:
    """The shapes of the first config of ``family`` (see :func:`_default_shapes`) with exactly ``names``."""
    return next((shapes for shapes in _default_shapes(family) if set(shapes) == names), None)


def _families_with_names(names: Iterable[str]) -> list[str]:
    from models.families.registry import FAMILIES

    wanted = set(names)
    return [f for f in FAMILIES if _matching_shapes(f, wanted) is not None]


def families_named_like(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The app's families whose default model has exactly these tensor names (the shapes
    may differ: another config; several families share names, the VAEs do): the hint for a
    bare state dict opened without a family."""
    return _families_with_names(tensors)


def rank_families(shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    """The families whose tensor names ``shapes`` has, the likeliest first: those whose
    default config gives more of these shapes, then in :data:`COMMON_FIRST` order."""
    def key(family: str) -> tuple[int, int]:
        defaults = _matching_shapes(family, set(shapes)) or {}
        same = sum(tuple(shapes[k]) == v for k, v in defaults.items())
        common = COMMON_FIRST.index(family) if family in COMMON_FIRST else len(COMMON_FIRST)
        return -same, common

    return sorted(_families_with_names(shapes), key=key)


def file_shapes(path: str | Path, allow_pickle: bool = False) -> dict[str, tuple[int, ...]]:
    """Name -> shape of the state dict at ``path``, unwrapped as :func:`read_state_dict`
    does: a ``.safetensors`` header only (no tensor data is read), a pickle only when
    allowed (``weights_only``). ForeignModelError (or OwnCheckpoint) as the reader raises."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return {k: tuple(v.shape) for k, v in read_state_dict(path, allow_pickle).items()}
    shapes = safetensors_shapes(path)
    return strip_prefixes(shapes)  # type: ignore[arg-type] - it reads the names only


def guess_families(path: str | Path, allow_pickle: bool = False) -> list[str]:
    """The app's families whose tensor names the state dict at ``path`` has, the likeliest
    first (:func:`rank_families`); [] when none match or the file is one of the app's own
    pickle checkpoints. Reads what :func:`file_shapes` reads; ForeignModelError for a file
    it cannot read (a pickle without ``allow_pickle``, a corrupt file)."""
    return guess_configs(path, allow_pickle)[0]


def guess_configs(path: str | Path, allow_pickle: bool = False) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """:func:`guess_families`, with the config fields the file's shapes tell for each family
    that has any (:func:`~models.foreign.config_hints.config_hints`: only hints that fit exactly)."""
    try:
        shapes = file_shapes(path, allow_pickle)
    except OwnCheckpoint:
        return [], {}
    return configs_told(shapes)


def configs_told(shapes: Mapping[str, tuple[int, ...]]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The families whose names ``shapes`` has, the likeliest first (:func:`rank_families`),
    and the config fields the shapes tell for each family that has any."""
    matches = rank_families(shapes)
    return matches, {family: hint for family in matches if (hint := config_hints(family, shapes))}
