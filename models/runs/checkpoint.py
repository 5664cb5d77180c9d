"""Checkpoints: one ``.safetensors`` file, the config and training state as JSON metadata.

Loading rebuilds the model from the metadata alone: no pickle anywhere. Files are written
atomically (temp file in the same folder, fsync, rename) so a crash or a full disk never
leaves a half-written checkpoint in place of a good one. Pickle-based files (``.pt``,
``.pth``, ``.ckpt``) are refused unless the caller explicitly allows them, and even then
are read with ``weights_only=True``.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from models.families.base import LatentModel
from models.families.registry import UnknownFamily, build_model
from models.io.atomic import atomic_write_bytes
from models.io.files import FileRefused, check_regular_file, describe_os_error
from models.io.json_io import dumps_json
from models.runs.checkpoint_header import (FORMAT, OPTIM_PREFIX, CheckpointError, check_train_state,
                                           config_from, read_header, read_metadata)
from models.runs.model_budget import ModelTooLarge, check_budget, expected_shapes, meta_model, shape_mismatch

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".bin")


@dataclass
class Checkpoint:
    model: LatentModel
    #: step, epoch, seconds, train config, dataset name, metrics...
    train_state: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: {optimizer name: torch state_dict} when the file carries them (a run's latest
    #: checkpoint does, so a resumed run keeps Adam's moments); None otherwise
    optimizer_state: dict[str, dict[str, Any]] | None = None

    @property
    def family(self) -> str:
        return self.model.family


def optimizer_parts(optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The optimizers' state split for a file: the state tensors, live (not copied), keyed
    ``__optimizer__/<name>/<param index>/<key>``, and the rest (param groups, scalar state) as
    a structure for :func:`optimizer_meta_json`. Param-group values may still be tensors here
    (a captured run keeps its learning rate as a device tensor)."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, st in sd["state"].items():
            for key, value in st.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{OPTIM_PREFIX}{name}/{idx}/{key}"] = value.detach()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, meta


def _plain(value: Any) -> Any:
    """``value`` with every tensor in it as a number (or a list of them), for JSON."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1 and value.dtype == torch.float32:
            # the shortest decimal that is this float32: the rate as configured (0.001, which a
            # float run writes), not its float32 neighbour 0.0010000000474974513
            return float(str(np.float32(value.item())))
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def optimizer_meta_json(meta: dict[str, Any]) -> str:
    """The non-tensor part of :func:`optimizer_parts` as the file's ``optimizers`` metadata:
    tensor-valued hyperparameters are written as plain numbers, so a file is the same whether
    the run kept its learning rate as a float or as a tensor (reading a device tensor here
    waits for the device: pass CPU copies where that matters)."""
    return dumps_json(_plain(meta))


def _optimizer_tensors(optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], str]:
    """Optimizer state as flat tensors ``__optimizer__/<name>/<param index>/<key>`` (CPU
    copies) plus the non-tensor parts (param groups, scalar state) as JSON, so no pickle is needed."""
    tensors, meta = optimizer_parts(optimizers)
    return {k: v.to("cpu").contiguous().clone() for k, v in tensors.items()}, optimizer_meta_json(meta)


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any] | None) -> dict[str, dict[str, Any]] | None:
    """Inverse of ``_optimizer_tensors`` (pops the optimizer tensors out of ``tensors``);
    ``meta`` is the checked ``optimizers`` metadata (see models.runs.checkpoint_header)."""
    keys = [k for k in tensors if k.startswith(OPTIM_PREFIX)]
    flat = {k[len(OPTIM_PREFIX):]: tensors.pop(k) for k in keys}
    if not meta:
        return None
    out: dict[str, dict[str, Any]] = {}
    for name, info in meta.items():
        state: dict[int, dict[str, Any]] = {}
        for idx, scalars in info.get("scalars", {}).items():
            state.setdefault(int(idx), {}).update(scalars)
        for key, value in flat.items():
            opt_name, idx, field_name = key.split("/", 2)
            if opt_name == name:
                state.setdefault(int(idx), {})[field_name] = value
        out[name] = {"state": state, "param_groups": info["param_groups"]}
    return out


