"""Command-line flags shared by several commands, the value types every command's flags
use, and the model flags generated from the family config dataclasses (one per field, with
its help taken from the field's docs).

The value types (``positive_int``, ``non_negative_int``, ``positive_float``, ``finite_float``,
``seed_int``...) are argparse ``type=`` callables: a value out of range is a usage error,
one line and exit code 2 ("argument --batch-size: must be a positive integer, got '0'"),
never a value silently replaced by a default or a traceback later. They say their rules
with the engine's own field checks (:mod:`models.io.validate`), so a flag and a file's
field are refused in the same words.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any, Callable

from models.io.validate import Int, Number, Spec, field_spec

#: hand-written help for the core model flags; the others take theirs from the config field docs
CORE_MODEL_FLAGS = {
    "arch": "architecture: mlp or conv (AE/VAE family); auto, dense or conv (dcgan)",
    "latent_dim": "size of the latent code (AE/VAE family)",
    "likelihood": "decoder likelihood: bernoulli (BCE) or gaussian (MSE)",
    "beta": "weight on the KL term",
}

#: config fields that never become flags: set from the data or by a training flag of the same name
RESERVED = {"image_shape", "lr", "channels", "seed", "steps", "epochs", "batch_size", "device", "fast", "out", "dataset",
            "lr_decay"}

DEVICES = ("auto", "cpu", "cuda", "mps")


def spec_type(spec: Spec, parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses with ``parse`` and accepts what ``spec`` accepts."""
    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except (ValueError, OverflowError):
            value = None
        if value is None or not spec.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {spec.describe()}, got {text!r}")
        return value

    convert.__name__ = name
    return convert


positive_int = spec_type(Int(lo=1), int, "positive_int")
non_negative_int = spec_type(Int(lo=0), int, "non_negative_int")
positive_float = spec_type(Number(positive=True), float, "positive_float")
non_negative_float = spec_type(Number(lo=0), float, "non_negative_float")
finite_float = spec_type(Number(), float, "finite_float")


def seed_int(text: str) -> int:
    """A random seed: any integer of at most 18 digits (so seed + step never overflows torch's range)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or abs(value) >= 10**18:
        raise argparse.ArgumentTypeError(f"must be an integer of at most 18 digits, got {text!r}")
    return value


def finite_floats(text: str) -> list[float]:
    """Comma-separated finite numbers ("0.5,-1"), for flags that take one per code."""
    values = []
    for part in (p for p in text.split(",") if p.strip()):
        try:
            value = float(part)
        except ValueError:
            value = float("nan")
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"must be comma-separated finite numbers, got {text!r}")
        values.append(value)
    return values


def add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES)


def add_allow_pickle_flag(p: argparse.ArgumentParser, explain: bool = False) -> None:
    """``--allow-pickle``; ``explain`` shows the warning in the command's help."""
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow .pt/.pth/.ckpt files (can run code!)" if explain else None)


def add_run_command(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A command that draws images from a run (render-path, traverse): its parser, with the
    ``run`` argument first. The command adds its own flags, then :func:`add_image_out_flags`."""
    p = sub.add_parser(name, help=help)
    p.add_argument("run", type=Path)
    return p


def add_image_out_flags(p: argparse.ArgumentParser, out_help: str) -> None:
    """The last flags of a command from :func:`add_run_command`: the required ``--out FILE``
    and ``--allow-pickle``."""
    p.add_argument("--out", required=True, type=Path, help=out_help)
    add_allow_pickle_flag(p)


def field_families() -> dict[str, list[str]]:
    """Config field -> the families that have it."""
    from models.families.registry import FAMILIES, config_class

    owners: dict[str, list[str]] = {}
    for fam in FAMILIES:
        try:
            for f in dataclasses.fields(config_class(fam)):
                owners.setdefault(f.name, []).append(fam)
        except Exception:  # noqa: BLE001 - as in family_fields
            continue
    return owners


def flag_help(name: str, families: list[str]) -> str:
    """The field's documentation (its first sentence, from the first family that has it),
    which families take it, and its default when they share one."""
    from models.families.registry import config_class, field_docs

    doc = field_docs(config_class(families[0])).get(name, "").replace("``", "")
    doc = re.split(r"(?<!\bal)(?<!e\.g)\.\s+(?=[A-Z\d])", doc)[0].rstrip(".")  # first sentence ("et al." is not an end)
    if len(doc) > 110:
        doc = doc[:110].rsplit(" ", 1)[0] + "…"
    defaults = {repr(getattr(config_class(fam)(), name)) for fam in families}
    default = f"default {getattr(config_class(families[0])(), name)}" if len(defaults) == 1 else "default per family"
    which = ", ".join(families) if len(families) < 8 else "all families"
    return f"{doc or name.replace('_', ' ')} [{which}; {default}]".replace("%", "%%")


def family_fields() -> dict[str, dataclasses.Field]:
    """Union of every family's config fields (first definition wins), for --flags."""
    from models.families.registry import FAMILIES, config_class

    fields: dict[str, dataclasses.Field] = {}
    for fam in FAMILIES:
        try:
            cls = config_class(fam)
        except Exception:  # a family that fails to import must not break the CLI
            continue
        for f in dataclasses.fields(cls):
            if f.name not in RESERVED and f.name not in fields:
                fields[f.name] = f
    return fields


def parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """A flag per family config field (``latent_dim`` -> ``--latent-dim``), default None: unset
    flags leave the family's own default."""
    g = p.add_argument_group("model hyperparameters (defaults: each family's paper defaults)")
    owners = field_families()
    for name, f in family_fields().items():
        default = f.default
        flag = "--" + name.replace("_", "-")
        help_text = CORE_MODEL_FLAGS.get(name) or flag_help(name, owners[name])
        if isinstance(default, bool):
            g.add_argument(flag, dest=name, type=parse_bool, default=None, metavar="BOOL", help=help_text)
        elif isinstance(default, (int, float)):  # the rule a checkpoint's field of this name follows
            kind = type(default)
            g.add_argument(flag, dest=name, type=spec_type(field_spec(name, kind), kind, kind.__name__), default=None,
                           metavar=name.upper(), help=help_text)
        elif isinstance(default, str):
            g.add_argument(flag, dest=name, type=str, default=None, help=help_text)
