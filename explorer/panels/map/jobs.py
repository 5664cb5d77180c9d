"""The latent map's background work, as jobs for a ``JobRunner``: encoding a sample of the
test set (with progress, cancellable, and as many prior samples beside it), t-SNE or UMAP
of the codes (their progress as the engine reports it: see ``tsne_2d`` / ``umap_2d``), and
the decoded manifold of a 2-D latent. Each job runs on a model copy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from models.data.base import Split
from models.explore.latent_map import (PCA2D, encode_dataset, manifold_grid, map_columns, pca_2d, tsne_2d, umap_2d,
                                       umap_compiled)
from models.families.base import LatentModel

from ...jobs import JobCancelled

#: a job body: ``job(ctx)`` in the runner's thread
Job = Callable[[Any], Any]


class _ProgressSplit(Split):
    """A split that reports each batch it hands out (encode_dataset's loop has no hook)."""

    def __init__(self, inner: Split, total: int, ctx: Any) -> None:
        self.inner, self.total, self.ctx, self.done = inner, total, ctx, 0
        self.image_shape, self.labels, self.factors = inner.image_shape, inner.labels, inner.factors
        self.factor_names = inner.factor_names

    def __len__(self) -> int:
        return len(self.inner)

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        if self.ctx.cancelled():
            raise JobCancelled
        out = self.inner.batch(idx)
        self.done += len(idx)
        self.ctx.progress(self.done, self.total)
        return out


@dataclass
class Encoded:
    codes: np.ndarray  # (N, D) float32 flat latents
    labels: np.ndarray | None  # (N,)
    factors: np.ndarray | None  # (N, F)
    indices: np.ndarray  # (N,) into the test split
    pca: PCA2D
    generation: int
    #: (N, D) samples of the model's prior, drawn with the encoding (None: no prior, the AE)
    prior: np.ndarray | None = None
    #: (D,) bool: the columns the map projects (``map_columns``: all but a conditional model's class)
    columns: np.ndarray | None = None

    def mapped(self) -> np.ndarray:
        """The codes' columns that t-SNE and UMAP are fitted to."""
        return self.codes if self.columns is None or self.columns.all() else self.codes[:, self.columns]


def encode_job(model: LatentModel, test: Split, n: int, generation: int) -> Job:
    """Encode up to ``n`` test images with ``model`` (made for model ``generation``); the job
    returns an ``Encoded``, or None when cancelled."""

    def job(ctx) -> Encoded | None:
        split = _ProgressSplit(test, min(n, len(test)), ctx)
        try:
            codes, labels, factors, indices = encode_dataset(model, split, n=n, batch=250)
        except JobCancelled:
            return None
        prior = None
        if model.has_prior:  # seeded: the same grey cloud each time
            prior = model.sample_latents(len(codes), generator=torch.Generator().manual_seed(0)).numpy()
        columns = map_columns(model.latent_spec)
        return Encoded(codes, labels, factors, indices, pca_2d(codes, columns), generation, prior, columns)

    return job


def tsne_job(codes: np.ndarray) -> Job:
    """t-SNE of ``codes`` to (N, 2), with progress; None when cancelled."""

    def job(ctx) -> np.ndarray | None:
        return tsne_2d(codes, progress=ctx.progress, should_stop=ctx.cancelled)

    return job


def umap_job(codes: np.ndarray) -> Job:
    """UMAP of ``codes`` to (N, 2): busy while it builds its graph, then per epoch; None when
    cancelled (within an epoch of the request)."""

    def job(ctx) -> np.ndarray | None:
        return umap_2d(codes, progress=ctx.progress, should_stop=ctx.cancelled)

    return job


def fit_message(name: str, n: int, done: int, total: int, seconds: float) -> str:
    """The message line while ``name`` ("t-SNE", "UMAP") fits ``n`` points: its stage, as
    far as its progress reports (``total`` 0: no measure yet) tell, and the seconds spent."""
    if total > 0:
        stage, cancel = f"optimising the layout, epoch {done}/{total}", "Cancel stops it"
    elif name == "UMAP":
        stage = "building the neighbour graph" + ("" if umap_compiled() else
                                                  " (a first fit also compiles UMAP's code: expect 10-60 s)")
        cancel = "Cancel stops it when the layout starts"
    else:  # scikit-learn's t-SNE can't be interrupted: its result is dropped when it ends
        stage, cancel = "no progress to report until it ends", "Cancel drops it"
    return f"Fitting {name} to {n} points: {stage}… {int(seconds)} s · {cancel}"


def manifold_job(model: LatentModel) -> Job:
    """The decoder's view of a 2-D latent: a 15 × 15 grid of decoded images as one image."""
    return lambda ctx: manifold_grid(model, n=15)
