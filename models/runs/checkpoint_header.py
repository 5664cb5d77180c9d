"""What a checkpoint's header says, checked field by field before any tensor is read.

A ``.safetensors`` header holds the tensors' names, dtypes and shapes, and string
metadata: ``format``, ``family``, and four JSON fields, each checked here against its
schema, so a file with a wrong type anywhere is refused in one line naming the file and
the field (``run.safetensors: train_state.step must be a non-negative integer, got 'abc'``):

* ``model_config``: every field against the family's config dataclass (its annotations:
  ints, floats, bools, strings, tuples of ints; sizes positive);
* ``train_state``: step, epoch, seconds, dataset, the ``train_config`` (batch size and log
  interval positive, rates numbers...), validation figures;
* ``optimizers``: each entry's ``param_groups`` and scalar state;
* ``latent_spec``: the layout the model declares.

Python's own JSON writer put ``NaN`` in older train states (a figure that could not be
computed), so ``NaN`` is read there, and only where a figure may be missing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from models.families.base import ModelConfig
from models.families.registry import UnknownFamily, model_class
from models.io.files import FileRefused, check_regular_file
from models.io.json_io import parse_json
from models.io.validate import Bool, Int, ListOf, Number, Obj, Str, check, check_config
from models.training.schedule import LR_DECAYS

FORMAT = "latent-explorer/1"
#: tensor-name prefix of optimizer state (model parameter names never start with it)
OPTIM_PREFIX = "__optimizer__/"


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or written; the message is for the user."""


TRAIN_CONFIG = Obj({
    "epochs": Number(lo=0, optional=True),
    "steps": Int(lo=0, optional=True),
    "batch_size": Int(lo=1),
    "lr": Number(lo=0, optional=True),
    "device": Str(max_len=64),
    "seed": Int(),
    "log_every": Int(lo=1),
    "snapshot_every": Int(lo=0),
    "checkpoint_every": Int(lo=0),
    "validation_size": Int(lo=0),
    "fast": Str(max_len=64),
    "lr_decay": Str(choices=LR_DECAYS),
    "explode_factor": Number(lo=0, finite=False),
})

#: a figure that could not be computed is NaN (older files) or null
_FIGURE = Number(finite=False, optional=True)

TRAIN_STATE = Obj({
    "step": Int(lo=0),
    "epoch": Number(lo=0, optional=True),
    "seconds": Number(lo=0, optional=True),
    "dataset": Str(max_len=256, optional=True),
    "data_dir": Str(optional=True),
    "image_shape": ListOf(Int(lo=1), length=3, optional=True),
    "train_config": TRAIN_CONFIG,
    "validation": Obj(other=_FIGURE, optional=True),
    "best_score": Number(finite=False),
    "cli": Str(max_len=1 << 16, optional=True),
    # the steps the run's schedule spans (models.training.schedule.schedule_record)
    "lr_schedule": Obj({"decay": Str(choices=LR_DECAYS), "start_step": Int(lo=0, hi=2**62),
                        "total_steps": Int(lo=0, hi=2**62), "scale": Number(lo=0, hi=1, optional=True)},
                       optional=True),
})

LATENT_SPEC = Obj({
    "z_dim": Int(lo=0, hi=2**31 - 1),
    "z_range": ListOf(Number(), length=2),
    "prior": Str(max_len=64),
    "categorical": ListOf(Int(lo=1, hi=2**31 - 1), max_len=64),
    "continuous": Int(lo=0, hi=2**31 - 1),
    "continuous_range": ListOf(Number(), length=2),
    "has_encoder": Bool(),
    "class_names": ListOf(Str(max_len=256), max_len=1 << 16, optional=True),
})

_PARAM_GROUP = Obj({"params": ListOf(Int(lo=0), max_len=1 << 20)}, required=("params",))
_SCALAR = Number(finite=False, optional=True)
OPTIMIZER = Obj({"param_groups": ListOf(_PARAM_GROUP, max_len=1024),
                 "scalars": Obj(other=Obj(other=_SCALAR))}, required=("param_groups",))
OPTIMIZERS = Obj(other=OPTIMIZER)


