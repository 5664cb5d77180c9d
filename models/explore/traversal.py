"""Latent traversals: sweeping one latent entry while holding the rest, as figures and as
the latents behind them (the beta-VAE and InfoGAN papers' figures), and ranking z
dimensions by how much they change the image.

A class-conditional model (``LatentSpec.conditional``) also gets the figure its papers
show: one row per class, the columns sweeping one z dimension (or one principal direction)
with the rest of the point held, so the same change reads across every class
(:func:`class_traversal_latents`)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from models.explore.directions import direction_latents
from models.explore.directions_format import Directions
from models.explore.latent_paths import Vector
from models.explore.render import decode_batched
from models.families.base import LatentModel
from models.io.images import grid
from models.latent import LatentSpec


def _origin_or_sample(model: LatentModel, seed: int | None, around: Vector | None) -> torch.Tensor:
    """The point a traversal sweeps around: ``around`` when given, else a draw from the
    model's prior with ``seed``, else the origin."""
    spec = model.latent_spec
    if around is not None:
        a = torch.as_tensor(np.asarray(around.detach().cpu() if isinstance(around, torch.Tensor) else around, np.float32))
        if a.shape != (spec.input_dim,):
            raise ValueError(f"around has shape {tuple(a.shape)}, the flat latent is ({spec.input_dim},)")
        return a
    if seed is None:
        return spec.zeros(1)[0]
    return model.sample_latents(1, generator=torch.Generator().manual_seed(seed))[0]


def dimension_influence(model: LatentModel, value_range: float | None = None, around: Vector | None = None) -> torch.Tensor:
    """(z_dim,) how much each z dimension changes the image: the mean absolute pixel
    difference between decoding it at -R and at +R, every other entry held at ``around``
    (default: the origin). Works for any model (a GAN has no KL to rank its dims by); one
    batch of 2 * z_dim decodes."""
    spec = model.latent_spec
    r = float(value_range) if value_range is not None else float(spec.z_range[1])
    base = _origin_or_sample(model, None, around)
    flat = base.repeat(2 * spec.z_dim, 1)
    dims = torch.arange(spec.z_dim)
    flat[2 * dims, dims] = -r
    flat[2 * dims + 1, dims] = r
    images = decode_batched(model, flat)
    return (images[0::2] - images[1::2]).abs().flatten(1).mean(1)


def traversal_latents(model: LatentModel, dims: Sequence[int] | None = None, steps: int = 9,
                      value_range: float | None = None, seed: int | None = None,
                      around: Vector | None = None) -> tuple[torch.Tensor, int]:
    """(rows * steps, D) latents and the column count of the traversal figure.

    Row i sets z[dims[i]] to each of ``steps`` values evenly spaced over -R..R (R:
    ``value_range`` or the spec's slider limit), every other entry held at ``around``
    (default: the origin, or a prior sample drawn with ``seed``). Values replace the
    dimension rather than offset it, as in the beta-VAE figures. With ``dims=None`` on a
    model with a categorical code this is :func:`infogan_latents` instead.
    """
    spec = model.latent_spec
    if dims is None and spec.categorical:
        return infogan_latents(model, code=0, steps=steps, seed=seed if seed is not None else 0), steps
    if steps < 2:
        raise ValueError(f"a traversal needs at least 2 steps, got {steps}")
    dims = list(range(spec.z_dim)) if dims is None else [int(d) for d in dims]
    if not dims:
        raise ValueError("no dimensions to traverse")
    for d in dims:
        if not 0 <= d < spec.z_dim:
            raise ValueError(f"dimension {d} is out of range: this {model.family} model has z dims 0..{spec.z_dim - 1}")
    r = float(value_range) if value_range is not None else float(spec.z_range[1])
    if not r > 0:
        raise ValueError(f"the traversal range must be positive, got {r}")
    base = _origin_or_sample(model, seed, around)
    values = torch.linspace(-r, r, steps)
    flat = base.repeat(len(dims) * steps, 1)
    for i, d in enumerate(dims):
        flat[i * steps : (i + 1) * steps, d] = values
    return flat, steps