def model_metadata(model: LatentModel, train_state: dict[str, Any] | None = None) -> dict[str, str]:
    """The metadata every checkpoint carries (model family and config, training state) but
    the optimizers': what loading rebuilds the model from."""
    return {
        "format": FORMAT,
        "family": model.family,
        "model_config": model.config.to_json(),
        "latent_spec": json.dumps(model.latent_spec.to_dict()),
        "train_state": dumps_json(train_state or {}, default=str),
    }


def checkpoint_bytes(model: LatentModel, train_state: dict[str, Any] | None = None,
                     optimizers: dict[str, torch.optim.Optimizer] | None = None) -> bytes:
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = model_metadata(model, train_state)
    if optimizers:
        opt_tensors, meta["optimizers"] = _optimizer_tensors(optimizers)
        tensors.update(opt_tensors)
    return st_save(tensors, metadata=meta)


def write_checkpoint_file(path: Path, data: bytes) -> None:
    """Write a serialised checkpoint atomically. Raises CheckpointError (e.g. disk full)
    with the old file untouched."""
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        raise CheckpointError(f"could not write checkpoint {path}: {e.strerror or e}") from e


def save_checkpoint(path: str | Path, model: LatentModel, train_state: dict[str, Any] | None = None,
                    optimizers: dict[str, torch.optim.Optimizer] | None = None) -> Path:
    """Save atomically. Raises CheckpointError (e.g. disk full) with the old file untouched.
    With ``optimizers`` the file also carries their state (for resuming a run)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(path.suffix + ".safetensors") if path.suffix else path.with_suffix(".safetensors")
    write_checkpoint_file(path, checkpoint_bytes(model, train_state, optimizers))
    return path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", *, allow_pickle: bool = False) -> Checkpoint:
    """Rebuild a model from a checkpoint file (or a run folder: its best, else latest).

    Before any tensor is read, the header is checked field by field
    (:mod:`models.runs.checkpoint_header`), the model is measured on the meta device
    against the size budget (:mod:`models.runs.model_budget`) and the file's tensor shapes
    are compared with the ones its config makes. Every refusal is a CheckpointError naming
    the file and the problem."""
    path = resolve_checkpoint_path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return _load_pickle(path, device, allow_pickle)
    header = read_header(path)
    expected = _expected_shapes(header.family, header.config, path)
    mismatch = shape_mismatch(expected, header.shapes)
    if mismatch:
        raise CheckpointError(f"{path.name}: weights do not match the model config ({mismatch})")
    tensors = _read_tensors(path)
    try:
        model = build_model(header.family, header.config)
    except (ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path.name}: cannot rebuild the model: {str(e).splitlines()[0]}") from e
    optimizer_state = _optimizer_state(tensors, header.optimizers)
    _load_state(model, tensors, path)
    return Checkpoint(model.to(device).eval(), header.train_state, path, optimizer_state)


def _expected_shapes(family: str, config: Any, path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor shapes ``config`` makes, from a model built on the meta device (no memory)
    and checked against the size budget."""
    try:
        measured = meta_model(family, config)
        check_budget(measured, path)
    except ModelTooLarge as e:
        raise CheckpointError(str(e)) from None
    except (UnknownFamily, ValueError, TypeError, RuntimeError, NotImplementedError) as e:
        raise CheckpointError(f"{path.name}: cannot rebuild the model: {str(e).splitlines()[0]}") from e
    return expected_shapes(measured)


