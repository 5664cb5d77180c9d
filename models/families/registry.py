"""Family name -> model class, and building models from plain dicts (CLI flags, JSON)."""
from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import re
from typing import Any

from models.families.base import LatentModel, ModelConfig

#: family -> (module, class). Modules are imported on first use so a broken or slow
#: family never stops the others from loading.
FAMILIES: dict[str, tuple[str, str]] = {
    "ae": ("models.families.vae", "AutoEncoder"),
    "vae": ("models.families.vae", "VAE"),
    "beta-vae": ("models.families.beta_vae", "BetaVAE"),
    "aae": ("models.families.aae", "AdversarialAE"),
    "gan": ("models.families.gan", "GAN"),
    "dcgan": ("models.families.dcgan", "DCGAN"),
    "wgan-gp": ("models.families.wgan_gp", "WGANGP"),
    "infogan": ("models.families.infogan", "InfoGAN"),
    "pggan": ("models.families.pggan", "PGGAN"),
    "cvae": ("models.families.cvae", "CVAE"),
    "cgan": ("models.families.cgan", "CGAN"),
}

#: families whose latent comes from an encoder (reconstructions, the latent map, compare)
ENCODER_FAMILIES = ("ae", "vae", "beta-vae", "aae", "cvae")


class UnknownFamily(ValueError):
    pass


def model_class(family: str) -> type[LatentModel]:
    try:
        module, name = FAMILIES[family]
    except KeyError:
        raise UnknownFamily(f"unknown model {family!r}; choose one of: {', '.join(FAMILIES)}") from None
    return getattr(importlib.import_module(module), name)


def config_class(family: str) -> type[ModelConfig]:
    return model_class(family).Config


def build_model(family: str, config: ModelConfig | dict[str, Any] | None = None, **overrides: Any) -> LatentModel:
    """Build a fresh model. ``overrides`` may include keys the family doesn't know (the CLI
    passes all its flags); those set to None or unknown to the family are ignored."""
    cls = model_class(family)
    if isinstance(config, ModelConfig):
        cfg = config
    else:
        known = {f for f in cls.Config.__dataclass_fields__}
        merged = dict(config or {})
        merged.update({k: v for k, v in overrides.items() if v is not None and k in known})
        cfg = cls.Config.from_dict(merged)
    return cls(cfg)


def data_fields(family: str, dataset: Any) -> dict[str, Any]:
    """The config fields a fresh ``family`` model takes from the dataset it trains on: its
    image shape, and for a class-conditional family its number of classes and their names
    (``LatentModel.config_from_data``; DataError for such a family on unlabelled data)."""
    return model_class(family).config_from_data(dataset)


def field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comments above each field of a config dataclass and its bases (the GUI's
    tooltips and the CLI's --help come from them, so each is written once). A field that
    several families declare alike may carry its doc in ``metadata["doc"]`` instead (see
    ``models.families.adversarial.ema_field``); a ``#:`` comment above it still wins."""
    return dict(_field_docs(cls))


@functools.cache  # reading source is slow, and every CLI command builds its --help from this
def _field_docs(cls: type) -> dict[str, str]:
    fields = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
    docs: dict[str, str] = {f.name: f.metadata["doc"] for f in fields if "doc" in f.metadata}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#:"):
                pending.append(stripped[2:].strip())
                continue
            m = re.match(r"(\w+)\s*:", stripped)
            if m and pending:
                docs[m.group(1)] = " ".join(pending)
            if stripped:
                pending = []
    return docs