def infogan_latents(model: LatentModel, code: int = 0, steps: int = 10, seed: int | None = 0) -> torch.Tensor:
    """The InfoGAN figure's latents: row r = value r of the first categorical code,
    columns = continuous code ``code`` swept over ``continuous_range`` (other codes 0),
    one noise vector (from ``seed``) shared by every cell. Without continuous codes the
    columns are ``steps`` different noise vectors instead."""
    spec = model.latent_spec
    if not spec.categorical:
        raise ValueError(f"{model.family} has no categorical code")
    if steps < 1:
        raise ValueError(f"need at least 1 column, got {steps}")
    rows = spec.categorical[0]
    gen = torch.Generator().manual_seed(0 if seed is None else seed)
    n = rows * steps
    cats = torch.zeros(n, len(spec.categorical), dtype=torch.long)
    cats[:, 0] = torch.arange(rows).repeat_interleave(steps)
    codes = torch.zeros(n, spec.continuous) if spec.continuous else None
    if spec.continuous:
        if not 0 <= code < spec.continuous:
            raise ValueError(f"continuous code {code} is out of range: {model.family} has codes 0..{spec.continuous - 1}")
        z = spec.split(model.sample_latents(1, generator=gen))[0].expand(n, -1)
        codes[:, code] = torch.linspace(*spec.continuous_range, steps).repeat(rows)
    else:
        z = spec.split(model.sample_latents(steps, generator=gen))[0].repeat(rows, 1)
    return spec.compose(z.clone(), cats, codes)


def traversal_images(model: LatentModel, dims: Sequence[int] | None = None, steps: int = 9,
                     value_range: float | None = None, seed: int | None = None,
                     around: Vector | None = None) -> torch.Tensor:
    """Decoded traversal (rows * steps, C, H, W) on the CPU; see :func:`traversal_latents`."""
    flat, _ = traversal_latents(model, dims, steps, value_range, seed, around)
    return decode_batched(model, flat)


def traversal_grid(model: LatentModel, dims: Sequence[int] | None = None, steps: int = 9,
                   value_range: float | None = None, seed: int | None = None,
                   around: Vector | None = None) -> np.ndarray:
    """The traversal figure as one (H, W, C) uint8 image: a row per dimension, ``steps``
    columns. Rows follow ``dims`` as given (pass dims sorted by
    :func:`models.metrics.kl.kl_per_dimension` for "most active first")."""
    flat, ncol = traversal_latents(model, dims, steps, value_range, seed, around)
    return grid(decode_batched(model, flat), ncol=ncol)


def infogan_grid(model: LatentModel, code: int = 0, steps: int = 10, seed: int | None = 0) -> np.ndarray:
    """The InfoGAN paper's figure as one (H, W, C) uint8 image (see :func:`infogan_latents`)."""
    return grid(decode_batched(model, infogan_latents(model, code, steps, seed)), ncol=steps)


def category_sweep_latents(spec: LatentSpec, around: Vector, code: int, steps: int) -> torch.Tensor:
    """InfoGAN's figure around a point: (rows * steps, D); row r = category r of the first
    categorical code, columns = continuous code ``code`` over its range, the rest = ``around``."""
    rows = spec.categorical[0]
    flat = torch.as_tensor(np.asarray(around, np.float32)).repeat(rows * steps, 1)
    flat = spec.with_category(flat, 0, torch.arange(rows).repeat_interleave(steps))
    if spec.continuous:
        col = spec.z_dim + sum(spec.categorical) + code
        flat[:, col] = torch.linspace(*spec.continuous_range, steps).repeat(rows)
    return flat


