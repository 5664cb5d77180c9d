"""Interpolation paths through a latent space, and the files they are saved in.

Interpolation
    ``lerp`` is the straight line. ``slerp`` interpolates the *direction* of the two
    vectors along the great circle and the *norm* linearly between ``|a|`` and ``|b|``.
    Under a Gaussian prior almost all mass lies on a thin shell of radius ~sqrt(d), so a
    straight line between two samples cuts through the low-norm interior (blurry,
    "average" images half way) while this slerp stays at typical radius. Interpolating
    the norm (rather than Shoemake's plain slerp, which only keeps it when |a| = |b|)
    keeps the endpoints exact for any pair of vectors. Parallel, antiparallel or ~zero
    endpoints have no unique great circle, so slerp falls back to the straight line.

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

from models.families.base import LatentModel
from models.io.atomic import atomic_write_bytes
from models.latent import LatentSpec

VERSION = 1
KINDS = ("linear", "slerp")

Vector = np.ndarray | torch.Tensor


# ---------------------------------------------------------------------------------------
# lerp / slerp
# ---------------------------------------------------------------------------------------
def _as_f64(x: Vector) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach()).to("cpu", torch.float64)


def _like(result: torch.Tensor, a: Vector) -> Vector:
    """Back to the container and dtype of ``a`` (numpy stays numpy, float32 stays float32)."""
    if isinstance(a, torch.Tensor):
        dtype = a.dtype if a.is_floating_point() else torch.float32
        return result.to(a.device, dtype)
    a = np.asarray(a)
    dtype = a.dtype if np.issubdtype(a.dtype, np.floating) else np.float32
    return result.numpy().astype(dtype, copy=False)


def _endpoints_exact(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Rows with t == 0 (t == 1) are a (b) bit for bit, whatever rounding did."""
    if t.dim() == 0:
        return a.clone() if t == 0 else b.clone() if t == 1 else out
    tt = t[:, None]
    return torch.where(tt == 0, a, torch.where(tt == 1, b, out))


def lerp(a: Vector, b: Vector, t: float | Sequence[float] | np.ndarray) -> Vector:
    """``(1 - t) a + t b``; t a scalar gives one vector, a 1-D t gives (len(t), D)."""
    a64, b64 = _as_f64(a), _as_f64(b)
    t64 = _as_f64(t)
    tt = t64[:, None] if t64.dim() == 1 else t64
    out = (1 - tt) * a64 + tt * b64
    return _like(_endpoints_exact(out, a64, b64, t64), a)


