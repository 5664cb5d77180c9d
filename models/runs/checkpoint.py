"""Checkpoints: one ``.safetensors`` file, the config and training state as JSON metadata.

Loading rebuilds the model from the metadata alone: no pickle anywhere. Files are written
atomically (temp file in the same folder, fsync, rename) so a crash or a full disk never
leaves a half-written checkpoint in place of a good one. Pickle-based files (``.pt``,
``.pth``, ``.ckpt``) are refused unless the caller explicitly allows them, and even then
are read with ``weights_only=True``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from models.families.base import LatentModel
from models.families.registry import UnknownFamily, build_model, model_class
from models.io.atomic import atomic_write_bytes

FORMAT = "latent-explorer/1"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".bin")


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or written; the message is for the user."""


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


#: tensor-name prefix of optimizer state (model parameter names never start with it)
OPTIM_PREFIX = "__optimizer__/"


def _optimizer_tensors(optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], str]:
    """Optimizer state as flat tensors ``__optimizer__/<name>/<param index>/<key>`` plus the
    non-tensor parts (param groups, scalar state) as JSON, so no pickle is needed."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, st in sd["state"].items():
            for key, value in st.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{OPTIM_PREFIX}{name}/{idx}/{key}"] = value.detach().to("cpu").contiguous().clone()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, json.dumps(meta)


def _optimizer_state(tensors: dict[str, torch.Tensor], meta_json: str | None) -> dict[str, dict[str, Any]] | None:
    """Inverse of ``_optimizer_tensors`` (pops the optimizer tensors out of ``tensors``)."""
    keys = [k for k in tensors if k.startswith(OPTIM_PREFIX)]
    flat = {k[len(OPTIM_PREFIX):]: tensors.pop(k) for k in keys}
    if not meta_json:
        return None
    meta = json.loads(meta_json)
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


def checkpoint_bytes(model: LatentModel, train_state: dict[str, Any] | None = None,
                     optimizers: dict[str, torch.optim.Optimizer] | None = None) -> bytes:
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "family": model.family,
        "model_config": model.config.to_json(),
        "latent_spec": json.dumps(model.latent_spec.to_dict()),
        "train_state": json.dumps(train_state or {}, default=str),
    }
    if optimizers:
        opt_tensors, meta["optimizers"] = _optimizer_tensors(optimizers)
        tensors.update(opt_tensors)
    return st_save(tensors, metadata=meta)


def save_checkpoint(path: str | Path, model: LatentModel, train_state: dict[str, Any] | None = None,
                    optimizers: dict[str, torch.optim.Optimizer] | None = None) -> Path:
    """Save atomically. Raises CheckpointError (e.g. disk full) with the old file untouched.
    With ``optimizers`` the file also carries their state (for resuming a run)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(path.suffix + ".safetensors") if path.suffix else path.with_suffix(".safetensors")
    try:
        atomic_write_bytes(path, checkpoint_bytes(model, train_state, optimizers))
    except OSError as e:
        raise CheckpointError(f"could not write checkpoint {path}: {e.strerror or e}") from e
    return path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", *, allow_pickle: bool = False) -> Checkpoint:
    """Rebuild a model from a checkpoint file (or a run folder: its best, else latest)."""
    path = resolve_checkpoint_path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return _load_pickle(path, device, allow_pickle)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path.name} is a safetensors file but not a Latent Explorer checkpoint (no model config in its metadata)")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as e:
        raise CheckpointError(f"{path.name} is not a readable checkpoint (corrupt or truncated): {e}") from e
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        model = build_model(meta["family"], model_class(meta["family"]).Config.from_saved(json.loads(meta["model_config"])))
        state = json.loads(meta.get("train_state") or "{}")
        optimizer_state = _optimizer_state(tensors, meta.get("optimizers"))
    except (UnknownFamily, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path.name}: cannot rebuild the model: {e}") from e
    _load_state(model, tensors, path)
    return Checkpoint(model.to(device).eval(), state, path, optimizer_state)


def load_optimizer_state(path: str | Path) -> dict[str, dict[str, Any]] | None:
    """Only the optimizer state of a checkpoint (None when it has none or cannot be read):
    what a resumed run needs besides the model it already holds."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT or not meta.get("optimizers"):
                return None
            tensors = {k: f.get_tensor(k) for k in f.keys() if k.startswith(OPTIM_PREFIX)}
        return _optimizer_state(tensors, meta["optimizers"])
    except (SafetensorError, OSError, ValueError, KeyError):
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
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds here (UnpicklingError, RuntimeError, EOFError...)
        raise CheckpointError(f"{path.name} could not be read safely: {str(e).splitlines()[0]}") from e
    if not isinstance(obj, dict) or "family" not in obj or "model_config" not in obj or "state_dict" not in obj:
        raise CheckpointError(f"{path.name} has no Latent Explorer model in it (expected keys family, model_config, state_dict)")
    try:
        cfg = obj["model_config"]
        config = model_class(obj["family"]).Config.from_saved(json.loads(cfg) if isinstance(cfg, str) else cfg)
        model = build_model(obj["family"], config)
    except (UnknownFamily, ValueError, TypeError) as e:
        raise CheckpointError(f"{path.name}: cannot rebuild the model: {e}") from e
    _load_state(model, obj["state_dict"], path)
    return Checkpoint(model.to(device).eval(), dict(obj.get("train_state") or {}), path)


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file as given, or a run folder's best (else latest) checkpoint."""
    path = Path(path).expanduser()
    if path.is_dir():
        for name in ("best.safetensors", "latest.safetensors"):
            for candidate in (path / "checkpoints" / name, path / name):
                if candidate.is_file():
                    return candidate
        raise CheckpointError(f"{path} holds no checkpoint (looked for checkpoints/best.safetensors and latest.safetensors)")
    if not path.exists():
        raise CheckpointError(f"no such file: {path}")
    return path


# -- cheap reads: the header only, never the weights -------------------------------------
def checkpoint_metadata(path: str | Path) -> dict[str, str] | None:
    """A checkpoint's safetensors header metadata (reads the header only); None when the
    file is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # unreadable: callers treat it as absent
        return None


def checkpoint_state(path: str | Path) -> dict[str, Any] | None:
    """The training state in a checkpoint's metadata (reads the header only); None when
    the file is missing or unreadable."""
    meta = checkpoint_metadata(path)
    if meta is None:
        return None
    try:
        return json.loads(meta.get("train_state", "{}"))
    except ValueError:
        return None
