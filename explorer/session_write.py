"""Writing a session file (the format is :mod:`explorer.session_file`'s): one top-level key
per line, atomically, naming the model by its absolute path and, when it lies under the
session's folder, by its path relative to it."""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from models.explore.latent_paths import ModelIdentity
from models.io.atomic import atomic_write_bytes
from models.latent import LatentPoint

from .session_file import FORMAT, VERSION, ModelRef, Session


def relative_to_folder(path: Path, folder: Path) -> str | None:
    """``path`` relative to ``folder`` when it lies inside it, else None (a model elsewhere is
    found by its absolute path only: "../../x" would point somewhere else once the session moves)."""
    try:
        return Path(path).absolute().relative_to(Path(folder).absolute()).as_posix()
    except ValueError:
        return None


def session_to_dict(session: Session, file: str | Path) -> dict[str, Any]:
    """The JSON object of ``session`` saved as ``file`` (which ``model.relative`` is relative to)."""
    folder = Path(file).expanduser().absolute().parent
    model = session.model
    spec = model.latent_spec if model is not None else None
    out: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": None, "point": None, "path": None,
                           "path_labels": list(session.path_labels), "directions": None, "directions_walk": None,
                           "panels": {k: dict(v) for k, v in session.panels.items()}, "window": None,
                           "compare": None if session.compare is None else
                           [_file_dict(ref.path, folder) for ref in session.compare]}
    if model is not None:
        out["model"] = {**_file_dict(model.path, folder), "family": model.family, "fingerprint": model.fingerprint,
                        "latent_spec": model.latent_spec.to_dict()}
    if session.point is not None:
        flat = np.asarray(session.point, np.float32).reshape(-1)
        point: dict[str, Any] = {"flat": [float(v) for v in flat]}
        if spec is not None and flat.shape[0] == spec.input_dim:
            readable = LatentPoint.from_flat(spec, flat)
            point.update(categories=list(readable.categories), codes=[float(v) for v in readable.codes])
        out["point"] = point
    if session.path is not None:
        out["path"] = session.path.to_dict()
    if session.directions is not None:
        out["directions"] = session.directions.to_dict()
        if session.walk is not None:
            out["directions_walk"] = {"base": [float(v) for v in np.asarray(session.walk.base, np.float32)],
                                      "coefficients": [float(v) for v in np.asarray(session.walk.coefficients, np.float32)]}
    if session.window is not None:
        out["window"] = {"geometry": base64.b64encode(session.window.geometry).decode("ascii"),
                         "state": base64.b64encode(session.window.state).decode("ascii"),
                         "workspace": session.window.workspace or None}
    return out


def _file_dict(path: Path, folder: Path) -> dict[str, Any]:
    absolute = Path(path).expanduser().absolute()
    return {"path": str(absolute), "relative": relative_to_folder(absolute, folder)}


def session_to_json(session: Session, file: str | Path) -> str:
    """One top-level key per line: readable, and diffable without a float on every line.
    Raises ValueError for a value JSON cannot hold (a NaN in the point)."""
    d = session_to_dict(session, file)
    lines = [f" {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in d.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_session(session: Session, file: str | Path) -> Path:
    """Write ``session`` to ``file``, atomically (a reader sees the old file or the new one)."""
    file = Path(file).expanduser()
    atomic_write_bytes(file, session_to_json(session, file).encode("utf-8"))
    return file


def model_ref_of(path: str | Path, model: Any) -> ModelRef:
    """The reference to ``model`` (any of the app's models or one made elsewhere) opened from ``path``."""
    try:
        identity = ModelIdentity.of(model)
        family, fingerprint = identity.family, identity.fingerprint
    except (AttributeError, TypeError, ValueError):  # a config that cannot say itself: the layout is what matters
        family, fingerprint = str(getattr(model, "family", "")), ""
    return ModelRef(Path(os.path.abspath(Path(path).expanduser())), model.latent_spec, None, family, fingerprint)
