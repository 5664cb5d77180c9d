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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from .base import LatentModel
from .registry import UnknownFamily, build_model, model_class

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

    @property
    def family(self) -> str:
        return self.model.family


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); users expect the usual permissions
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def checkpoint_bytes(model: LatentModel, train_state: dict[str, Any] | None = None) -> bytes:
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "family": model.family,
        "model_config": model.config.to_json(),
        "latent_spec": json.dumps(model.latent_spec.to_dict()),
        "train_state": json.dumps(train_state or {}, default=str),
    }
    return st_save(tensors, metadata=meta)


def save_checkpoint(path: str | Path, model: LatentModel, train_state: dict[str, Any] | None = None) -> Path:
    """Save atomically. Raises CheckpointError (e.g. disk full) with the old file untouched."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(path.suffix + ".safetensors") if path.suffix else path.with_suffix(".safetensors")
    try:
        atomic_write_bytes(path, checkpoint_bytes(model, train_state))
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
        model = build_model(meta["family"], json.loads(meta["model_config"]))
        state = json.loads(meta.get("train_state") or "{}")
    except (UnknownFamily, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path.name}: cannot rebuild the model: {e}") from e
    _load_state(model, tensors, path)
    return Checkpoint(model.to(device).eval(), state, path)


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
        model_class(obj["family"])
        cfg = obj["model_config"]
        model = build_model(obj["family"], json.loads(cfg) if isinstance(cfg, str) else cfg)
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
