"""A procedural dSprites-style dataset: white shapes on black, rendered on demand.

The factor space is 3 shapes x 6 scales x 40 rotations x 32 x 32 positions = 737,280
images.  Storing them (64x64 each) would take ~3 GB, so a split holds only flat indices
into the factor space and :meth:`ShapesSplit.batch` *renders* the requested images with a
few vectorised tensor operations on the index tensor's device.

Flat index layout (row-major, ``pos_y`` fastest)::

    index = (((shape * 6 + scale) * 40 + rotation) * 32 + pos_x) * 32 + pos_y

Geometry (in pixels, image y axis pointing down):

* every shape is defined in a local frame where it fits inside the unit disk; it is drawn
  with radius ``R = BASE_RADIUS * size * scale`` (scale 0.5 .. 1.0 as in dSprites), so
  rotation can never push it outside that disk;
* rotation ``k`` is ``2*pi*k/40`` (0 inclusive, 2*pi exclusive, so no duplicate images);
* positions put the centre between ``BASE_RADIUS*size`` and ``size - BASE_RADIUS*size``,
  so even the largest shape stays inside the image.  ``pos_x`` moves right, ``pos_y`` down.

Determinism: the only inputs are tables computed once in float64 on the CPU and cast to
float32, and the per-pixel work uses only +, -, *, abs, max and comparisons, each as a
separate tensor op.  Those are exactly rounded IEEE operations on every backend, so an
index renders to the same bits on CPU and GPU (no sin/cos or fused ops on the device).

Two ways to render the same bits: on the CPU the batch is grouped by shape so each pixel is
tested against its own shape only (the group sizes are read on the host); on accelerators
every pixel is tested against all three shapes and each image picks its own with
``torch.where``, so nothing waits for the device and a CUDA graph can capture the render.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .base import DataError, Dataset, Split

FACTOR_NAMES: tuple[str, ...] = ("shape", "scale", "rotation", "pos_x", "pos_y")
#: number of values of each factor, in FACTOR_NAMES order
FACTOR_SIZES: tuple[int, ...] = (3, 6, 40, 32, 32)
NUM_IMAGES: int = math.prod(FACTOR_SIZES)  # 737,280
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")
#: the scale factor's values, as in dSprites
SCALES: tuple[float, ...] = tuple(float(s) for s in np.linspace(0.5, 1.0, FACTOR_SIZES[1]))
#: radius of the largest shape's bounding circle, as a fraction of the image size
BASE_RADIUS: float = 0.2
SIZES: tuple[int, ...] = (64, 28)

# Strides of the flat index, e.g. index // _STRIDES[1] % 6 is the scale.
_STRIDES: tuple[int, ...] = tuple(math.prod(FACTOR_SIZES[i + 1:]) for i in range(len(FACTOR_SIZES)))
_POSITIONS = FACTOR_SIZES[3] * FACTOR_SIZES[4]  # images per (shape, scale, rotation)

# Heart: (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0 spans x in [-1.14, 1.14], y in [-1, 1.24]; its
# smallest enclosing circle is centred at (0, 0.25) with radius 1.25.  We map the unit
# disk onto that circle and flip y so the heart's point faces down in the image.
_HEART_RADIUS = 1.25
_HEART_CENTRE_Y = 0.25
# Ellipse with semi-axes 1 x 0.5 (fills the disk along its major axis).
_ELLIPSE_ASPECT = 2.0
# Square with its corners on the unit circle: half-side 1/sqrt(2).
_SQUARE_HALF = 1.0 / math.sqrt(2.0)


def _tables(size: int) -> dict[str, torch.Tensor]:
    """Per-factor float32 lookup tables for one image size, computed in float64.

    ``coef[c]`` for combo ``c = (shape*6 + scale)*40 + rotation`` holds (ax, bx, ay, by,
    oy): the local shape coordinates of a pixel at offset (dx, dy) from the centre are
    ``X = ax*dx + bx*dy`` and ``Y = ay*dx + by*dy + oy``, i.e. an inverse rotation, the
    1/R scaling and the shape's own frame folded into one affine map.  Shape frames are
    normalised so the inside test is ``max(|X|,|Y|) <= 1`` (square), ``X^2+Y^2 <= 1``
    (ellipse) or the heart polynomial in (X, Y).
    """
    n_shape, n_scale, n_rot = FACTOR_SIZES[:3]
    # Per-shape (gx, gy, oy): local = (gx * rotated_x, gy * rotated_y + oy).
    frames = {
        0: (1.0 / _SQUARE_HALF, 1.0 / _SQUARE_HALF, 0.0),
        1: (1.0, _ELLIPSE_ASPECT, 0.0),
        2: (_HEART_RADIUS, -_HEART_RADIUS, _HEART_CENTRE_Y),  # y up in the heart's frame
    }
    coef = np.zeros((n_shape, n_scale, n_rot, 5), dtype=np.float64)
    angles = 2.0 * np.pi * np.arange(n_rot) / n_rot
    cos, sin = np.cos(angles), np.sin(angles)
    for shape in range(n_shape):
        gx, gy, oy = frames[shape]
        for s, scale in enumerate(SCALES):
            inv_r = 1.0 / (BASE_RADIUS * size * scale)
            # Rotating the shape by +theta means rotating pixel offsets by -theta.
            coef[shape, s, :, 0] = gx * cos * inv_r
            coef[shape, s, :, 1] = gx * sin * inv_r
            coef[shape, s, :, 2] = -gy * sin * inv_r
            coef[shape, s, :, 3] = gy * cos * inv_r
            coef[shape, s, :, 4] = oy
    margin = BASE_RADIUS * size
    positions = np.linspace(margin, size - margin, FACTOR_SIZES[3])
    pixels = np.arange(size) + 0.5  # pixel centres
    return {
        "coef": torch.from_numpy(coef.reshape(-1, 5).astype(np.float32)),
        "pos": torch.from_numpy(positions.astype(np.float32)),
        "pix": torch.from_numpy(pixels.astype(np.float32)),
    }


_TABLE_CACHE: dict[tuple[int, str], dict[str, torch.Tensor]] = {}


def _tables_on(size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """The tables for ``size`` on ``device``, built once (CPU float64) and cached.

    Later calls are a dict lookup and touch no tensor, so they are safe inside a CUDA graph
    capture.  The first call on a device builds the tables and copies them from pageable
    host memory, which syncs and cannot be captured: a trainer's eager warm-up steps make
    that first call before any capture.
    """
    key = (size, str(device))
    tables = _TABLE_CACHE.get(key)
    if tables is None:
        cpu = _TABLE_CACHE.get((size, "cpu"))
        if cpu is None:
            cpu = _TABLE_CACHE[(size, "cpu")] = _tables(size)
        tables = _TABLE_CACHE[key] = {k: v.to(device) for k, v in cpu.items()}
    return tables


def _check_size(size: int) -> None:
    if size not in SIZES:
        raise DataError(f"shapes images can be {' or '.join(map(str, SIZES))} pixels, not {size}.")


def index_to_factors(index: torch.Tensor) -> torch.Tensor:
    """(N,) flat indices -> (N, 5) int64 factor indices (shape, scale, rotation, pos_x, pos_y)."""
    index = torch.as_tensor(index, dtype=torch.int64)
    strides = torch.tensor(_STRIDES, dtype=torch.int64, device=index.device)
    sizes = torch.tensor(FACTOR_SIZES, dtype=torch.int64, device=index.device)
    return index.unsqueeze(-1).div(strides, rounding_mode="floor").remainder(sizes)


def factors_to_index(factors: torch.Tensor) -> torch.Tensor:
    """(N, 5) factor indices -> (N,) int64 flat indices; raises ValueError when out of range."""
    factors = torch.as_tensor(factors, dtype=torch.int64)
    sizes = torch.tensor(FACTOR_SIZES, dtype=torch.int64, device=factors.device)
    if factors.shape[-1] != len(FACTOR_SIZES):
        raise ValueError(f"factors must have {len(FACTOR_SIZES)} columns, got shape {tuple(factors.shape)}")
    if bool(((factors < 0) | (factors >= sizes)).any()):
        raise ValueError(f"factor indices out of range; sizes are {FACTOR_SIZES}")
    strides = torch.tensor(_STRIDES, dtype=torch.int64, device=factors.device)
    return (factors * strides).sum(-1)


def render_index(index: torch.Tensor, size: int = 64, grouped: bool | None = None) -> torch.Tensor:
    """Render flat indices as float32 (N, 1, size, size) images in {0, 1} on ``index.device``.

    ``grouped`` picks how, never what: both ways give the same bits.  True tests each image
    only against its own shape (the cheapest on the CPU, but it reads the per-shape counts
    on the host); False tests every image against every shape and selects per image with
    ``torch.where`` (about three times the work, but no value is read on the host, so
    nothing syncs and a CUDA graph can capture it).  None: grouped on the CPU, selected on
    any other device.
    """
    _check_size(size)
    index = index.reshape(-1).long()
    if grouped is None:
        grouped = index.device.type == "cpu"
    t = _tables_on(size, index.device)
    pos_y = index.remainder(FACTOR_SIZES[4])
    pos_x = index.div(FACTOR_SIZES[4], rounding_mode="floor").remainder(FACTOR_SIZES[3])
    combo = index.div(_POSITIONS, rounding_mode="floor")  # (shape, scale, rotation) together
    shape = combo.div(FACTOR_SIZES[1] * FACTOR_SIZES[2], rounding_mode="floor")
    coef = t["coef"][combo]  # (N, 5); an out-of-range index fails here
    # Offsets of pixel centres from the shape centre, per column (dx) and per row (dy).
    dx = t["pix"].unsqueeze(0) - t["pos"][pos_x].unsqueeze(1)  # (N, W)
    dy = t["pix"].unsqueeze(0) - t["pos"][pos_y].unsqueeze(1)  # (N, H)
    # The affine map is separable: X = (ax*dx)[w] + (bx*dy)[h], so the per-pixel work is
    # one broadcast add per coordinate; the products are computed on (N, size) only.
    px = (coef[:, 0:1] * dx).unsqueeze(1)  # (N, 1, W)
    qx = (coef[:, 1:2] * dy).unsqueeze(2)  # (N, H, 1)
    py = (coef[:, 2:3] * dx).unsqueeze(1)
    qy = (coef[:, 3:4] * dy + coef[:, 4:5]).unsqueeze(2)
    masks = _render_grouped if grouped else _render_selected
    return masks(shape, px, qx, py, qy).unsqueeze(1).to(torch.float32)


def _render_grouped(shape: torch.Tensor, px: torch.Tensor, qx: torch.Tensor, py: torch.Tensor,
                    qy: torch.Tensor) -> torch.Tensor:
    """(N, H, W) inside masks, each image tested only against its own shape.

    Testing every image against all three shapes costs about three times as much, so
    the batch is grouped by shape (one host read for the group sizes).
    """
    n, size = shape.shape[0], px.shape[-1]
    order = torch.argsort(shape, stable=True)
    counts = torch.bincount(shape, minlength=len(SHAPE_NAMES)).tolist()
    masks = []
    start = 0
    for k, count in enumerate(counts):
        if count == 0:
            continue
        sel = order[start:start + count]
        start += count
        x = px[sel] + qx[sel]  # (n_k, H, W)
        y = py[sel] + qy[sel]
        masks.append(_inside(k, x, y))
    out = torch.empty(n, size, size, dtype=torch.bool, device=shape.device)
    if masks:
        out[order] = torch.cat(masks)
    return out


def _render_selected(shape: torch.Tensor, px: torch.Tensor, qx: torch.Tensor, py: torch.Tensor,
                     qy: torch.Tensor) -> torch.Tensor:
    """(N, H, W) inside masks: every shape's test on every image, each image picking its own.

    Every op's shape depends only on the batch size, never on the values, so this neither
    syncs nor breaks a CUDA graph capture.  The tests share their intermediates (x*x, y*y,
    their sum) through the same helpers as :func:`_inside`, op for op, so each pixel gets
    exactly the value the grouped path computes.
    """
    x = px + qx  # (N, H, W)
    y = py + qy
    x2 = x * x
    y2 = y * y
    r2 = _radius2(x2, y2)
    which = shape.view(-1, 1, 1)
    return torch.where(which == 0, _square(x, y), torch.where(which == 1, r2 <= 1.0, _heart(x2, y2, y, r2)))


def _inside(shape: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Boolean inside test in the shape's normalised local frame."""
    if shape == 0:
        return _square(x, y)
    x2 = x * x
    y2 = y * y
    r2 = _radius2(x2, y2)
    if shape == 1:
        return r2 <= 1.0
    return _heart(x2, y2, y, r2)


