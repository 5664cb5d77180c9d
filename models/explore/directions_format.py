"""The record of a model's principal directions (:class:`Directions`, computed by
:func:`models.explore.directions.principal_directions`) and its JSON format: what a
session saves, and the validation on the way back.

Format, version 1::

    {"version": 1, "kind": "pca",
     "directions": [[...input_dim numbers...], ...k rows], "explained_variance": [...k],
     "stdev": [...k], "mean": [...input_dim], "layer": "generator_ema.module.fc.2",
     "source": "PCA of layer ... over 5,000 latents", "n_samples": 5000, "seed": 0,
     "z_dim": 100, "weights": "<hash>", "notes": ["..."]}

Reading checks every field before anything is built: the shapes agree with each other, the
numbers are finite, each direction has unit length and is 0 outside z, the variance
shares are in [0, 1], descending and sum to at most 1. One ValueError (a
:class:`~models.io.files.FileRefused` for the field rules) names the file and the problem.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.io.validate import Int, ListOf, Number, Obj, Str, check

VERSION = 1
#: bounds on what may be asked for (and on what a saved file may hold)
MAX_SAMPLES = 100_000
MAX_COMPONENTS = 256
#: a latent wider than this is refused (the app's widest tested latents have 20,000 values)
MAX_INPUT_DIM = 1_000_000
#: k x input_dim values at most (a file of them is read whole)
MAX_VALUES = 10_000_000
#: rounding a float32 through JSON moves a unit vector's length by far less than this
UNIT_TOLERANCE = 1e-3


@dataclass(frozen=True, eq=False)
class Directions:
    """``k`` principal directions of a model's flat latent space (see the module docstring)."""

    #: (k, input_dim) float32 unit vectors, 0 outside z
    directions: np.ndarray
    #: (k,) the share of the features' variance each component explains, descending, summing to <= 1
    explained_variance: np.ndarray
    #: (k,) standard deviation of the sampled latents' coordinate along each direction
    #: (1 for a standard normal prior): a slider's unit
    stdev: np.ndarray
    #: (input_dim,) the sampled latents' mean z; categorical codes at category 0, continuous codes 0
    mean: np.ndarray
    #: the module name, "output" or "latent": what the PCA was computed from
    layer: str
    #: one line saying so ("PCA of layer generator_ema.module.fc.2 (1,024 values) over 5,000 latents")
    source: str
    n_samples: int
    seed: int
    z_dim: int
    #: ``models.explore.directions.weights_fingerprint`` of the model it was computed with ("" when unknown)
    weights: str = ""
    #: extra notes (a component the latents barely drive)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def k(self) -> int:
        return int(self.directions.shape[0])

    @property
    def input_dim(self) -> int:
        return int(self.directions.shape[1])

    def offset(self, coefficients: np.ndarray | list[float]) -> np.ndarray:
        """(input_dim,) float32: ``sum_i c_i * stdev_i * direction_i`` (c in standard deviations)."""
        c = np.asarray(coefficients, np.float64).reshape(-1)
        if c.shape[0] != self.k:
            raise ValueError(f"{c.shape[0]} coefficients for {self.k} directions")
        return ((c * self.stdev)[:, None] * self.directions).sum(0).astype(np.float32)

    def misfit(self, input_dim: int, z_dim: int) -> str | None:
        """Why these directions do not fit a model with this latent layout, or None."""
        if (self.input_dim, self.z_dim) != (input_dim, z_dim):
            return (f"the directions are for a latent of {self.input_dim} values ({self.z_dim} z); "
                    f"this model's has {input_dim} ({z_dim} z)")
        return None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of format :data:`VERSION` (floats as float32 values, which JSON round-trips)."""
        return {
            "version": VERSION, "kind": "pca",
            "directions": self.directions.astype(np.float32).tolist(),
            "explained_variance": self.explained_variance.astype(np.float32).tolist(),
            "stdev": self.stdev.astype(np.float32).tolist(),
            "mean": self.mean.astype(np.float32).tolist(),
            "layer": self.layer, "source": self.source, "n_samples": self.n_samples, "seed": self.seed,
            "z_dim": self.z_dim, "weights": self.weights, "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Any, name: str = "directions") -> "Directions":
        """Validated (see the module docstring); ValueError naming ``name`` (the file) and the
        problem on anything wrong."""
        return directions_from_dict(d, name)



def _fields() -> Obj:
    return Obj({
        "version": Int(),
        "kind": Str(choices=("pca",)),
        "directions": ListOf(ListOf(max_len=MAX_INPUT_DIM), min_len=1, max_len=MAX_COMPONENTS),
        "explained_variance": ListOf(Number(lo=0.0, hi=1.0 + UNIT_TOLERANCE), min_len=1, max_len=MAX_COMPONENTS),
        "stdev": ListOf(Number(lo=0.0), min_len=1, max_len=MAX_COMPONENTS),
        "mean": ListOf(max_len=MAX_INPUT_DIM),
        "layer": Str(max_len=512),
        "source": Str(max_len=1024),
        "n_samples": Int(lo=1, hi=MAX_SAMPLES),
        "seed": Int(lo=0),
        "z_dim": Int(lo=1, hi=MAX_INPUT_DIM),
        "weights": Str(max_len=128),
        "notes": ListOf(Str(max_len=512), max_len=MAX_COMPONENTS),
    }, required=("version", "directions", "explained_variance", "stdev", "mean", "layer", "z_dim"))


def _array(values: list, name: str, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """A list (of lists) of finite numbers of ``shape`` as float32; ValueError otherwise."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {field} must hold only numbers, in rows of equal length") from None
    if a.shape != shape:
        raise ValueError(f"{name}: {field} has shape {a.shape}, expected {shape}")
    # checked as float32 too: 1e300 is finite as a double but overflows to inf when stored
    if not np.all(np.isfinite(a)) or not np.all(np.abs(a) <= np.finfo(np.float32).max):
        raise ValueError(f"{name}: {field} holds a value that is not a finite number")
    return a.astype(np.float32)


