"""Opening anything the app opens, by what the path is.

:func:`open_model` is the one door for the window (File > Open, drops, Recent files), the
CLI (every command's MODEL) and the notebook API: the app's own checkpoints and run
folders through :func:`models.runs.checkpoint.load_checkpoint`, everything else through
:func:`open_foreign`. Both return a :class:`~models.runs.checkpoint.Checkpoint` (a foreign
model's training state is empty: it records no dataset and no steps).

What needs the user's trust is known from the path alone (:func:`trust_needed`), so a
window can ask before anything is read: a pickle (``allow_pickle``) or a Python adapter
(``allow_code``). Nothing else runs code: safetensors and ONNX are data.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from models.families.base import LatentModel, ModelConfig
from models.foreign.errors import ForeignModelError
from models.foreign.manifest import MANIFEST_NAME
from models.foreign.state_dicts import OwnCheckpoint, read_state_dict
from models.io.files import describe_os_error
from models.runs.checkpoint import (
    PICKLE_SUFFIXES,
    Checkpoint,
    checkpoint_metadata,
    load_checkpoint,
)
from models.runs.checkpoint_header import FORMAT, CheckpointError

STATE_DICT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
#: every suffix File > Open offers (a folder opens too: a run folder or one holding manifest.json)
OPENABLE_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".onnx", ".json", ".py")
#: what About / Help / --help say opens (one line each)
FORMATS = (
    "Latent Explorer checkpoints (.safetensors) and run folders",
    "PyTorch state dicts of the PyTorch examples VAE and DCGAN generator (.safetensors; .pth / .pt with the pickle allow)",
    "state dicts of the app's own families, given the family and config",
    "ONNX decoders (.onnx), with an optional encoder and a manifest.json (a folder holding one opens as a model)",
    "Python adapter files (.py with a load() function; they run code, so only with the code allow)",
)

Trust = Literal["pickle", "code"]


def trust_needed(path: str | Path) -> Trust | None:
    """What opening ``path`` would need the user to trust: "pickle" (a pickle-based file),
    "code" (an adapter file: its code runs), or None (it runs nothing)."""
    suffix = Path(path).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    if suffix == ".py":
        return "code"
    return None


def _is_own_safetensors(path: Path) -> bool:
    meta = checkpoint_metadata(path)
    return meta is not None and meta.get("format") == FORMAT


def _expanded(path: str | Path) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "~someone" who has no home here: the path as typed, refused below as missing
        return Path(path)


def _checked_path(path: Path) -> os.stat_result:
    """``os.stat`` of a regular, non-empty file or a folder, else ForeignModelError: a pipe
    or device is refused from its stat, before anything opens it (a FIFO would block)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ForeignModelError(path, describe_os_error(e, "file or folder")) from None
    except ValueError:  # "embedded null byte": no file has such a name
        raise ForeignModelError(path, "the path holds a NUL character, so no file has it") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise ForeignModelError(path, "is not a regular file (a pipe or device), so it is not read")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise ForeignModelError(path, "is empty (0 bytes)")
    return st


def _run_folder(path: Path, device: str | torch.device = "cpu") -> Checkpoint:
    """The run folder ``path``; a folder named like a model file that is no run folder says so."""
    try:
        return load_checkpoint(path, device)
    except CheckpointError:
        if path.suffix.lower() in OPENABLE_SUFFIXES:
            raise ForeignModelError(path, f"is a folder, not a {path.suffix} file (and it holds neither a run's "
                                          f"checkpoints nor a {MANIFEST_NAME})") from None
        raise


