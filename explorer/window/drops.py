"""What files dropped on the window are: models to open, path files for the Paths panel,
images to encode, or a session to reopen.

A model is anything File > Open takes (a checkpoint, a run folder, a PyTorch state dict,
an ONNX file or a folder with its manifest, an adapter file); a ``.json`` is a path file,
except an ONNX ``manifest.json``, which opens its model; an image is any image file the
app reads. The window reopens the first session, else opens the first model, else loads the first path file, else
encodes the first image, or, when the open model has no encoder but can be projected through
(a GAN), makes it the Projection panel's target and starts projecting it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData

from models.foreign.manifest import MANIFEST_NAME
from models.foreign.protocol import unavailable

from ..session_file import SUFFIX as SESSION_SUFFIX
from models.io.images import IMAGE_SUFFIXES


@dataclass
class Drops:
    """Dropped paths by kind, each in the order they were dropped."""

    models: list[Path] = field(default_factory=list)
    sessions: list[Path] = field(default_factory=list)
    path_files: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)


def is_path_file(path: Path) -> bool:
    """A Paths panel file: a ``.json`` that is not a folder, nor an ONNX manifest."""
    return path.suffix.lower() == ".json" and path.name.lower() != MANIFEST_NAME and not path.is_dir()


def sort_drops(paths: list[Path]) -> Drops:
    drops = Drops()
    for p in paths:
        if p.name.lower().endswith(SESSION_SUFFIX) and not p.is_dir():
            drops.sessions.append(p)
        elif p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir():
            drops.images.append(p)
        elif is_path_file(p):
            drops.path_files.append(p)
        else:
            drops.models.append(p)
    return drops


def local_paths(mime: QMimeData) -> list[Path]:
    """The local files a drag carries (URLs of other kinds are not ours to open)."""
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


def projects_images(model: Any) -> bool:
    """A dropped image is projected (not encoded): the model has no encoder, but gradients
    flow through its decoder (a GAN; not an ONNX graph, which says why it can't encode)."""
    return model is not None and not model.latent_spec.has_encoder and unavailable(model, "project") is None


def _dock(window: Any, key: str) -> Any:
    """The Explore dock ``key`` brought to the front (in a workspace that shows it), or None
    when the window has no such dock."""
    dock = window.explore_docks.get(key) if window.explore_docks else None
    if dock is not None:
        window.workspaces.reveal(dock)
    return dock


def route_drops(window: Any, paths: list[Path]) -> None:
    """A session reopens; else a model (anything File > Open takes) opens; else a path file
    goes to the Paths panel; else an image is encoded, or projected with a model that has no
    encoder (the Projection panel shows it as its target). ``window`` is the MainWindow."""
    drops = sort_drops(paths)
    if drops.sessions:
        window.sessions.open(drops.sessions[0])
    elif drops.models:
        window.open_path(drops.models[0])
    elif drops.path_files and (dock := _dock(window, "paths")) is not None:
        dock.widget().load_path_file(drops.path_files[0])
    elif drops.images and projects_images(window.model_state.model) \
            and (dock := _dock(window, "projection")) is not None:
        dock.widget().project_file(drops.images[0])
    elif drops.images:
        window.encode_file(drops.images[0])