def parse_train_state(text: str | None, path: Path) -> dict[str, Any]:
    """The ``train_state`` metadata of ``path`` checked (see the module docstring); raises FileRefused."""
    value = parse_json(text or "{}", path, nonfinite="keep", field="train_state")
    return check(value, TRAIN_STATE, path, "train_state")


def check_train_state(value: Any, path: Path) -> dict[str, Any]:
    """An already-parsed train state (a pickle file's) checked like :func:`parse_train_state`."""
    return check(value, TRAIN_STATE, path, "train_state")


def config_from(family: str, value: Any, path: Path) -> ModelConfig:
    """The family's config from the checked ``model_config`` object (or its JSON text)."""
    cls = model_class(family).Config
    if isinstance(value, str):
        value = parse_json(value, path, field="model_config")
    checked = check_config(cls, value, path, "model_config")
    try:
        return cls.from_saved(checked)
    except (ValueError, TypeError) as e:
        raise FileRefused(path, f"model_config: {e}") from None


def parse_optimizers(text: str | None, path: Path) -> dict[str, Any] | None:
    """The ``optimizers`` metadata checked: None when the file has none."""
    if not text:
        return None
    value = check(parse_json(text, path, nonfinite="keep", field="optimizers"), OPTIMIZERS, path, "optimizers")
    for name, info in value.items():
        for idx in info.get("scalars", {}):
            if not idx.isdigit():
                raise FileRefused(path, f"optimizers.{name}.scalars has the key {idx!r}, not a parameter index")
    return value


def check_optimizer_tensors(names: list[str], optimizers: dict[str, Any] | None, path: Path) -> None:
    """Every ``__optimizer__/<name>/<index>/<key>`` tensor belongs to an optimizer of the metadata."""
    for key in names:
        parts = key[len(OPTIM_PREFIX):].split("/", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not optimizers or parts[0] not in optimizers:
            raise FileRefused(path, f"the tensor {key!r} belongs to no optimizer of its metadata")


@dataclass
class CheckpointHeader:
    """A checkpoint's header, every field checked; no tensor read yet."""

    path: Path
    family: str
    config: ModelConfig
    train_state: dict[str, Any]
    optimizers: dict[str, Any] | None
    #: tensor name -> shape, the model's tensors (optimizer tensors apart)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: the optimizer tensors' names
    optimizer_tensors: list[str] = field(default_factory=list)


def read_metadata(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """A safetensors file's metadata and tensor shapes (the header only), or CheckpointError."""
    try:
        check_regular_file(path, "checkpoint")
    except FileRefused as e:
        raise CheckpointError(str(e)) from None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except SafetensorError as e:
        raise CheckpointError(f"{path.name} is not a readable checkpoint (corrupt or truncated): {e}") from e
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from e
    return meta, shapes


def read_header(path: str | Path) -> CheckpointHeader:
    """The checked header of the checkpoint ``path``; CheckpointError naming the file and
    the field for anything that is not what it must be."""
    path = Path(path)
    meta, shapes = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is a safetensors file but not a Latent Explorer checkpoint "
                              "(no model config in its metadata)")
    try:
        family = meta.get("family")
        if not isinstance(family, str):
            raise FileRefused(path, "the metadata names no model family")
        config = config_from(family, meta.get("model_config"), path)
        if meta.get("latent_spec"):
            check(parse_json(meta["latent_spec"], path, field="latent_spec"), LATENT_SPEC, path, "latent_spec")
        train_state = parse_train_state(meta.get("train_state"), path)
        optimizers = parse_optimizers(meta.get("optimizers"), path)
        optim_names = [k for k in shapes if k.startswith(OPTIM_PREFIX)]
        check_optimizer_tensors(optim_names, optimizers, path)
    except UnknownFamily as e:
        raise CheckpointError(f"{path.name}: cannot rebuild the model: {e}") from e
    except FileRefused as e:
        raise CheckpointError(str(e)) from None
    model_shapes = {k: s for k, s in shapes.items() if not k.startswith(OPTIM_PREFIX)}
    return CheckpointHeader(path, family, config, train_state, optimizers, model_shapes, optim_names)
