"""Interpolation paths through a latent space, and the files they are saved in.

The interpolation itself (``lerp``, ``slerp``) is :mod:`models.explore.interpolation`.

Paths
    A :class:`LatentPath` is a list of flat latents (keyframes) and one interpolation kind
    per segment. Only the ``z`` block is slerped; one-hot categorical blocks and
    continuous codes are always interpolated linearly (a blend of one-hots is the only
    meaningful in-between, and the codes are drawn from a uniform box, not a Gaussian
    shell). ``frames(n)`` spends the same share of frames on every segment.

File format (``save_path`` / ``load_path``), version 1::

    {"version": 1,
     "model": {"family": "vae", "fingerprint": "3f2a...", "latent_spec": {...}, "checkpoint": "runs/vae/..." | null},
     "keyframes": [{"z": [...], "categories": [3, ...], "codes": [...]}, ...],
     "kinds": ["slerp", "linear", ...],          # one per segment: len(keyframes) - 1
     "fps": 12.0, "loop": true, "pingpong": false}

``categories`` holds one entry per categorical code: the index when the block is an
exact one-hot, else the block's weights as a list. Floats are written at full precision
(float32 -> Python float is exact and JSON keeps repr precision), so a saved path replays
to bit-identical latents and so identical frames.
"""
from __future__ import annotations
import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from models.explore.interpolation import Vector, slerp_rows
from models.families.base import LatentModel
from models.io.atomic import atomic_write_bytes
from models.io.files import MAX_PATH_FILE_BYTES, FileRefused, read_text
from models.io.json_io import parse_json
from models.io.validate import Bool, ListOf, Number, Obj, Str, check
from models.latent import LatentSpec

VERSION = 1
KINDS = ("linear", "slerp")
#: a path file with more keyframes is refused (an hour of one keyframe a second is 3,600)
MAX_KEYFRAMES = 100_000


