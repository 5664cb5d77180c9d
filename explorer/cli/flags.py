"""Command-line flags shared by several commands, the value types every command's flags
use, and the model flags generated from the family config dataclasses (one per field, with
its help taken from the field's docs).

The value types (``positive_int``, ``non_negative_int``, ``positive_float``, ``finite_float``,
``seed_int``...) are argparse ``type=`` callables: a value out of range is a usage error,
one line and exit code 2 ("argument --batch-size: must be a positive integer, got '0'"),
never a value silently replaced by a default or a traceback later. They say their rules
with the engine's own field checks (:mod:`models.io.validate`), so a flag and a file's
field are refused in the same words.

:func:`add_open_flags` gives every command that opens a MODEL the flags that say how
(the allows for pickles and adapter code, and what a file made elsewhere does not record);
:func:`explorer.cli.inputs.load_run` reads them.
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
    "arch": "architecture: mlp or conv (AE/VAE families, cvae); auto, dense or conv (dcgan, wgan-gp, cgan)",
    "latent_dim": "size of the latent code (AE/VAE families; cvae: z beside the class)",
    "likelihood": "decoder likelihood: bernoulli (BCE) or gaussian (MSE)",
    "beta": "weight on the KL term",
}

#: config fields that never become flags: set from the data (the image shape, a conditional
#: family's classes: ``models.families.registry.data_fields``) or by a training flag of the same name
RESERVED = {"image_shape", "num_classes", "class_names", "lr", "channels", "seed", "steps", "epochs", "batch_size",
            "device", "fast", "out", "dataset", "lr_decay"}

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


#: the ``--class`` flag's help, for the commands that take one (sample, decode, encode)
CLASS_HELP = ("class-conditional models (cvae, cgan): the class, by number (0 is the first) or by name "
              "(e.g. 7, or Trouser for Fashion-MNIST)")


def add_class_flag(p: argparse.ArgumentParser, help: str = CLASS_HELP) -> None:
    """``--class K`` (``args.class_label``): a class number or name, resolved against the model's
    own class names once it is open (:func:`explorer.cli.inputs.class_index`)."""
    p.add_argument("--class", dest="class_label", metavar="K", help=help)


def add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES)


#: the positional MODEL's help, for every command that opens one
MODEL_HELP = ("run folder, checkpoint, or a model made elsewhere: a state dict (.safetensors, .pth/.pt with "
              "--allow-pickle), an ONNX file or folder with a manifest.json, an adapter .py (with --allow-code)")


def add_model_argument(p: argparse.ArgumentParser) -> None:
    """The positional MODEL (``args.run``): anything the app opens."""
    p.add_argument("run", type=Path, metavar="MODEL", help=MODEL_HELP)


def add_run_command(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A command that draws images from a model (render-path, traverse): its parser, with the
    MODEL argument first. The command adds its own flags, then :func:`add_image_out_flags`."""
    p = sub.add_parser(name, help=help)
    add_model_argument(p)
    return p


def add_image_out_flags(p: argparse.ArgumentParser, out_help: str) -> None:
    """The last flags of a command from :func:`add_run_command`: the required ``--out FILE``
    and the flags that say how to open MODEL (:func:`add_open_flags`)."""
    p.add_argument("--out", required=True, type=Path, help=out_help)
    add_open_flags(p)


def add_open_flags(p: argparse.ArgumentParser) -> None:
    """How to open MODEL: ``--allow-pickle``, ``--allow-code``, and for files made elsewhere
    ``--family``/``--config`` (a bare state dict of one of the app's families),
    ``--output-range`` (ONNX) and ``--image-shape`` (an examples VAE of non-square images).
    :func:`explorer.cli.inputs.load_run` reads them all."""
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow pickle-based .pt/.pth/.ckpt files, for files you trust (they are read tensors-only, "
                        "and one holding anything else is refused)")
    g = p.add_argument_group("models made elsewhere")
    g.add_argument("--allow-code", action="store_true",
                   help="allow a Python adapter file (.py): opening it runs its code, so only for files you trust")
    g.add_argument("--family", metavar="NAME", help="a bare state dict of this app family (vae, dcgan, ...), "
                                                   "instead of recognising it from its tensor names")
    g.add_argument("--config", type=config_json, metavar="JSON",
                   help="with --family: its config, as JSON text or a .json file (default: the family's defaults)")
    # two values, not "LO,HI": argparse reads "-1,1" as an unknown option, while "-1" alone is a number
    g.add_argument("--output-range", nargs=2, type=finite_float, action=_RangeAction, metavar=("LO", "HI"),
                   help="ONNX: the range of the decoder's raw output, e.g. -1 1 (default: read from its last op "
                        "or the manifest)")
    g.add_argument("--image-shape", type=image_shape, metavar="C,H,W",
                   help="a PyTorch examples VAE, or an MLP autoencoder opened with --family alone: its images' "
                        "shape (default: read as square, 1 or 3 channels)")


def config_json(text: str) -> dict[str, Any]:
    """``--config``: a JSON object given inline (``{"latent_dim": 8}``) or as a file's name."""
    from models.io.files import FileRefused
    from models.io.json_io import parse_json, read_json

    try:
        value = parse_json(text, "--config") if text.lstrip().startswith("{") else read_json(text, "config file")
    except FileRefused as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object of config fields, got a {type(value).__name__}")
    return value


def _numbers(text: str, n: int, what: str) -> list[float]:
    values = finite_floats(text)  # refuses NaN and infinities itself
    if len(values) != n:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return values


class _RangeAction(argparse.Action):
    """``--output-range LO HI``: stored as a (lo, hi) tuple; LO not below HI is a usage error."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        lo, hi = values
        if not lo < hi:
            raise argparse.ArgumentError(self, f"must be LO HI with LO below HI, got {lo:g} {hi:g}")
        setattr(namespace, self.dest, (float(lo), float(hi)))


def image_shape(text: str) -> tuple[int, int, int]:
    """``--image-shape``: channels (1 or 3), height and width, positive integers ("1,28,28")."""
    shape = _numbers(text, 3, "three comma-separated integers C,H,W")
    if any(v != int(v) or v < 1 or v > 2**16 for v in shape) or shape[0] not in (1, 3):
        raise argparse.ArgumentTypeError(f"must be C,H,W: C 1 or 3, H and W positive integers, got {text!r}")
    c, h, w = (int(v) for v in shape)
    return c, h, w


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
            rule = field_spec(name, kind, f.metadata.get("max"), f.metadata.get("min"))
            g.add_argument(flag, dest=name, type=spec_type(rule, kind, kind.__name__), default=None,
                           metavar=name.upper(), help=help_text)
        elif isinstance(default, str):
            g.add_argument(flag, dest=name, type=str, default=None, help=help_text)
