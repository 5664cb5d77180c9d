"""What a session holds, as plain data (no Qt): the model it explored, the point, path,
directions, panel settings, window layout and the models in Compare. Its file format, and
the checks every field passes when read, are :mod:`explorer.session_file`'s."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.explore.directions_format import Directions
from models.explore.latent_paths import LatentPath
from models.io.files import MAX_JSON_BYTES, FileRefused
from models.latent import LatentSpec

FORMAT = "latent-explorer-session"
#: what Save Session writes: version 2 added the workspace and Compare's models, which a
#: version-1 reader (it refuses fields it does not know) could not read, so it says "newer"
VERSION = 2
#: the versions this reader opens (a version-1 file simply has neither field)
READABLE_VERSIONS = (1, 2)
#: the name File ▸ Save Session suggests ends so (any name opens)
SUFFIX = ".session.json"
#: a bigger file is refused before it is read (a session of a 20,000-value latent with a
#: 500-keyframe path is about 200 MB: the Paths panel keeps paths that long in path files)
MAX_SESSION_BYTES = MAX_JSON_BYTES
#: panels and settings per panel a session may hold, and the longest text setting
MAX_PANELS, MAX_SETTINGS, MAX_SETTING_TEXT = 64, 64, 1024
#: a saved window layout is a few KB; Qt's own blobs never come near this
MAX_LAYOUT_BYTES = 2**20
#: models a session lists in Compare at most
MAX_COMPARE = 64

#: a setting's value: what a spin box, check box, combo box or line edit holds
Setting = bool | int | float | str


class SessionRefused(FileRefused):
    """A session file that is not read, or one whose model cannot be used; ``"<name>: <reason>"``."""


@dataclass(frozen=True)
class ModelRef:
    """Which model the session explored: its file, and the latent layout it had then."""

    path: Path
    latent_spec: LatentSpec
    relative: str | None = None
    family: str = ""
    fingerprint: str = ""

    def resolve(self, session_file: str | Path) -> Path:
        """The model's file: ``relative`` to the session's folder when it is there, else ``path``."""
        return resolve_beside(self.path, self.relative, session_file)


@dataclass(frozen=True)
class FileRef:
    """A file a session names (a model in Compare): its absolute path and, when it lay under
    the session's folder, its path relative to that folder."""

    path: Path
    relative: str | None = None

    def resolve(self, session_file: str | Path) -> Path:
        return resolve_beside(self.path, self.relative, session_file)


def resolve_beside(path: Path, relative: str | None, session_file: str | Path) -> Path:
    """``relative`` to the session's folder when a file is there (a session moved with its
    folder still finds it), else ``path``."""
    if relative:
        beside = Path(session_file).expanduser().absolute().parent / relative
        if beside.exists():
            return beside
    return path


@dataclass(frozen=True)
class WindowLayout:
    """``QMainWindow.saveGeometry()`` and ``saveState()``, as the bytes Qt gave, and the
    workspace ("explore", "train", "compare") whose arrangement ``state`` is ("": not said)."""

    geometry: bytes = b""
    state: bytes = b""
    workspace: str = ""


@dataclass(frozen=True)
class DirectionsWalk:
    """Directions mode's sliders: ``coefficients`` (k,) standard deviations from ``base`` (input_dim,)."""

    base: np.ndarray
    coefficients: np.ndarray


@dataclass
class Session:
    """What a session holds (see the module docstring); anything may be None or empty."""

    model: ModelRef | None = None
    #: (input_dim,) float32, the model's flat latent
    point: np.ndarray | None = None
    path: LatentPath | None = None
    #: one per keyframe of ``path`` (what the Paths panel lists)
    path_labels: list[str] = field(default_factory=list)
    directions: Directions | None = None
    #: where Directions mode's sliders stood (only with ``directions``)
    walk: DirectionsWalk | None = None
    #: panel key -> setting name -> value
    panels: dict[str, dict[str, Setting]] = field(default_factory=dict)
    window: WindowLayout | None = None
    #: the models listed in Compare that have a file, in their order (None: a session that
    #: does not say, which leaves Compare as it is)
    compare: list[FileRef] | None = None
