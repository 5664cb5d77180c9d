"""2-D maps of a latent space: encoded datasets, PCA / t-SNE / UMAP projections, the VAE manifold.

PCA is linear, so its 2-D coordinates map back to latents (``PCA2D.to_latent``): a click
on the map decodes to an image. t-SNE and UMAP are not invertible; clicking there should
pick the nearest encoded point instead. Both come from optional packages (scikit-learn,
umap-learn: the ``map`` extra); :func:`umap_available` says whether UMAP can run without
importing it (its import pulls in numba, seconds).
"""
from __future__ import annotations

import importlib.util
import re
from typing import Callable, NamedTuple

import numpy as np
import torch

from models.data.base import Split, split_labels
from models.explore.render import decode_batched, eval_mode
from models.families.base import LatentModel
from models.latent import LatentSpec


@torch.no_grad()
def encode_dataset(model: LatentModel, split: Split, n: int | None = None, batch: int = 1000,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Encode ``split`` (or ``n`` of its images) -> (codes (N, D) float32, labels (N,) or
    None, factors (N, F) or None, indices (N,) into the split).

    VAEs give their posterior means. A subset is a seeded random choice (sorted), not
    the first n: some sources (shapes) store images ordered by factor.
    """
    if not model.latent_spec.has_encoder:
        raise ValueError(f"{model.family} has no encoder: the latent map needs a model that maps images to latents")
    total = len(split)
    if n is None or n >= total:
        indices = np.arange(total)
    else:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        gen = torch.Generator().manual_seed(seed)
        indices = torch.randperm(total, generator=gen)[:n].sort().values.numpy()
    device = model.device
    idx = torch.from_numpy(indices)
    codes = []
    with eval_mode(model):
        for a in range(0, len(indices), batch):
            chunk = idx[a : a + batch].to(device)
            # a class-conditional encoder is given each image's own class when the split has them
            labels = split_labels(model, split, chunk)
            given = {"labels": labels} if labels is not None else {}
            codes.append(model.encode(split.batch(chunk), **given).float().cpu())
    out = torch.cat(codes).numpy().astype(np.float32) if codes else np.zeros((0, model.latent_spec.input_dim), np.float32)
    labels = split.labels[idx].cpu().numpy() if split.labels is not None else None
    factors = split.factors[idx].cpu().numpy() if split.factors is not None else None
    return out, labels, factors, indices


def map_columns(spec: LatentSpec) -> np.ndarray:
    """(D,) bool: the latent columns a map projects. A class-conditional model's class block
    is left out: each image is encoded under its own class, so that block would only pull the
    classes apart and say nothing the colours don't; the map shows the rest (z, its style)."""
    mask = np.ones(spec.input_dim, dtype=bool)
    if spec.conditional:
        mask[spec.z_dim : spec.z_dim + spec.categorical[0]] = False
    return mask


def keep_unmapped(flat: np.ndarray, mask: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """``flat`` with the columns a map does not project (``mask`` False: a class) taken from
    ``keep`` (the latent the point had: a click on the map moves z and keeps the class)."""
    if keep is None or mask.all():
        return flat
    out = np.array(flat, np.float32, copy=True)
    out[~mask] = np.asarray(keep, np.float32)[~mask]
    return out


class PCA2D(NamedTuple):
    """Coordinates on the first two principal axes, and the map back."""

    #: (N, 2) float32
    coords: np.ndarray
    #: (2, D) float32, orthonormal rows (a zero row when D < 2)
    components: np.ndarray
    #: (D,) float32
    mean: np.ndarray

    def project(self, codes: np.ndarray) -> np.ndarray:
        """(N, D) latents -> (N, 2) positions on the same axes (e.g. prior samples beside
        the encoded points they should match)."""
        c = np.asarray(codes, np.float64) - self.mean.astype(np.float64)
        return (c @ self.components.astype(np.float64).T).astype(np.float32)

    def to_latent(self, coords2d: np.ndarray | tuple[float, float]) -> np.ndarray:
        """(2,) or (N, 2) map positions -> latents on the PCA plane: mean + coords @ components."""
        c = np.asarray(coords2d, np.float64)
        return (self.mean.astype(np.float64) + c @ self.components.astype(np.float64)).astype(np.float32)


def pca_2d(codes: np.ndarray | torch.Tensor, columns: np.ndarray | None = None) -> PCA2D:
    """PCA to 2-D by an exact SVD in float64 (D is small, N up to ~1e5: cheap). Signs are
    fixed (largest-magnitude loading positive) so the map does not flip between runs.
    ``columns`` ((D,) bool, see :func:`map_columns`): only those columns are analysed; the
    others get zero loadings and a zero mean, so ``to_latent`` leaves them 0."""
    x = torch.as_tensor(np.asarray(codes.detach().cpu() if isinstance(codes, torch.Tensor) else codes), dtype=torch.float64)
    if x.dim() != 2 or x.shape[0] < 1:
        raise ValueError(f"codes must be (N, D) with N >= 1, got {tuple(x.shape)}")
    if columns is not None and not np.all(columns):
        inner = pca_2d(x[:, torch.from_numpy(np.asarray(columns, bool))])
        comps = np.zeros((2, x.shape[1]), np.float32)
        mean = np.zeros(x.shape[1], np.float32)
        comps[:, columns], mean[columns] = inner.components, inner.mean
        return PCA2D(inner.coords, comps, mean)
    mean = x.mean(0)
    xc = x - mean
    _, _, vh = torch.linalg.svd(xc, full_matrices=False)
    comps = torch.zeros(2, x.shape[1], dtype=torch.float64)
    k = min(2, vh.shape[0])
    comps[:k] = vh[:k]
    for i in range(k):
        j = comps[i].abs().argmax()
        if comps[i, j] < 0:
            comps[i] = -comps[i]
    coords = xc @ comps.T
    return PCA2D(coords.float().numpy(), comps.float().numpy(), mean.float().numpy())


#: what to install for t-SNE and UMAP (said by the errors and by the map's disabled choices)
TSNE_INSTALL, UMAP_INSTALL = "pip install scikit-learn", "pip install umap-learn"


def tsne_available() -> bool:
    """scikit-learn is installed (found, not imported)."""
    return _found("sklearn")


def _found(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken or half-installed package
        return False


def _fit_input(codes: np.ndarray, name: str, least: int, progress: Callable[[int, int], None] | None,
               should_stop: Callable[[], bool] | None) -> np.ndarray | None:
    """A fit's (N, D) float32 codes, checked (N >= ``least``); None when already told to stop,
    else ``progress(0, 0)`` ("busy, no measure yet") has been said."""
    x = np.asarray(codes, np.float32)
    if x.ndim != 2 or x.shape[0] < least:
        raise ValueError(f"{name} needs (N, D) codes with N >= {least}, got {x.shape}")
    if should_stop is not None and should_stop():
        return None
    if progress is not None:
        progress(0, 0)
    return x


def tsne_2d(codes: np.ndarray, perplexity: float = 30.0, seed: int = 0,
            progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> np.ndarray | None:
    """t-SNE to (N, 2) float32 with scikit-learn (an optional dependency).

    scikit-learn's optimiser cannot be interrupted or report progress mid-way, so
    ``progress(0, 0)`` ("busy, no measure") / ``progress(1, 1)`` bracket the fit and ``should_stop`` is polled
    before and after it: when it says stop the result is None (run this in a worker
    thread and drop it on Cancel). Perplexity is capped below N / 3 so small maps work.
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError(f"t-SNE needs scikit-learn: {TSNE_INSTALL}") from None
    x = _fit_input(codes, "t-SNE", 3, progress, should_stop)
    if x is None:
        return None
    perp = float(min(perplexity, max(1.0, (x.shape[0] - 1) / 3.0)))
    out = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(x).astype(np.float32)
    if should_stop is not None and should_stop():
        return None
    if progress is not None:
        progress(1, 1)
    return out


def umap_available() -> bool:
    """umap-learn is installed (found, not imported)."""
    return _found("umap")


#: set once a UMAP fit has run in this process (numba compiles UMAP's code on the first)
_umap_compiled = False


def umap_compiled() -> bool:
    """A UMAP fit has run in this process, so the next one does not wait for numba to compile."""
    return _umap_compiled


class _UmapStopped(Exception):
    """Raised from UMAP's progress stream to end its epoch loop when asked to stop."""


class _EpochStream:
    """A file for UMAP's tqdm bar (formatted ``{n}/{total}``): each write is an epoch count,
    passed to ``progress``; it ends the fit (once) when ``should_stop`` says so.

    UMAP's public API has no callback, but it hands ``tqdm_kwds`` to the tqdm bar of its
    layout loop, and that bar writes to any file given: this is its per-epoch hook."""

    _COUNT = re.compile(r"(\d+)/(\d+)")

    def __init__(self, progress: Callable[[int, int], None] | None, should_stop: Callable[[], bool] | None) -> None:
        self.progress, self.should_stop, self.stopped = progress, should_stop, False

    def write(self, text: str) -> int:
        if self.stopped:
            return len(text)  # tqdm's own close after the stop
        if self.should_stop is not None and self.should_stop():
            self.stopped = True
            raise _UmapStopped
        m = self._COUNT.search(text)
        if m and self.progress is not None:
            self.progress(int(m.group(1)), int(m.group(2)))
        return len(text)

    def flush(self) -> None:
        pass


def _give_back_tqdm_lock() -> None:
    """Release tqdm's class-wide write lock if this thread still holds it.

    tqdm's ``refresh`` takes that lock around the write that raised ``_UmapStopped`` and
    has no ``finally`` to release it: left held by a worker thread that then ends, it
    would make the next progress bar in any other thread (the next UMAP fit) wait forever.
    It reads tqdm's lock internals (``TqdmDefaultWriteLock.locks``, tqdm 4.x), each step
    guarded so another layout releases nothing; the map's cancel-then-refit test fails if
    a tqdm release changes them.
    """
    from tqdm import tqdm

    lock = tqdm.get_lock()
    thread_lock = getattr(lock, "locks", [None])[-1]  # the threading RLock, acquired last
    owned = getattr(thread_lock, "_is_owned", None)
    if owned is not None and owned():
        lock.release()


def umap_2d(codes: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0,
            progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> np.ndarray | None:
    """UMAP (McInnes et al. 2018) to (N, 2) float32 with umap-learn (an optional dependency),
    with the library's defaults (15 neighbours, min_dist 0.1), seeded (so single-threaded).

    Progress: ``progress(0, 0)`` ("busy, no measure") while UMAP finds neighbours and
    builds its graph (and numba compiles it, on a first fit), then ``progress(epoch,
    epochs)`` through the layout optimisation. ``should_stop`` is polled at each epoch
    report: when it says stop the fit ends there and the result is None. ``n_neighbors``
    is capped below N so small maps work.
    """
    try:
        from umap import UMAP  # seconds (numba): call this in a worker thread
    except ImportError:
        raise ImportError(f"UMAP needs umap-learn: {UMAP_INSTALL}") from None
    x = _fit_input(codes, "UMAP", 4, progress, should_stop)
    if x is None:
        return None
    stream = _EpochStream(progress, should_stop)
    # bar_format makes each of the bar's writes "n/total"; mininterval 0: a write per epoch
    # (cheap next to an epoch), so Cancel is seen within one epoch
    tqdm_kwds = {"disable": False, "file": stream, "bar_format": "{n}/{total}", "mininterval": 0.0, "leave": False}
    reducer = UMAP(n_components=2, n_neighbors=int(min(n_neighbors, x.shape[0] - 1)), min_dist=min_dist,
                   random_state=seed, n_jobs=1, verbose=False, tqdm_kwds=tqdm_kwds)
    global _umap_compiled
    try:
        out = reducer.fit_transform(x)
    except _UmapStopped:
        _give_back_tqdm_lock()
        return None
    _umap_compiled = True
    if stream.stopped or (should_stop is not None and should_stop()):
        return None
    return np.ascontiguousarray(out, np.float32)


def manifold_latents(model: LatentModel, n: int = 15, span: tuple[float, float] = (0.05, 0.95),
                     dims: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """(n * n, D) latents of the manifold figure, row-major, top row first.

    The grid lies on the prior's quantiles ``span[0]..span[1]`` (Normal.icdf for a
    Gaussian prior, so equal probability mass between neighbours; a linear map for a
    uniform one). ``dims[0]`` grows to the right and ``dims[1]`` upwards, like a scatter
    plot of the same latents; every other entry is at the origin.
    """
    spec = model.latent_spec
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if spec.z_dim < 2 or len(set(dims)) != 2 or not all(0 <= d < spec.z_dim for d in dims):
        raise ValueError(f"the manifold figure needs two distinct z dims, got {dims} for z_dim {spec.z_dim}")
    lo, hi = span
    if not 0 < lo < hi < 1:
        raise ValueError(f"span must be quantiles with 0 < lo < hi < 1, got {span}")
    q = torch.linspace(lo, hi, n, dtype=torch.float64)
    if spec.prior == "uniform":
        a, b = spec.z_range
        values = a + (b - a) * q
    else:
        values = torch.distributions.Normal(0.0, 1.0).icdf(q)
    flat = spec.zeros(n * n).double()
    ys = values.flip(0).repeat_interleave(n)  # top row: the highest value of dims[1]
    xs = values.repeat(n)
    flat[:, dims[0]] = xs
    flat[:, dims[1]] = ys
    return flat.float()


def manifold_grid(model: LatentModel, n: int = 15, span: tuple[float, float] = (0.05, 0.95),
                  dims: tuple[int, int] = (0, 1)) -> np.ndarray:
    """The classic VAE 2-D manifold figure, tiles touching: (n*H, n*W) uint8 for grey
    images, (n*H, n*W, C) for colour. See :func:`manifold_latents`."""
    from models.io.images import to_uint8

    tiles = to_uint8(decode_batched(model, manifold_latents(model, n, span, dims)))  # (n*n, H, W, C)
    _, h, w, c = tiles.shape
    out = tiles.reshape(n, n, h, w, c).transpose(0, 2, 1, 3, 4).reshape(n * h, n * w, c)
    return out[..., 0] if c == 1 else out
