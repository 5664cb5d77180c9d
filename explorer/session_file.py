"""The session file: what File ▸ Save Session writes and Open Session reads back, checked
whole before anything of it is used. No Qt here: a session is plain data.

Format, version 2 (one top-level key per line; every field but ``format`` and ``version``
may be null or absent; version 1, read too, had no ``window.workspace`` and no ``compare``)::

    {"format": "latent-explorer-session", "version": 2,
     "model": {"path": "/abs/runs/vae/checkpoints/best.safetensors",
               "relative": "runs/vae/checkpoints/best.safetensors",   # when under the session's folder
               "family": "vae", "fingerprint": "3f2a...", "latent_spec": {...LatentSpec.to_dict()...}},
     "point": {"flat": [...input_dim numbers...], "categories": [3], "codes": [0.5, -1.0]},
     "path": {...a path file's object (models.explore.latent_paths)...},
     "path_labels": ["current point", "random sample 1"],
     "directions": {...models.explore.directions_format...},
     "directions_walk": {"base": [...input_dim...], "coefficients": [...one per direction...]},
     "panels": {"traversal": {"steps": 9, "around": true}, ...},
     "window": {"geometry": "<base64 of QMainWindow.saveGeometry()>", "state": "<base64 of saveState()>",
                "workspace": "explore"},     # the workspace whose dock layout ``state`` is
     "compare": [{"path": "/abs/runs/ae/checkpoints/best.safetensors", "relative": "runs/ae/..."}]}

A class-conditional model's ``latent_spec`` names its classes (``class_names``, one per value
of categorical code 0); the class the user chose is that code in the point, so
``point.categories[0]`` is it.

``directions_walk`` is where Directions mode's sliders stood: the point is ``base`` moved
that many standard deviations along each direction. ``point.flat`` is the point (the model's flat layout, :mod:`models.latent`); its
``categories`` and ``codes`` say the same for a reader and must agree with it. The model is
found at ``relative`` first (a session moved with its folder still opens), else at ``path``.

Writing is :mod:`explorer.session_write`. Reading (:func:`read_session`) refuses, with one :class:`~models.io.files.FileRefused`
naming the file and the problem: a file that is not a regular file, is over
:data:`MAX_SESSION_BYTES`, is not JSON, nests too deep, holds NaN or infinities, is not a
session (a path file, another program's JSON), was written by a newer version, has a field
this version does not know, or a value of the wrong type, size or range: the point, the
path and the directions must fit the latent layout the session records. Nothing in a
session runs code: the model is opened the way File ▸ Open opens it, asking first when it
would.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np

from models.explore.directions_format import MAX_INPUT_DIM, Directions
from models.explore.latent_paths import LatentPath, path_from_dict
from models.io.files import FileRefused
from models.io.json_io import read_json
from models.io.validate import Bool, Int, ListOf, Number, Obj, Spec, Str, check
from models.latent import LatentPoint, LatentSpec

from .session_data import (  # noqa: F401 - the session's types are read from here too
    FORMAT, MAX_COMPARE, MAX_LAYOUT_BYTES, READABLE_VERSIONS, MAX_PANELS, MAX_SESSION_BYTES, MAX_SETTING_TEXT, MAX_SETTINGS, SUFFIX,
    VERSION, DirectionsWalk, FileRef, ModelRef, Session, SessionRefused, Setting, WindowLayout,
)


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
class _SettingValue(Spec):
    """A panel setting: true/false, a finite number or a short text."""

    optional = False

    def describe(self) -> str:
        return f"true, false, a finite number or a text of at most {MAX_SETTING_TEXT} characters"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return True
        if isinstance(value, str):
            return len(value) <= MAX_SETTING_TEXT
        return Number().accepts(value)


_RANGE = ListOf(Number(), length=2)
_LATENT_SPEC = Obj({
    "z_dim": Int(lo=0, hi=MAX_INPUT_DIM), "z_range": _RANGE, "prior": Str(max_len=64),
    "categorical": ListOf(Int(lo=1, hi=MAX_INPUT_DIM), max_len=MAX_INPUT_DIM), "continuous": Int(lo=0, hi=MAX_INPUT_DIM),
    "continuous_range": _RANGE, "has_encoder": Bool(),
    # as many as categorical code 0 has values (LatentSpec checks that); as a checkpoint's header allows
    "class_names": ListOf(Str(max_len=256), max_len=1 << 16),
}, required=("z_dim",))
_MODEL = Obj({"path": Str(), "relative": Str(optional=True), "family": Str(max_len=256, optional=True),
              "fingerprint": Str(max_len=128, optional=True), "latent_spec": _LATENT_SPEC},
             required=("path", "latent_spec"))
_POINT = Obj({"flat": ListOf(Number(), min_len=1, max_len=MAX_INPUT_DIM),
              "categories": ListOf(Int(lo=0), max_len=MAX_INPUT_DIM, optional=True),
              "codes": ListOf(Number(), max_len=MAX_INPUT_DIM, optional=True)}, required=("flat",))
_WALK = Obj({"base": ListOf(Number(), min_len=1, max_len=MAX_INPUT_DIM),
              "coefficients": ListOf(Number(), min_len=1, max_len=MAX_INPUT_DIM)}, required=("base", "coefficients"))
_LAYOUT = Obj({"geometry": Str(max_len=2 * MAX_LAYOUT_BYTES), "state": Str(max_len=2 * MAX_LAYOUT_BYTES),
               "workspace": Str(max_len=64, optional=True)})
_PANELS = Obj(other=Obj(other=_SettingValue()))
_COMPARE_ENTRY = Obj({"path": Str(), "relative": Str(optional=True)}, required=("path",))
#: the path object's own keys (a path file's, as LatentPath.to_dict writes them)
_PATH_KEYS = ("version", "model", "keyframes", "kinds", "fps", "loop", "pingpong")

#: every top-level field, and the rule of the ones checked here (the rest are checked below)
_FIELDS: dict[str, Spec | None] = {
    "format": None, "version": None, "model": _MODEL, "point": _POINT, "path": Obj(optional=True),
    "path_labels": ListOf(Str(max_len=256), max_len=100_000), "directions": Obj(optional=True),
    "directions_walk": _WALK, "panels": _PANELS, "window": _LAYOUT,
    "compare": ListOf(_COMPARE_ENTRY, max_len=MAX_COMPARE),
}
#: which objects refuse keys they do not know, by where they stand
_CLOSED: dict[str, tuple[str, ...]] = {
    "model": tuple(_MODEL.fields), "model.latent_spec": tuple(_LATENT_SPEC.fields), "point": tuple(_POINT.fields),
    "directions_walk": tuple(_WALK.fields),
    "window": tuple(_LAYOUT.fields), "path": _PATH_KEYS,
}


def read_session(file: str | Path) -> Session:
    """The session in ``file``, checked whole; :class:`SessionRefused` (a ValueError) naming the
    file and the problem otherwise (see the module docstring). Reads at most
    :data:`MAX_SESSION_BYTES`; never blocks on a pipe."""
    file = Path(file).expanduser()
    try:
        data = read_json(file, "session file", max_bytes=MAX_SESSION_BYTES)
    except FileRefused as e:
        raise SessionRefused(file, e.reason) from None
    return session_from_dict(data, file)


def session_from_dict(d: Any, file: str | Path) -> Session:
    """Validate and build a :class:`Session` from its JSON object (``file`` names it in messages)."""
    file = Path(file)
    try:
        return _session_from_dict(d, file)
    except SessionRefused:
        raise
    except FileRefused as e:  # a field rule (InvalidField) of models.io.validate
        # the path and directions formats name their part ("path: kinds[0] must be...")
        raise SessionRefused(file, e.reason if e.path == file else f"{e.path}: {e.reason}") from None
    except ValueError as e:  # the path and directions formats' own checks
        raise SessionRefused(file, str(e)) from None


def _session_from_dict(d: Any, file: Path) -> Session:
    _check_envelope(d, file)
    for where, known in _CLOSED.items():
        _refuse_unknown(d, where, known, file)
    # every field but the envelope may be null ("nothing of that kind")
    d = check(d, Obj({k: dataclasses.replace(v, optional=True) for k, v in _FIELDS.items() if v is not None}), file)
    if len(d.get("panels") or {}) > MAX_PANELS or any(len(v) > MAX_SETTINGS for v in (d.get("panels") or {}).values()):
        raise SessionRefused(file, f"panels holds more than {MAX_PANELS} panels or {MAX_SETTINGS} settings in one")
    model = _model_ref(d.get("model"), file)
    spec = model.latent_spec if model is not None else None
    session = Session(model=model, panels={k: dict(v) for k, v in (d.get("panels") or {}).items()})
    session.point = _point(d.get("point"), spec, file)
    session.path, session.path_labels = _path(d.get("path"), d.get("path_labels") or [], model, file)
    session.directions = _directions(d.get("directions"), spec, file)
    session.walk = _walk(d.get("directions_walk"), session.directions, file)
    session.window = _layout(d.get("window"), file)
    session.compare = _compare(d.get("compare"), file)
    return session


def _check_envelope(d: Any, file: Path) -> None:
    """An object of this format and version, with no field this version does not know."""
    if not isinstance(d, dict):
        raise SessionRefused(file, "is not a Latent Explorer session (expected a JSON object)")
    if d.get("format") != FORMAT:
        if "keyframes" in d:
            raise SessionRefused(file, "is a latent path file, not a session: load it in the Paths panel")
        raise SessionRefused(file, f"is not a Latent Explorer session (no \"format\": \"{FORMAT}\")")
    version = d.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise SessionRefused(file, f"was saved by a newer Latent Explorer (session format version {version}); "
                                   f"this one reads version {_readable()}: update Latent Explorer to open it")
    if version not in READABLE_VERSIONS or isinstance(version, bool):  # true == 1 in Python, not in the format
        raise SessionRefused(file, f"has session format version {json.dumps(version)[:40]}; this Latent Explorer "
                                   f"reads version {_readable()}")
    _refuse_unknown(d, "", tuple(_FIELDS), file)


def _readable() -> str:
    return " or ".join(map(str, READABLE_VERSIONS))


def _refuse_unknown(d: dict[str, Any], where: str, known: tuple[str, ...], file: Path) -> None:
    obj: Any = d
    for part in filter(None, where.split(".")):
        obj = obj.get(part) if isinstance(obj, dict) else None
    if not isinstance(obj, dict):
        return  # absent, or of the wrong type: the schema says so
    _refuse_unknown_in(obj, where, known, file)


def _refuse_unknown_in(obj: dict[str, Any], where: str, known: tuple[str, ...], file: Path) -> None:
    """The refusal of a key of ``obj`` (found at ``where``) that is not one of ``known``."""
    unknown = [k for k in obj if k not in known]
    if unknown:
        place = f"{where} has" if where else "has"
        raise SessionRefused(file, f"{place} a field this Latent Explorer does not know: {unknown[0][:60]!r} "
                                   f"(it reads {', '.join(known)})")


def _model_ref(m: dict[str, Any] | None, file: Path) -> ModelRef | None:
    if m is None:
        return None
    ref = _file_ref(m, "model", file)
    try:
        spec = LatentSpec.from_dict(m["latent_spec"])
    except (TypeError, ValueError) as e:
        raise SessionRefused(file, f"model.latent_spec is not a latent layout ({e})") from None
    if spec.input_dim < 1 or spec.input_dim > MAX_INPUT_DIM:
        raise SessionRefused(file, f"model.latent_spec has a latent of {spec.input_dim:,} values "
                                   f"(from 1 to {MAX_INPUT_DIM:,} are read)")
    return ModelRef(ref.path, spec, ref.relative, m.get("family") or "", m.get("fingerprint") or "")


def _file_ref(m: dict[str, Any], where: str, file: Path) -> FileRef:
    """A named file's ``path`` and ``relative`` (which must stay inside the session's folder)."""
    if not m["path"].strip() or "\0" in m["path"]:
        raise SessionRefused(file, f"{where}.path must name the model's file")
    relative = m.get("relative")
    if relative is not None and not _inside_folder(relative):
        raise SessionRefused(file, f"{where}.relative must be a path inside the session's folder")
    return FileRef(Path(m["path"]).expanduser(), relative)


def _inside_folder(relative: str) -> bool:
    """Whether ``relative`` names a place under a folder on every system: no root, no drive
    (Windows' "C:x" or a network share), no "..", no NUL."""
    windows = PureWindowsPath(relative)
    return not (Path(relative).is_absolute() or windows.drive or windows.root or ".." in windows.parts
                or "\0" in relative)


def _compare(entries: list[dict[str, Any]] | None, file: Path) -> list[FileRef] | None:
    if entries is None:
        return None
    refs = []
    for i, entry in enumerate(entries):
        _refuse_unknown_in(entry, f"compare[{i}]", tuple(_COMPARE_ENTRY.fields), file)
        refs.append(_file_ref(entry, f"compare[{i}]", file))
    return refs


def _point(p: dict[str, Any] | None, spec: LatentSpec | None, file: Path) -> np.ndarray | None:
    if p is None:
        return None
    if spec is None:
        raise SessionRefused(file, "has a point but no model to decode it")
    flat = np.asarray(p["flat"], np.float64)
    if flat.shape[0] != spec.input_dim:
        n = flat.shape[0]
        raise SessionRefused(file, f"point.flat has {n:,} value{'' if n == 1 else 's'} but the session's model has a latent "
                                   f"of {spec.input_dim:,} ({_layout_words(spec)})")
    if np.any(np.abs(flat) > np.finfo(np.float32).max):
        raise SessionRefused(file, "point.flat holds a value too large for the model's float32 latent")
    flat = flat.astype(np.float32)
    readable = LatentPoint.from_flat(spec, flat)
    if p.get("categories") is not None and list(p["categories"]) != readable.categories:
        raise SessionRefused(file, f"point.categories is {p['categories']!r:.60} but point.flat holds categories "
                                   f"{readable.categories!r:.60}")
    if p.get("codes") is not None and not np.array_equal(np.asarray(p["codes"], np.float64), readable.codes):
        raise SessionRefused(file, "point.codes disagree with the continuous codes in point.flat")
    return flat


class _LayoutOnly:
    """Stands in for a model of which only the latent layout is known: all that checking a
    path's keyframes reads (``path_from_dict`` needs the layout, a family name for its
    messages, and a config for the fingerprint it compares)."""

    class _Config:
        @staticmethod
        def to_dict() -> dict[str, Any]:
            return {}

    def __init__(self, spec: LatentSpec, family: str) -> None:
        self.latent_spec, self.family, self.config = spec, family or "saved", self._Config()


def _path(p: dict[str, Any] | None, labels: list[str], model: ModelRef | None, file: Path
          ) -> tuple[LatentPath | None, list[str]]:
    if p is None:
        if labels:
            raise SessionRefused(file, "has path_labels but no path")
        return None, []
    if model is None:
        raise SessionRefused(file, "has a path but no model to play it")
    with np.errstate(over="ignore"):  # a value past float32 becomes inf there, which it refuses
        path = path_from_dict(p, _LayoutOnly(model.latent_spec, model.family), name="path")  # type: ignore[arg-type]
    path.notes = []  # the stand-in's identity is no model's: a note comparing it would mislead
    if labels and len(labels) != len(path.keyframes):
        raise SessionRefused(file, f"path_labels has {len(labels):,} labels for {len(path.keyframes):,} keyframes")
    return path, list(labels)


def _directions(d: dict[str, Any] | None, spec: LatentSpec | None, file: Path) -> Directions | None:
    if d is None:
        return None
    if spec is None:
        raise SessionRefused(file, "has principal directions but no model they belong to")
    directions = Directions.from_dict(d, "directions")  # refuses a value past float32's range too
    problem = directions.misfit(spec.input_dim, spec.z_dim)
    if problem is not None:
        raise SessionRefused(file, f"directions do not fit the session's model: {problem}")
    return directions


def _walk(w: dict[str, Any] | None, directions: Directions | None, file: Path) -> DirectionsWalk | None:
    if w is None:
        return None
    if directions is None:
        raise SessionRefused(file, "has directions_walk but no directions")
    base, coefficients = np.asarray(w["base"], np.float64), np.asarray(w["coefficients"], np.float64)
    if base.shape[0] != directions.input_dim or coefficients.shape[0] != directions.k:
        raise SessionRefused(file, f"directions_walk has a base of {base.shape[0]:,} values and "
                                   f"{coefficients.shape[0]:,} coefficients; its directions need "
                                   f"{directions.input_dim:,} and {directions.k}")
    if np.any(np.abs(base) > np.finfo(np.float32).max) or np.any(np.abs(coefficients) > np.finfo(np.float32).max):
        raise SessionRefused(file, "directions_walk holds a value too large for a float32")
    return DirectionsWalk(base.astype(np.float32), coefficients.astype(np.float32))


def _layout(w: dict[str, Any] | None, file: Path) -> WindowLayout | None:
    if w is None:
        return None
    blobs = {}
    for key in ("geometry", "state"):
        try:
            blobs[key] = base64.b64decode(w.get(key) or "", validate=True)
        except (binascii.Error, ValueError):
            raise SessionRefused(file, f"window.{key} is not base64 text (what Save Session writes there)") from None
        if len(blobs[key]) > MAX_LAYOUT_BYTES:
            raise SessionRefused(file, f"window.{key} is larger than a window layout can be")
    return WindowLayout(blobs["geometry"], blobs["state"], w.get("workspace") or "")


def _layout_words(spec: LatentSpec) -> str:
    parts = [f"{spec.z_dim:,} z"]
    if spec.conditional:
        parts.append(f"{spec.categorical[0]} classes")
    if codes := spec.other_categorical:
        parts.append(f"categorical codes of {', '.join(map(str, codes))}")
    if spec.continuous:
        parts.append(f"{spec.continuous} continuous codes")
    return ", ".join(parts)


def chosen_class(spec: LatentSpec, point: np.ndarray | None) -> str | None:
    """The name of the class ``point`` draws, for a class-conditional ``spec``; None otherwise."""
    if not spec.conditional or point is None or point.shape[0] != spec.input_dim:
        return None
    return spec.class_names[LatentPoint.from_flat(spec, point).categories[0]]


def same_layout(a: LatentSpec, b: LatentSpec) -> bool:
    """Whether a point of one latent fits the other value for value (the slider ranges may differ)."""
    return (a.z_dim, tuple(a.categorical), a.continuous) == (b.z_dim, tuple(b.categorical), b.continuous)


def layout_problem(saved: LatentSpec, model: LatentSpec, model_name: str) -> str | None:
    """Why a session saved with the layout ``saved`` cannot be restored into a model of layout
    ``model`` (the file changed since), or None."""
    if same_layout(saved, model):
        return None
    return (f"the session's point and path have {saved.input_dim:,} values ({_layout_words(saved)}), but "
            f"{model_name} now has a latent of {model.input_dim:,} ({_layout_words(model)})")