def _square(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.maximum(x.abs(), y.abs()) <= 1.0


def _radius2(x2: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
    """x^2 + y^2 from the squares: the ellipse's test and the heart's first term."""
    return x2 + y2


def _heart(x2: torch.Tensor, y2: torch.Tensor, y: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
    # Plain products (no pow), each its own op, to keep results bitwise reproducible.
    t = r2 - 1.0
    return (t * t * t - x2 * (y2 * y)) <= 0.0


def render(factors: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Render (N, 5) factor indices as float32 (N, 1, size, size) images in {0, 1}."""
    return render_index(factors_to_index(factors), size)


class ShapesSplit(Split):
    """A split of the shapes dataset: flat indices only, images rendered per batch."""

    factor_names = FACTOR_NAMES

    def __init__(self, indices: torch.Tensor, size: int = 64) -> None:
        _check_size(size)
        self.indices = indices.long()
        self.size = size
        self.image_shape = (1, size, size)
        self._factors: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.indices.shape[0]

    # Factors and labels are derived from the indices on first use and kept: for the full
    # train split that is 29 MB + 6 MB, cheap next to the 3 GB the images would need.
    @property
    def factors(self) -> torch.Tensor:  # type: ignore[override]
        """(N, 5) int64 factor indices (shape, scale, rotation, pos_x, pos_y)."""
        if self._factors is None:
            self._factors = index_to_factors(self.indices)
        return self._factors

    @property
    def labels(self) -> torch.Tensor:  # type: ignore[override]
        """(N,) int64 shape index (0 square, 1 ellipse, 2 heart)."""
        if self._labels is None:
            self._labels = self.indices.div(_STRIDES[0], rounding_mode="floor")
        return self._labels

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        # Both moves are no-ops once the split lives on idx's device (Trainer moves it
        # there), so the gather and the render stay on the device without a sync.
        flat = self.indices[idx.to(self.indices.device)].to(idx.device)
        return render_index(flat, self.size)

    def to(self, device: torch.device | str) -> "ShapesSplit":
        device = torch.device(device)
        if self.indices.device == device:
            return self
        return ShapesSplit(self.indices.to(device), self.size)


def load_shapes(size: int = 64, test_size: int = 10_000, seed: int = 0) -> Dataset:
    """The shapes dataset: a seeded random ``test_size`` test subset, the rest for training.

    The two splits are disjoint, so test metrics measure generalisation to unseen
    factor combinations.  Nothing is rendered here; this takes milliseconds.
    """
    _check_size(size)
    if not 0 < test_size < NUM_IMAGES:
        raise DataError(f"shapes test_size must be between 1 and {NUM_IMAGES - 1}, not {test_size}.")
    # randperm on the CPU with an explicit generator: the same seed gives the same split
    # on every machine, whatever device training runs on.
    gen = torch.Generator().manual_seed(seed)
    test = torch.randperm(NUM_IMAGES, generator=gen)[:test_size].sort().values
    in_test = torch.zeros(NUM_IMAGES, dtype=torch.bool)
    in_test[test] = True
    train = torch.nonzero(~in_test).squeeze(1)
    info = {
        "factor_sizes": FACTOR_SIZES,
        "factor_names": FACTOR_NAMES,
        "scales": SCALES,
        "seed": seed,
        "train_size": int(train.shape[0]),
        "test_size": test_size,
    }
    return Dataset("shapes", ShapesSplit(train, size), ShapesSplit(test, size), SHAPE_NAMES, info)