def directions_from_dict(d: Any, name: str = "directions") -> Directions:
    """Validate and build :class:`Directions` from its JSON object."""
    if not isinstance(d, dict):
        raise ValueError(f"{name}: principal directions must be a JSON object")
    if d.get("version") != VERSION:
        raise ValueError(f"{name} has directions format version {d.get('version')!r}; "
                         f"this Latent Explorer reads version {VERSION}")
    rows = d.get("directions")
    if isinstance(rows, list) and rows and isinstance(rows[0], list) and len(rows) * len(rows[0]) > MAX_VALUES:
        raise ValueError(f"{name}: {len(rows):,} directions of {len(rows[0]):,} values are more than "
                         f"{MAX_VALUES:,} values")
    d = check(d, _fields(), name)
    k, width = len(d["directions"]), len(d["directions"][0])
    z_dim = d["z_dim"]
    if z_dim > width:
        raise ValueError(f"{name}: z_dim is {z_dim} but the directions have only {width} values")
    dirs = _array(d["directions"], name, "directions", (k, width))
    ratio = _array(d["explained_variance"], name, "explained_variance", (k,))
    stdev = _array(d["stdev"], name, "stdev", (k,))
    mean = _array(d["mean"], name, "mean", (width,))
    norms = np.linalg.norm(dirs.astype(np.float64), axis=1)
    if np.any(np.abs(norms - 1.0) > UNIT_TOLERANCE):
        i = int(np.argmax(np.abs(norms - 1.0)))
        raise ValueError(f"{name}: direction {i + 1} has length {norms[i]:.4g}, not 1")
    if np.any(dirs[:, z_dim:] != 0):
        raise ValueError(f"{name}: a direction moves the codes after z (only z's {z_dim} values may be non-zero)")
    if np.any(np.diff(ratio) > UNIT_TOLERANCE) or float(ratio.sum()) > 1.0 + UNIT_TOLERANCE:
        raise ValueError(f"{name}: explained_variance must be descending and sum to at most 1")
    return Directions(dirs, ratio, stdev, mean, d["layer"], d.get("source", ""), d.get("n_samples", 1),
                      d.get("seed", 0), z_dim, d.get("weights", ""), tuple(d.get("notes", ())))