def open_foreign(path: str | Path, allow_pickle: bool = False, allow_code: bool = False, *,
                 family: str | None = None, config: ModelConfig | Mapping[str, Any] | None = None,
                 output_range: tuple[float, float] | None = None,
                 image_shape: tuple[int, int, int] | None = None) -> LatentModel:
    """The model in a file made elsewhere, in eval mode on the CPU.

    * a state dict (``.safetensors``, or ``.pth``/``.pt`` when ``allow_pickle``): of
      ``family`` with ``config`` when a family is named, else recognised from its names and
      shapes (``image_shape``: the images of an examples VAE whose size is not square);
    * ``.onnx``, ``manifest.json`` or a folder holding one: ONNX graphs (``output_range``
      overrides what the graph or manifest says);
    * ``.py``: an adapter file, when ``allow_code``.

    Raises ForeignModelError (one line naming the file and the problem) for anything else.
    One of the app's own pickle checkpoints opens as the model in it."""
    path = _expanded(path)
    try:
        return _open_foreign(path, allow_pickle, allow_code, family, config, output_range, image_shape)
    except OwnCheckpoint:
        return load_checkpoint(path, allow_pickle=allow_pickle).model


def _open_foreign(path: Path, allow_pickle: bool, allow_code: bool, family: str | None,
                  config: ModelConfig | Mapping[str, Any] | None, output_range: tuple[float, float] | None,
                  image_shape: tuple[int, int, int] | None) -> LatentModel:
    """:func:`open_foreign`, raising OwnCheckpoint for one of the app's pickle checkpoints."""
    st = _checked_path(path)
    suffix = path.suffix.lower()
    if stat.S_ISDIR(st.st_mode):
        if not (path / MANIFEST_NAME).is_file():
            if path.suffix.lower() in OPENABLE_SUFFIXES:
                raise ForeignModelError(path, f"is a folder, not a {path.suffix} file (nor a folder holding a "
                                              f"{MANIFEST_NAME})")
            raise ForeignModelError(path, f"is a folder without a {MANIFEST_NAME} (nor a run folder's checkpoints)")
        from models.foreign.onnx_model import open_manifest

        return open_manifest(path, output_range)
    if suffix == ".onnx":
        from models.foreign.onnx_model import open_onnx_file

        return open_onnx_file(path, output_range)
    if suffix == ".json":
        from models.foreign.onnx_model import open_manifest

        return open_manifest(path, output_range)
    if suffix == ".py":
        from models.foreign.adapter import open_adapter

        return open_adapter(path, allow_code)
    if suffix in STATE_DICT_SUFFIXES:
        tensors = read_state_dict(path, allow_pickle)
        if family is not None:
            from models.foreign.family_weights import load_family_weights

            return load_family_weights(tensors, path, family, config, image_shape)
        from models.foreign.recognise import recognise

        return recognise(tensors, path, image_shape)
    raise ForeignModelError(path, f"is not a kind of file this app opens ({', '.join(OPENABLE_SUFFIXES)}, or a folder)")


def open_model(path: str | Path, device: str | torch.device = "cpu", *, allow_pickle: bool = False,
               allow_code: bool = False, family: str | None = None,
               config: ModelConfig | Mapping[str, Any] | None = None,
               output_range: tuple[float, float] | None = None,
               image_shape: tuple[int, int, int] | None = None) -> Checkpoint:
    """Anything the app opens, as a Checkpoint on ``device`` (see the module docstring).

    The app's own checkpoint (a ``.safetensors`` with its header, a run folder, one of its
    pickle checkpoints) opens as one; a ``family`` named opens a bare state dict as that
    family's; everything else goes to :func:`open_foreign` with the same arguments."""
    path = _expanded(path)
    st = _checked_path(path)
    suffix = path.suffix.lower()
    own = (stat.S_ISDIR(st.st_mode) and not (path / MANIFEST_NAME).is_file()) \
        or (suffix == ".safetensors" and family is None and _is_own_safetensors(path))
    if own:
        return _run_folder(path, device) if stat.S_ISDIR(st.st_mode) else load_checkpoint(path, device)
    try:
        model = _open_foreign(path, allow_pickle, allow_code, family, config, output_range, image_shape)
    except OwnCheckpoint:
        return load_checkpoint(path, device, allow_pickle=allow_pickle)
    return Checkpoint(model.to(device).eval(), {}, path)
