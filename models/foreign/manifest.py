"""The manifest beside ONNX graphs: which file decodes, which encodes, and what the latent is.

``manifest.json`` (what :func:`models.foreign.export.export_onnx` writes; a folder holding one
opens as a model)::

    {
      "version": 1,                      required; this reader knows 1
      "decoder": "decoder.onnx",         required; relative to the manifest's folder
      "encoder": "encoder.onnx",         optional; images (N, C, H, W) in [0, 1] -> mean (N, d)
                                         (a second output of the same shape: the log-variance)
      "latent_dim": 64,                  required; the decoder's input width d
      "categorical": [10],               optional; one-hot blocks after z (InfoGAN)
      "continuous": 2,                   optional; continuous codes after them
      "prior": "normal",                 optional; "normal" | "uniform" | "none" (not declared)
      "z_range": [-3, 3],                optional; the z sliders' range
      "continuous_range": [-2, 2],       optional; the continuous codes' sliders' range
      "image_shape": [1, 28, 28],        optional when the graph's output shape is static
      "output_range": [0, 1],            optional when the graph ends in Sigmoid or Tanh
      "name": "my VAE"                   optional; shown in the window
    }

The flat latent is laid out ``[z | one-hot blocks | continuous codes]`` (models.latent), so
``z`` has ``latent_dim - sum(categorical) - continuous`` values. Files may not leave the
manifest's folder (``..``, absolute paths and symbolic links out of it are refused); an
unknown field is refused (a misspelt one would be ignored silently), and so is a field
given twice (JSON readers disagree on which one wins). Ranges are finite, of low < high,
within +-:data:`MAX_RANGE`; the image has at most the model budget's values; the name is
one line of printable text.
"""
from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.foreign.errors import ForeignModelError
from models.io.files import FileRefused, read_text
from models.io.json_io import parse_json
from models.io.validate import Int, ListOf, Number, Obj, Str, check
from models.latent import LatentSpec
from models.runs.model_budget import MAX_IMAGE_VALUES

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
PRIORS = ("normal", "uniform", "none")
#: a manifest is a few hundred bytes; anything near this is not one
MAX_MANIFEST_BYTES = 1 * 2**20
#: the widest latent a model may have (a slider each)
MAX_LATENT_DIM = 2**20
#: the largest magnitude a range's end may have: sliders and output scales far beyond any model's
MAX_RANGE = 1e6
#: the narrowest a range may be (an output range narrower maps rounding noise to the whole of [0, 1])
MIN_SPAN = 1e-6

_RANGE = ListOf(Number(), length=2, optional=True)
SCHEMA = Obj({
    "version": Int(lo=1),
    "decoder": Str(max_len=1024),
    "encoder": Str(max_len=1024, optional=True),
    "latent_dim": Int(lo=1, hi=MAX_LATENT_DIM),
    "categorical": ListOf(Int(lo=2, hi=2**16), max_len=64, optional=True),
    "continuous": Int(lo=0, hi=2**16, optional=True),
    "prior": Str(choices=PRIORS, optional=True),
    "z_range": _RANGE,
    "continuous_range": _RANGE,
    "image_shape": ListOf(Int(lo=1, hi=2**16), length=3, optional=True),
    "output_range": _RANGE,
    "name": Str(max_len=200, optional=True),
}, required=("version", "decoder", "latent_dim"))


@dataclass(frozen=True)
class Manifest:
    """A checked manifest; file paths are absolute, inside the manifest's folder."""

    path: Path
    decoder: Path
    encoder: Path | None
    latent_dim: int
    categorical: tuple[int, ...] = ()
    continuous: int = 0
    #: "normal" or "uniform", or None when the manifest declares none
    prior: str | None = None
    z_range: tuple[float, float] = (-3.0, 3.0)
    continuous_range: tuple[float, float] = (-2.0, 2.0)
    image_shape: tuple[int, int, int] | None = None
    output_range: tuple[float, float] | None = None
    name: str = ""

    def spec(self, has_encoder: bool) -> LatentSpec:
        """The latent layout it declares (sampled from N(0, I) when it declares no prior)."""
        z_dim = self.latent_dim - sum(self.categorical) - self.continuous
        return LatentSpec(z_dim=z_dim, z_range=self.z_range, prior=self.prior or "normal",
                          categorical=self.categorical, continuous=self.continuous,
                          continuous_range=self.continuous_range, has_encoder=has_encoder)


def _inside(folder: Path, name: str, manifest: Path, field: str) -> Path:
    rel = Path(name)
    if "\0" in name:
        raise ForeignModelError(manifest, f"{field} {name!r} holds a NUL character, so no file has that name")
    if not name or rel.is_absolute() or rel.drive:
        raise ForeignModelError(manifest, f"{field} must be a file name relative to the manifest's folder, got {name!r}")
    try:
        full = (folder / rel).resolve()
        base = folder.resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        raise ForeignModelError(manifest, f"{field} {name!r} cannot be followed (a loop of symbolic links?)") from None
    try:
        full.relative_to(base)
    except ValueError:
        raise ForeignModelError(manifest, f"{field} {name!r} leaves the manifest's folder; its files must be "
                                          "beside it") from None
    return full


