"""What the commands read: the model (anything the app opens, with the flags that say how),
a dataset, a model's own data, and a class named on the command line (``--class``)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import CLIError
from .progress import download_progress


def load_run(args: argparse.Namespace, device: str = "cpu") -> Any:
    """The model named by ``args.run`` as a Checkpoint on ``device``: anything the app opens
    (a run folder, one of its checkpoints, a state dict, ONNX, an adapter file), with the
    flags of :func:`explorer.cli.flags.add_open_flags` (a command without some of them gets
    their defaults). A flag that does not apply to that kind of file is refused, not ignored."""
    from models.foreign.open import open_model
    from models.training.device import resolve_device

    return open_model(args.run, resolve_device(device), **open_options(args))


def open_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`models.foreign.open.open_model` that ``args`` gives,
    checked against the kind of file ``args.run`` is; CLIError for a flag that would be ignored."""
    from models.foreign.open import STATE_DICT_SUFFIXES, trust_needed

    path = Path(args.run).expanduser()
    _check_exists(path)
    family, config = getattr(args, "family", None), getattr(args, "config", None)
    output_range, shape = getattr(args, "output_range", None), getattr(args, "image_shape", None)
    allow_code = bool(getattr(args, "allow_code", False))
    suffix = path.suffix.lower()
    state_dict = suffix in STATE_DICT_SUFFIXES and not _is_dir(path)
    if config is not None and family is None:
        raise CLIError("--config goes with --family (the family whose config it is)")
    if family is not None and not state_dict:
        raise CLIError(f"--family opens a bare state dict (.safetensors, .pth, .pt); {path.name} is not one")
    if shape is not None and (not state_dict or config is not None):
        raise CLIError("--image-shape is for a state dict opened without --config (a PyTorch examples VAE, or "
                       "--family alone); with --config, give image_shape in it")
    if output_range is not None and not _is_onnx(path):
        raise CLIError(f"--output-range is for ONNX models (.onnx, manifest.json or its folder); {path.name} is not one")
    if trust_needed(path) == "code" and not allow_code:
        # before the engine is asked: the file is not even read
        raise CLIError(f"{path.name}: is a Python adapter file, and opening it would run its code, so it was not "
                       "opened; pass --allow-code if you trust it")
    return {"allow_pickle": bool(getattr(args, "allow_pickle", False)), "allow_code": allow_code,
            "family": family, "config": config, "output_range": output_range, "image_shape": shape}


def _check_exists(path: Path) -> None:
    """CLIError naming ``path`` when it cannot be looked at (missing, not readable), worded
    for what the name says it is; before the flags are checked against its kind."""
    import os

    from models.foreign.open import STATE_DICT_SUFFIXES
    from models.io.files import describe_os_error

    try:
        os.stat(path)
    except OSError as e:
        what = "checkpoint" if path.suffix.lower() in STATE_DICT_SUFFIXES else "file or folder"
        raise CLIError(f"{path.name or path}: {describe_os_error(e, what)}") from None


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; False when it cannot be looked at (the engine then says why)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _is_onnx(path: Path) -> bool:
    from models.foreign.manifest import MANIFEST_NAME

    if path.suffix.lower() in (".onnx", ".json"):
        return True
    try:
        return path.is_dir() and (path / MANIFEST_NAME).is_file()
    except OSError:
        return False


def load_data(name: str, data_dir: Path | None, image_size: int | None, channels: int, no_download: bool,
              quiet: bool) -> Any:
    """The dataset, with download progress on stderr unless ``quiet``; never downloads when
    ``no_download`` or the environment sets LATENT_EXPLORER_NO_DOWNLOAD=1."""
    from models.data import load_dataset
    from models.runs.opening import downloads_allowed

    progress = None if quiet else download_progress()
    return load_dataset(name, data_dir, download=downloads_allowed(not no_download), progress=progress,
                        image_size=image_size, channels=channels)


def load_model_data(model: Any, request: Any, no_download: bool, quiet: bool) -> Any:
    """The dataset of ``request`` (a models.runs.opening.DatasetRequest) checked to fit
    ``model``, with download progress on stderr unless ``quiet``."""
    from models.runs.opening import load_model_dataset

    return load_model_dataset(model, request, download=not no_download, progress=None if quiet else download_progress())


def class_names(model: Any, flag: str) -> tuple[str, ...]:
    """The class names of a class-conditional ``model``; CLIError saying ``flag`` does not
    apply to any other."""
    spec = model.latent_spec
    if not spec.conditional:
        hint = " (InfoGAN's code: --categorical)" if spec.categorical else ""
        raise CLIError(f"{flag} is for class-conditional models (cvae, cgan); "
                       f"{getattr(model, 'family', 'this model')} has no class label{hint}")
    return spec.class_names


def class_index(model: Any, value: str, flag: str = "--class") -> int:
    """The class ``value`` names for a class-conditional ``model``: its number (0 is the
    first) or its name as the model records it (digits "0".."9", Fashion-MNIST's "Trouser",
    a folder's subfolder; case ignored when that is unambiguous). CLIError for a model
    without a class label, or a class it does not have (the message lists them)."""
    names = class_names(model, flag)
    family = getattr(model, "family", "this model")
    if value in names:
        return names.index(value)
    folded = [i for i, name in enumerate(names) if name.casefold() == value.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    try:
        k = int(value)
    except ValueError:
        k = None
    if k is not None and 0 <= k < len(names):
        return k
    shown = ", ".join(f"{i} {n!r}" if n != str(i) else n for i, n in enumerate(names[:12]))
    more = f" and {len(names) - 12} more" if len(names) > 12 else ""
    raise CLIError(f"{flag} {value!r}: {family} has {len(names)} classes: {shown}{more}")