def _read_tensors(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    except SafetensorError as e:
        raise CheckpointError(f"{path.name} is not a readable checkpoint (corrupt or truncated): {e}") from e
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from e


def load_optimizer_state(path: str | Path) -> dict[str, dict[str, Any]] | None:
    """Only the optimizer state of a checkpoint (None when it has none or cannot be read):
    what a resumed run needs besides the model it already holds."""
    try:
        header = read_header(path)
        if not header.optimizers:
            return None
        return _optimizer_state(_read_tensors(Path(path), OPTIM_PREFIX), header.optimizers)
    except (CheckpointError, ValueError, KeyError):
        return None


def restore_optimizers(optimizers: dict[str, torch.optim.Optimizer], saved: dict[str, dict[str, Any]] | None) -> list[str]:
    """Load saved moments into freshly configured optimizers. The fresh optimizers' own
    hyperparameters (learning rate, fused/capturable flags of this device) are kept: a
    resumed run may change --lr or move from GPU to CPU. Returns the names restored; an
    optimizer whose saved state does not fit (other parameter shapes) starts afresh."""
    restored: list[str] = []
    for name, opt in optimizers.items():
        sd = (saved or {}).get(name)
        if sd is None:
            continue
        fresh = opt.state_dict()["param_groups"]
        params = [p for g in opt.param_groups for p in g["params"]]
        saved_ids = [i for g in sd["param_groups"] for i in g["params"]]
        if len(fresh) != len(sd["param_groups"]) or len(params) != len(saved_ids):
            continue
        fits = all(v.shape == p.shape for p, i in zip(params, saved_ids) for v in sd["state"].get(i, {}).values()
                   if isinstance(v, torch.Tensor) and v.dim() > 0)
        if not fits:  # moments of another model
            continue
        groups = [{**{k: v for k, v in f.items() if k != "params"}, "params": s["params"]} for f, s in zip(fresh, sd["param_groups"])]
        opt.load_state_dict({"state": sd["state"], "param_groups": groups})
        restored.append(name)
    return restored


def _load_state(model: LatentModel, tensors: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(f"{path.name}: weights do not match the model config ({first})") from e


def _load_pickle(path: Path, device: str | torch.device, allow_pickle: bool) -> Checkpoint:
    if not allow_pickle:
        raise CheckpointError(
            f"{path.name} is a pickle-based file, which can run code when opened; refusing it. "
            "Convert it to .safetensors, or pass --allow-pickle (GUI: confirm the dialog) if you trust its source."
        )
    try:
        check_regular_file(path, "checkpoint")
    except FileRefused as e:
        raise CheckpointError(str(e)) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds here (UnpicklingError, RuntimeError, EOFError...)
        raise CheckpointError(f"{path.name} could not be read safely: {str(e).splitlines()[0]}") from e
    if not isinstance(obj, dict) or "family" not in obj or "model_config" not in obj or "state_dict" not in obj:
        raise CheckpointError(f"{path.name} has no Latent Explorer model in it (expected keys family, model_config, state_dict)")
    if not isinstance(obj["family"], str) or not isinstance(obj["state_dict"], dict):
        raise CheckpointError(f"{path.name}: family must be a string and state_dict a dict of tensors")
    try:
        config = config_from(obj["family"], obj["model_config"], path)
        train_state = check_train_state(obj.get("train_state") or {}, path)
    except UnknownFamily as e:
        raise CheckpointError(f"{path.name}: cannot rebuild the model: {e}") from e
    except (FileRefused, TypeError, ValueError) as e:
        raise CheckpointError(str(e) if isinstance(e, FileRefused) else f"{path.name}: {e}") from None
    _expected_shapes(obj["family"], config, path)  # the budget, before the model is built
    try:
        model = build_model(obj["family"], config)
    except (ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path.name}: cannot rebuild the model: {e}") from e
    _load_state(model, obj["state_dict"], path)
    return Checkpoint(model.to(device).eval(), train_state, path)


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file as given, or a run folder's best (else latest) checkpoint."""
    path = Path(path).expanduser()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(f"no such file: {path}") from None
    except OSError as e:  # it exists, but cannot be looked at: say so, not "no such file"
        raise CheckpointError(f"{path.name or path}: {describe_os_error(e, 'checkpoint')}") from None
    if stat.S_ISDIR(st.st_mode):
        for name in ("best.safetensors", "latest.safetensors"):
            for candidate in (path / "checkpoints" / name, path / name):
                if candidate.is_file():
                    return candidate
        raise CheckpointError(f"{path} holds no checkpoint (looked for checkpoints/best.safetensors and latest.safetensors)")
    return path


# -- cheap reads: the header only, never the weights -------------------------------------
def checkpoint_metadata(path: str | Path) -> dict[str, str] | None:
    """A checkpoint's safetensors header metadata, unchecked (reads the header only); None
    when the file is missing, not a regular file, or unreadable."""
    try:
        return dict(read_metadata(Path(path))[0])
    except CheckpointError:
        return None


def checkpoint_state(path: str | Path) -> dict[str, Any] | None:
    """The training state in a checkpoint's metadata, checked (reads the header only); None
    when the file is missing, unreadable, or its header does not pass the checks."""
    try:
        return read_header(path).train_state
    except CheckpointError:
        return None