#: the most rows of classes one figure draws (a model of thousands of classes would make an
#: image hundreds of thousands of pixels tall): the first ones, or from the point's own class
#: onwards where the caller passes it (the Traversal panel does)
MAX_CLASS_ROWS = 32


def class_rows(spec: LatentSpec, first: int = 0, limit: int = MAX_CLASS_ROWS) -> list[int]:
    """The classes a figure's rows show: all of them, or ``limit`` from ``first`` on (wrapping)."""
    k = spec.categorical[0]
    if k <= limit:
        return list(range(k))
    return [(first + i) % k for i in range(limit)]


def most_influential_dim(model: LatentModel, value_range: float | None = None, around: Vector | None = None) -> int:
    """The z dimension that changes the image most at ``around`` (see :func:`dimension_influence`)."""
    return int(torch.argmax(dimension_influence(model, value_range, around)))


def class_traversal_latents(model: LatentModel, dim: int | None = None, steps: int = 9,
                            value_range: float | None = None, seed: int | None = None, around: Vector | None = None,
                            directions: Directions | None = None, direction: int = 0,
                            classes: list[int] | None = None) -> torch.Tensor:
    """(classes * steps, D) latents of a class-conditional model's figure: row c = class c
    (``classes``: the classes of the rows, in order; default :func:`class_rows`: every class,
    or the first ``MAX_CLASS_ROWS`` of a model of very many)
    (categorical code 0, named ``spec.class_names[c]``), columns sweep z[``dim``] over -R..R
    (replacing its value; R: ``value_range`` or the spec's slider limit), every other entry
    held at ``around`` (default: the origin, or a prior sample drawn with ``seed``).

    With ``directions`` the columns move along principal direction ``direction`` instead,
    -R..R of its standard deviations (R default 3). ValueError for a model without a class
    label, or a dimension or direction it does not have."""
    spec = model.latent_spec
    if not spec.conditional:
        raise ValueError(f"{model.family} has no class label to make rows of (only class-conditional models do)")
    if steps < 2:
        raise ValueError(f"a traversal needs at least 2 steps, got {steps}")
    base = _origin_or_sample(model, seed, around)
    if directions is not None:
        if not 0 <= direction < directions.k:
            raise ValueError(f"there are {directions.k} principal directions; direction {direction + 1} is not one")
        r = float(value_range) if value_range is not None else 3.0
        line = direction_latents(directions, base.numpy(), steps, r, rows=direction + 1)[direction * steps :]
    else:
        if dim is None or not 0 <= dim < spec.z_dim:
            raise ValueError(f"dimension {dim} is out of range: this {model.family} model has z dims 0..{spec.z_dim - 1}")
        r = float(value_range) if value_range is not None else float(spec.z_range[1])
        if not r > 0:
            raise ValueError(f"the traversal range must be positive, got {r}")
        line = base.repeat(steps, 1)
        line[:, dim] = torch.linspace(-r, r, steps)
    rows = torch.as_tensor(class_rows(spec) if classes is None else classes, dtype=torch.long)
    if rows.numel() == 0 or int(rows.min()) < 0 or int(rows.max()) >= spec.categorical[0]:
        raise ValueError(f"the rows must be classes 0..{spec.categorical[0] - 1}")
    # the point's own class is replaced row by row
    return spec.with_category(line.repeat(len(rows), 1), 0, rows.repeat_interleave(steps))


def class_traversal_grid(model: LatentModel, dim: int | None = None, steps: int = 9,
                         value_range: float | None = None, seed: int | None = None,
                         around: Vector | None = None) -> np.ndarray:
    """The class figure as one (H, W, C) uint8 image (see :func:`class_traversal_latents`);
    ``dim=None`` sweeps the most influential z dimension at the point."""
    if dim is None and model.latent_spec.conditional:
        dim = most_influential_dim(model, value_range, _origin_or_sample(model, seed, around))
    return grid(decode_batched(model, class_traversal_latents(model, dim, steps, value_range, seed, around)), ncol=steps)