def slerp(a: Vector, b: Vector, t: float | Sequence[float] | np.ndarray, eps: float = 1e-6) -> Vector:
    """Great-circle interpolation of the directions, linear interpolation of the norms.

    Endpoints are exact (t=0 -> a, t=1 -> b bit for bit). Falls back to :func:`lerp`
    when either vector is ~zero or they are (anti)parallel (sin of the angle < eps),
    where the great circle is undefined. Computed in float64, returned like ``a``.
    """
    a64, b64 = _as_f64(a), _as_f64(b)
    t64 = _as_f64(t)
    na, nb = a64.norm(), b64.norm()
    if na < eps or nb < eps:
        return lerp(a, b, t)
    ua, ub = a64 / na, b64 / nb
    cos = torch.clamp((ua * ub).sum(), -1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    if sin < eps:
        return lerp(a, b, t)
    tt = t64[:, None] if t64.dim() == 1 else t64
    direction = (torch.sin((1 - tt) * omega) * ua + torch.sin(tt * omega) * ub) / sin
    out = ((1 - tt) * na + tt * nb) * direction
    return _like(_endpoints_exact(out, a64, b64, t64), a)


def latent_arithmetic(spec: LatentSpec, a: Vector, b: Vector, c: Vector, scale: float = 1.0) -> np.ndarray:
    """``c + scale * (a - b)``: the DCGAN paper's vector arithmetic ("smiling woman - neutral
    woman + neutral man = smiling man"), on flat latents laid out as ``spec``.

    The noise dims and continuous codes take the arithmetic; each categorical block is
    ``c``'s (a difference of one-hot codes is not a code): "bold 3 - thin 3 + thin 7" keeps the 7.
    """
    a64, b64, c64 = (np.asarray(v, np.float64).reshape(-1) for v in (a, b, c))
    if not a64.shape == b64.shape == c64.shape == (spec.input_dim,):
        raise ValueError(f"latent arithmetic needs three points of {spec.input_dim} values")
    out = c64 + scale * (a64 - b64)
    start = spec.z_dim
    for k in spec.categorical:
        out[start : start + k] = c64[start : start + k]
        start += k
    return out.astype(np.float32)


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
        a, b = self.keyframes[i], self.keyframes[i + 1]
        t = np.asarray(t, np.float64).reshape(-1)
        out = lerp(a, b, t)
        if self.kinds[i] == "slerp":
            zd = self.spec.z_dim
            out[:, :zd] = slerp(a[:zd], b[:zd], t)
        return out.astype(np.float32, copy=False)

    def frames(self, n: int) -> np.ndarray:
        """(n, D) float32 latents; frame 0 is the first keyframe, frame n-1 the last.

        Every segment gets the same share of the n frames (segment i covers the global
        parameter s in [i, i+1], s spread evenly over [0, n_segments]), whatever the
        distance between its keyframes: keyframes are the user's beats, not mile posts.
        Interior keyframes are hit exactly when (n - 1) is a multiple of the segments.
        """
        if n < 1:
            raise ValueError(f"need at least 1 frame, got {n}")
        segs = len(self.kinds)
        if segs == 0 or n == 1:
            return np.repeat(self.keyframes[0][None], n, axis=0)
        s = np.linspace(0.0, float(segs), n)
        idx = np.minimum(np.floor(s).astype(int), segs - 1)
        t = s - idx
        out = np.empty((n, self.dim), np.float32)
        for i in range(segs):
            sel = idx == i
            if sel.any():
                out[sel] = self.segment(i, t[sel])
        return out

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
    z = np.asarray(kf.get("z", []), np.float64)
    if z.ndim != 1 or z.shape[0] != spec.z_dim:
        raise ValueError(f"keyframe {i} has {z.size} z values but this {family} model has z_dim {spec.z_dim}")
    cats = kf.get("categories", [])
    if len(cats) != len(spec.categorical):
        raise ValueError(f"keyframe {i} has {len(cats)} categorical codes but this {family} model has {len(spec.categorical)}")
    parts = [z]
    for j, (c, k) in enumerate(zip(cats, spec.categorical)):
        if isinstance(c, list):
            if len(c) != k:
                raise ValueError(f"keyframe {i}: categorical code {j} has {len(c)} weights but the model's has {k} values")
            parts.append(np.asarray(c, np.float64))
        else:
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < k:
                raise ValueError(f"keyframe {i}: categorical code {j} is {c!r}, must be an integer in 0..{k - 1}")
            parts.append(np.eye(k)[c])
    codes = np.asarray(kf.get("codes", []), np.float64)
    if codes.ndim != 1 or codes.shape[0] != spec.continuous:
        raise ValueError(f"keyframe {i} has {codes.size} continuous codes but this {family} model has {spec.continuous}")
    parts.append(codes)
    flat = np.concatenate(parts).astype(np.float32)
    if not np.isfinite(flat).all():
        raise ValueError(f"keyframe {i} has non-finite values")
    return flat


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
        d = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{file.name} is not valid JSON: {e}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{file.name} is not a text file") from None
    return path_from_dict(d, model, name=file.name)


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
    flats = [_keyframe_from_json(spec, kf, i, model.family) for i, kf in enumerate(keyframes)]
    kinds = d.get("kinds", ["slerp"] * (len(flats) - 1))
    if not isinstance(kinds, list) or len(kinds) != len(flats) - 1:
        raise ValueError(f"{name}: {len(flats)} keyframes need {len(flats) - 1} kinds, got {kinds!r}")
    for kd in kinds:
        if kd not in KINDS:
            raise ValueError(f"{name}: unknown interpolation {kd!r}; use one of {', '.join(KINDS)}")
    saved = d.get("model") or {}
    notes: list[str] = []
    own = ModelIdentity.of(model)
    if saved.get("fingerprint") and saved.get("fingerprint") != own.fingerprint:
        notes.append(
            f"path was made with a different model ({saved.get('family', '?')} {saved.get('fingerprint')}, "
            f"this is {own.family} {own.fingerprint}); the latent sizes fit, so it plays, but the images will differ"
        )
    elif saved.get("checkpoint"):
        own.checkpoint = saved["checkpoint"]
    try:
        fps = float(d.get("fps", 12.0))
    except (TypeError, ValueError):
        raise ValueError(f"{name}: fps must be a number, got {d.get('fps')!r}") from None
    if not fps > 0:
        raise ValueError(f"{name}: fps must be positive, got {fps}")
    return LatentPath(flats, kinds, own, fps=fps, loop=bool(d.get("loop", True)), pingpong=bool(d.get("pingpong", False)),
                      notes=notes)