def range_problem(lo: float, hi: float) -> str | None:
    """Why (lo, hi) is no usable range (finite, low < high, within :data:`MAX_RANGE`, at
    least :data:`MIN_SPAN` wide), or None."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "its ends must be finite numbers"
    if not lo < hi:
        return "it must be [low, high] with low < high"
    if max(abs(lo), abs(hi)) > MAX_RANGE:
        return f"its ends must be within +-{MAX_RANGE:g}"
    if hi - lo < MIN_SPAN:
        return f"it must be at least {MIN_SPAN:g} wide"
    return None


def _range(value: list[float] | None, field: str, path: Path) -> tuple[float, float] | None:
    if value is None:
        return None
    lo, hi = float(value[0]), float(value[1])
    problem = range_problem(lo, hi)
    if problem:
        raise ForeignModelError(path, f"{field} {value} is no range: {problem}")
    return lo, hi


def _one_line(value: str, field: str, path: Path) -> str:
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise ForeignModelError(path, f"{field} must be one line of printable text (no control or direction "
                                      "characters)")
    return value


def parse_manifest(value: Any, path: str | Path) -> Manifest:
    """A manifest's parsed JSON ``value`` checked field by field (``path``: where it was read)."""
    path = Path(path)
    if isinstance(value, dict) and "decoder" not in value and "version" not in value:
        raise ForeignModelError(path, "is not a model manifest (it has no \"version\" and no \"decoder\"); a "
                                      f"{MANIFEST_NAME} names the ONNX decoder beside it")
    try:
        value = check(value, SCHEMA, path)
    except FileRefused as e:
        raise ForeignModelError(path, e.reason) from None
    unknown = sorted(set(value) - set(SCHEMA.fields))
    if unknown:
        raise ForeignModelError(path, f"unknown field {unknown[0]!r} (a manifest has: {', '.join(SCHEMA.fields)})")
    if value["version"] != MANIFEST_VERSION:
        raise ForeignModelError(path, f"is a version {value['version']} manifest; this app reads version {MANIFEST_VERSION}")
    folder = path.parent
    categorical = tuple(value.get("categorical") or ())
    continuous = int(value.get("continuous") or 0)
    if value["latent_dim"] - sum(categorical) - continuous < 1:
        raise ForeignModelError(path, f"latent_dim {value['latent_dim']} leaves no room for z beside the codes "
                                      f"(categorical {list(categorical)}, continuous {continuous})")
    prior = value.get("prior")
    shape = value.get("image_shape")
    if shape is not None and shape[0] not in (1, 3):
        raise ForeignModelError(path, f"image_shape must have 1 (grey) or 3 (RGB) channels, got {shape[0]}")
    if shape is not None and math.prod(shape) > MAX_IMAGE_VALUES:
        raise ForeignModelError(path, f"image_shape {shape} has {math.prod(shape):,} values per image, over the "
                                      f"{MAX_IMAGE_VALUES:,} a model may work on")
    return Manifest(
        path=path, decoder=_inside(folder, value["decoder"], path, "decoder"),
        encoder=_inside(folder, value["encoder"], path, "encoder") if value.get("encoder") else None,
        latent_dim=int(value["latent_dim"]), categorical=categorical, continuous=continuous,
        prior=None if prior in (None, "none") else prior,
        z_range=_range(value.get("z_range"), "z_range", path) or (-3.0, 3.0),
        continuous_range=_range(value.get("continuous_range"), "continuous_range", path) or (-2.0, 2.0),
        image_shape=tuple(shape) if shape is not None else None,
        output_range=_range(value.get("output_range"), "output_range", path),
        name=_one_line(value.get("name") or "", "name", path),
    )


def read_manifest(path: str | Path) -> Manifest:
    """The checked manifest file ``path`` (a folder: its ``manifest.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        text = read_text(path, "manifest", max_bytes=MAX_MANIFEST_BYTES)
        if not text.strip():
            raise ForeignModelError(path, "is empty")
        value = parse_json(text, path, unique_keys=True)
    except FileRefused as e:
        raise ForeignModelError(path, e.reason) from None
    return parse_manifest(value, path)


def manifest_dict(spec: LatentSpec, image_shape: tuple[int, int, int], *, decoder: str = "decoder.onnx",
                  encoder: str | None = None, prior: str | None = None, output_range: tuple[float, float] = (0.0, 1.0),
                  name: str = "") -> dict[str, Any]:
    """The manifest of a model with latent layout ``spec`` (``prior``: what to declare;
    default the spec's own when it is normal or uniform, else "none")."""
    declared = prior if prior is not None else (spec.prior if spec.prior in ("normal", "uniform") else "none")
    out: dict[str, Any] = {"version": MANIFEST_VERSION, "decoder": decoder}
    if encoder:
        out["encoder"] = encoder
    out.update({
        "latent_dim": spec.input_dim, "categorical": list(spec.categorical), "continuous": spec.continuous,
        "prior": declared, "z_range": list(spec.z_range), "continuous_range": list(spec.continuous_range),
        "image_shape": [int(v) for v in image_shape], "output_range": [float(v) for v in output_range],
    })
    if name:
        out["name"] = name
    return out


def manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest as the file holds it (indented: people read and edit it)."""
    return json.dumps(manifest, indent=2) + "\n"