# ---------------------------------------------------------------------------------------
# model identity
# ---------------------------------------------------------------------------------------
def model_fingerprint(model: LatentModel) -> str:
    """Short hash of family + config + latent spec: equal for models of the same
    architecture (not the same weights: a path is about the latent layout, and hashing
    weights would make every checkpoint of one run look foreign)."""
    blob = json.dumps(
        {"family": model.family, "config": model.config.to_dict(), "latent_spec": model.latent_spec.to_dict()},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class ModelIdentity:
    """Which model a path was made with."""

    family: str = ""
    fingerprint: str = ""
    latent_spec: dict[str, Any] | None = None
    checkpoint: str | None = None

    @classmethod
    def of(cls, model: LatentModel, checkpoint: str | Path | None = None) -> "ModelIdentity":
        return cls(model.family, model_fingerprint(model), model.latent_spec.to_dict(),
                   str(checkpoint) if checkpoint is not None else None)

    @property
    def spec(self) -> LatentSpec | None:
        return LatentSpec.from_dict(self.latent_spec) if self.latent_spec else None


# ---------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------
@dataclass
class LatentPath:
    """Keyframes (flat latents) joined by linear or slerp segments.

    ``loop`` and ``pingpong`` describe playback (GIF repeats forever; play forward then
    back) and do not change ``frames``: the path always runs first -> last keyframe.
    """

    keyframes: list[np.ndarray]
    #: one per segment (len(keyframes) - 1), each "linear" or "slerp"
    kinds: list[str]
    model: ModelIdentity = field(default_factory=ModelIdentity)
    fps: float = 12.0
    loop: bool = True
    pingpong: bool = False
    #: warnings from loading (e.g. made for another model); not saved
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keyframes = [np.asarray(k, np.float32).reshape(-1) for k in self.keyframes]
        if not self.keyframes:
            raise ValueError("a path needs at least one keyframe")
        d = self.keyframes[0].shape[0]
        for i, k in enumerate(self.keyframes):
            if k.shape[0] != d:
                raise ValueError(f"keyframe {i} has {k.shape[0]} values, keyframe 0 has {d}")
        self.kinds = list(self.kinds)
        if len(self.kinds) != len(self.keyframes) - 1:
            raise ValueError(f"{len(self.keyframes)} keyframes need {len(self.keyframes) - 1} segment kinds, got {len(self.kinds)}")
        for k in self.kinds:
            if k not in KINDS:
                raise ValueError(f"unknown interpolation {k!r}: use one of {', '.join(KINDS)}")

    @property
    def dim(self) -> int:
        return int(self.keyframes[0].shape[0])

    @property
    def spec(self) -> LatentSpec:
        """The latent layout; without one the whole vector counts as z."""
        return self.model.spec or LatentSpec(z_dim=self.dim)

    def with_kind(self, kind: str) -> "LatentPath":
        """A copy with every segment interpolated by ``kind``."""
        if kind not in KINDS:
            raise ValueError(f"unknown interpolation {kind!r}: use one of {', '.join(KINDS)}")
        out = copy.deepcopy(self)
        out.kinds = [kind] * len(out.kinds)
        return out

    def segment(self, i: int, t: np.ndarray) -> np.ndarray:
        """Points at parameters ``t`` (1-D, in [0, 1]) on segment ``i``: (len(t), D).
        slerp acts on the z block only; categorical and continuous blocks are linear."""
        t = np.asarray(t, np.float64).reshape(-1)
        return self._points(np.full(t.shape[0], i), t)

    def frames(self, n: int) -> np.ndarray:
        """(n, D) float32 latents; frame 0 is the first keyframe, frame n-1 the last.

        Every segment gets the same share of the n frames (segment i covers the global
        parameter s in [i, i+1], s spread evenly over [0, n_segments]), whatever the
        distance between its keyframes: keyframes are the user's beats, not mile posts.
        Interior keyframes are hit exactly when (n - 1) is a multiple of the segments.
        Computed for all frames at once: linear in n and in the keyframes.
        """
        if n < 1:
            raise ValueError(f"need at least 1 frame, got {n}")
        segs = len(self.kinds)
        if segs == 0 or n == 1:
            return np.repeat(self.keyframes[0][None], n, axis=0)
        s = np.linspace(0.0, float(segs), n)
        idx = np.minimum(np.floor(s).astype(np.int64), segs - 1)
        return self._points(idx, s - idx)

    def _points(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Row r: the point at parameter ``t[r]`` of segment ``idx[r]`` (float64 maths,
        float32 out; t == 0 and t == 1 give the keyframes bit for bit)."""
        a = np.stack(self.keyframes).astype(np.float64)
        a, b = a[idx], a[idx + 1]
        tt = t[:, None]
        out = np.where(tt == 0, a, np.where(tt == 1, b, (1 - tt) * a + tt * b))
        rows = np.flatnonzero(np.asarray(self.kinds, dtype=object)[idx] == "slerp")
        zd = self.spec.z_dim
        if rows.size and zd:
            out[rows, :zd] = slerp_rows(a[rows, :zd], b[rows, :zd], t[rows])
        return out.astype(np.float32)

    # -- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "version": VERSION,
            "model": {"family": self.model.family, "fingerprint": self.model.fingerprint,
                      "latent_spec": spec.to_dict(), "checkpoint": self.model.checkpoint},
            "keyframes": [_keyframe_to_json(spec, k) for k in self.keyframes],
            "kinds": list(self.kinds),
            "fps": float(self.fps),
            "loop": bool(self.loop),
            "pingpong": bool(self.pingpong),
        }

    def to_json(self) -> str:
        """One top-level key per line and one keyframe per line: readable and diffable,
        without indenting every float onto its own line."""
        d = self.to_dict()
        dump = lambda v: json.dumps(v, allow_nan=False)  # noqa: E731
        lines = [f" {dump(k)}: {dump(v)}" for k, v in d.items() if k != "keyframes"]
        kfs = ",\n".join(f"  {dump(kf)}" for kf in d["keyframes"])
        lines.insert(2, f' "keyframes": [\n{kfs}\n ]')
        return "{\n" + ",\n".join(lines) + "\n}"


def _keyframe_to_json(spec: LatentSpec, flat: np.ndarray) -> dict[str, Any]:
    z, blocks, codes = spec.split(torch.from_numpy(np.ascontiguousarray(flat, np.float32))[None])
    cats: list[Any] = []
    for blk in blocks:
        v = blk[0].numpy()
        hot = int(v.argmax())
        is_one_hot = v[hot] == 1.0 and np.count_nonzero(v) == 1
        # float32 -> float is exact; json writes repr, which round-trips the double
        cats.append(hot if is_one_hot else [float(x) for x in v])
    return {"z": [float(x) for x in z[0].numpy()], "categories": cats, "codes": [float(x) for x in codes[0].numpy()]}


def _keyframe_from_json(spec: LatentSpec, kf: Any, i: int, family: str) -> np.ndarray:
    if not isinstance(kf, dict):
        raise ValueError(f"keyframe {i} must be an object with z, categories, codes")
    z = _numbers(kf.get("z", []), i, "z")
    if z.ndim != 1 or z.shape[0] != spec.z_dim:
        raise ValueError(f"keyframe {i} has {z.size} z values but this {family} model has z_dim {spec.z_dim}")
    cats = kf.get("categories", [])
    if not isinstance(cats, list):
        raise ValueError(f"keyframe {i}: categories must be a list, got {type(cats).__name__}")
    if len(cats) != len(spec.categorical):
        raise ValueError(f"keyframe {i} has {len(cats)} categorical codes but this {family} model has {len(spec.categorical)}")
    parts = [z]
    for j, (c, k) in enumerate(zip(cats, spec.categorical)):
        if isinstance(c, list):
            if len(c) != k:
                raise ValueError(f"keyframe {i}: categorical code {j} has {len(c)} weights but the model's has {k} values")
            parts.append(_numbers(c, i, f"categorical code {j}"))
        else:
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < k:
                raise ValueError(f"keyframe {i}: categorical code {j} is {c!r}, must be an integer in 0..{k - 1}")
            parts.append(np.eye(k)[c])
    codes = _numbers(kf.get("codes", []), i, "codes")
    if codes.ndim != 1 or codes.shape[0] != spec.continuous:
        raise ValueError(f"keyframe {i} has {codes.size} continuous codes but this {family} model has {spec.continuous}")
    parts.append(codes)
    flat = np.concatenate(parts).astype(np.float32)
    if not np.isfinite(flat).all():
        raise ValueError(f"keyframe {i} has non-finite values")
    return flat


def _numbers(values: Any, i: int, what: str) -> np.ndarray:
    """A keyframe's list of numbers as float64, or ValueError naming the keyframe."""
    if not isinstance(values, list):
        raise ValueError(f"keyframe {i}: {what} must be a list of numbers")
    try:
        return np.asarray(values, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"keyframe {i}: {what} must be a list of numbers") from None


def path_from_keyframes(model: LatentModel, keyframes: Sequence[Vector] | np.ndarray | torch.Tensor,
                        kind: str = "slerp", checkpoint: str | Path | None = None, **kwargs: Any) -> LatentPath:
    """A path through ``keyframes`` (flat latents) of ``model``, every segment ``kind``."""
    frames = [np.asarray(k.detach().cpu() if isinstance(k, torch.Tensor) else k, np.float32) for k in keyframes]
    d = model.latent_spec.input_dim
    for i, k in enumerate(frames):
        if k.shape != (d,):
            raise ValueError(f"keyframe {i} has shape {k.shape}, the {model.family} model's flat latent is ({d},)")
    return LatentPath(frames, [kind] * (len(frames) - 1), ModelIdentity.of(model, checkpoint), **kwargs)


def random_path(model: LatentModel, k: int, kind: str = "slerp", seed: int = 0,
                checkpoint: str | Path | None = None) -> LatentPath:
    """``k`` keyframes drawn from the prior with a seeded CPU generator (same seed, same
    path on any device), through ``model.sample_latents`` (so the mixture AAE's keyframes
    come from its mixture)."""
    if k < 1:
        raise ValueError(f"a path needs at least one keyframe, got {k}")
    flat = model.sample_latents(k, generator=torch.Generator().manual_seed(seed), device="cpu").float()
    return path_from_keyframes(model, list(flat.numpy()), kind, checkpoint)


def save_path(path: LatentPath, file: str | Path) -> Path:
    """Write the path as JSON, atomically."""
    file = Path(file)
    atomic_write_bytes(file, (path.to_json() + "\n").encode())
    return file


def load_path(file: str | Path, model: LatentModel) -> LatentPath:
    """Read a path JSON for ``model``.

    Keyframe sizes must fit the model's latent layout (ValueError naming the mismatch).
    A path made with another model of the same layout still loads, with a note in
    ``path.notes``: sending one path through several models is the point of comparing
    them. The returned path's identity is ``model``'s.
    """
    file = Path(file)
    try:
        d = parse_json(read_text(file, "path file", MAX_PATH_FILE_BYTES), file)
    except FileRefused as e:
        raise ValueError(str(e)) from None
    return path_from_dict(d, model, name=file.name)


#: the fields of a path file besides its keyframes and kinds (checked before use)
_PATH_FIELDS = Obj({
    "model": Obj({"family": Str(max_len=64, optional=True), "fingerprint": Str(max_len=64, optional=True),
                  "latent_spec": Obj(optional=True), "checkpoint": Str(optional=True)}, optional=True),
    "keyframes": ListOf(min_len=1, max_len=MAX_KEYFRAMES),
    "kinds": ListOf(Str(choices=KINDS), max_len=MAX_KEYFRAMES),
    "fps": Number(positive=True),
    "loop": Bool(),
    "pingpong": Bool(),
})


def path_from_dict(d: Any, model: LatentModel, name: str = "path") -> LatentPath:
    """Validate and build a path from its JSON object (see :func:`load_path`)."""
    if not isinstance(d, dict):
        raise ValueError(f"{name} is not a latent path (expected a JSON object)")
    version = d.get("version")
    if version != VERSION:
        raise ValueError(f"{name} has path format version {version!r}; this Latent Explorer reads version {VERSION}")
    spec = model.latent_spec
    keyframes = d.get("keyframes")
    if not isinstance(keyframes, list) or not keyframes:
        raise ValueError(f"{name} has no keyframes")
    d = check(d, _PATH_FIELDS, name)
    try:
        flats = [_keyframe_from_json(spec, kf, i, model.family) for i, kf in enumerate(keyframes)]
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    kinds = d.get("kinds", ["slerp"] * (len(flats) - 1))
    if len(kinds) != len(flats) - 1:
        raise ValueError(f"{name}: {len(flats)} keyframes need {len(flats) - 1} kinds, got {len(kinds)}")
    saved = d.get("model") or {}
    notes: list[str] = []
    own = ModelIdentity.of(model)
    if saved.get("fingerprint") and saved.get("fingerprint") != own.fingerprint:
        notes.append(
            f"path was made with a different model ({saved.get('family') or '?'} {saved.get('fingerprint')}, "
            f"this is {own.family} {own.fingerprint}); the latent sizes fit, so it plays, but the images will differ"
        )
    elif saved.get("checkpoint"):
        own.checkpoint = saved["checkpoint"]
    return LatentPath(flats, kinds, own, fps=float(d.get("fps", 12.0)), loop=d.get("loop", True),
                      pingpong=d.get("pingpong", False), notes=notes)
