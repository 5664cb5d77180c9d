"""Principal directions of a model's latent space, GANSpace-style (Härkönen et al. 2020).

A GAN's 100 noise dimensions mean little one by one. :func:`principal_directions` samples
many latents from the model's prior, runs the decoder, takes the top ``k`` principal
components of what an early layer makes of them, and regresses each component's
coordinate back onto the latents: the regression's coefficients are a latent direction
whose movement changes that component the most. Rows of :attr:`Directions.directions`
are unit vectors of the flat latent; ``latent = base + sum_i c_i * stdev_i * direction_i``
moves a point ``c_i`` standard deviations along each.

What the PCA is computed from (``layer``), per kind of decoder:

* ``None`` (the default): the output of the first non-linearity module the decoder runs,
  found by hooking every module during one probe decode. For the app's families that is
  the first hidden layer: the generators' ``fc + BN + ReLU`` (1,024 values for the
  MNIST-size DCGAN, WGAN-GP and InfoGAN), the all-conv DCGAN's first ``ConvT + BN + ReLU``
  feature map, the MLP GAN's and the VAE/AE/AAE decoders' first ``Linear + ReLU``. An MLP
  decoder is treated like the others rather than by PCA of its latents: latents drawn
  from an isotropic prior have the same variance in every direction, so their own
  components would be an accident of the draw. Stopping the decode at that layer keeps
  the cost to a first layer's work (a few ms per thousand latents).
* a decoder without such modules (an ONNX graph, or a module whose non-linearities are
  plain functions: the PyTorch examples VAE): ``"output"``, the decoded pixels, which is
  GANSpace's regression applied to the latents' effect on the image;
* ``"output"`` or ``"latent"`` (the latents themselves, meaningful only for a
  non-isotropic prior such as the AAE's mixture) or any module name of
  ``model.named_modules()`` may be asked for explicitly.

InfoGAN's categorical and continuous codes keep their own controls: the codes are drawn
from their prior with each latent, the part of the features they explain linearly is
removed before the PCA (for one categorical code: each category's own mean), and the
regression is onto the noise ``z`` only, so every direction is 0 outside ``z``.

Determinism: every draw (latents, the randomised SVD's test matrix) comes from one
``torch.Generator`` seeded with ``seed``; the same model, settings and seed give the same
directions. Each direction's sign is fixed so its largest entry is positive.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from models.cancel import CancelToken, raise_if_cancelled
from models.explore.directions_format import MAX_COMPONENTS, MAX_SAMPLES, Directions
from models.explore.render import eval_mode
from models.families.base import LatentModel

#: ``layer`` values that are not module names
OUTPUT, LATENT = "output", "latent"
#: module types that count as "the first non-linearity" when ``layer`` is None
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Softplus,
               nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.ReLU6)
#: feature values held at once (latents x features, float32: 1 GB); a 64x64 all-conv
#: DCGAN's first feature map is 512 x 4 x 4 = 8,192 values, 5,000 latents of it 164 MB
MAX_VALUES = 2**28
#: a direction whose coordinate follows its component less closely than this gets a note
WEAK_CORRELATION = 0.2
#: latents sampled by default: the direction found for a decoder driven by one direction
#: of a 100-dim z has cosine 0.97 with it at 2,000, 0.99 at 5,000 (benchmarks/directions.py;
#: the regression's error shrinks as sqrt(z_dim / n)); 0.25 s for the 28x28 DCGAN on one thread
DEFAULT_SAMPLES = 5_000
#: fresh latents that measure each direction's standard deviation
STDEV_SAMPLES = 2_000
#: latents decoded per batch
BATCH = 500

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------
# the computation
# ---------------------------------------------------------------------------------------
class _Reached(Exception):
    """Raised by the capture hook to stop a decode once the wanted layer has run."""


def activation_layer(model: LatentModel) -> str | None:
    """The name (in ``model.named_modules()``) of the first non-linearity module a decode
    runs, or None when none does (an ONNX graph; functional activations)."""
    names = {m: n for n, m in model.named_modules()}
    seen: list[str] = []

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(module, ACTIVATIONS) and isinstance(output, torch.Tensor) and not seen:
            seen.append(names[module])
            raise _Reached

    handles = [m.register_forward_hook(hook) for m in names if isinstance(m, ACTIVATIONS)]
    try:
        with torch.no_grad(), eval_mode(model):
            model.decode(model.latent_spec.zeros(2).to(model.device))
    except _Reached:
        pass
    finally:
        for h in handles:
            h.remove()
    return seen[0] if seen else None


def _feature_fn(model: LatentModel, layer: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """latents (B, input_dim) -> features (B, f) of ``layer``, decoding no further than it."""
    z_dim = model.latent_spec.z_dim
    if layer == LATENT:
        return lambda flat: flat[:, :z_dim]
    if layer == OUTPUT:
        return lambda flat: model.decode(flat.to(model.device)).float().flatten(1).cpu()
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"the model has no module {layer!r}; give a name from its named_modules(), "
                         f"{OUTPUT!r} or {LATENT!r}")
    module = modules[layer]

    def features(flat: torch.Tensor) -> torch.Tensor:
        got: list[torch.Tensor] = []

        def hook(_m: nn.Module, _inputs: Any, output: Any) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            got.append(out.detach().float().flatten(1).cpu().clone())
            raise _Reached

        handle = module.register_forward_hook(hook)
        try:
            model.decode(flat.to(model.device))
        except _Reached:
            pass
        finally:
            handle.remove()
        if not got:
            raise ValueError(f"decoding never ran the module {layer!r}")
        return got[0]

    return features


def _layer_words(layer: str, f: int, n: int) -> str:
    what = {OUTPUT: f"the decoded images ({f:,} values)", LATENT: f"the latents' z ({f:,} values)"}.get(
        layer, f"layer {layer} ({f:,} values)")
    return f"PCA of {what} over {n:,} latents"


def _top_components(x: torch.Tensor, k: int, generator: torch.Generator, iters: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``k`` right singular vectors (f, k) and singular values (k,) of the centred (n, f)
    ``x``: a randomised range finder (Halko et al. 2011) with power iterations, its test
    matrix drawn from ``generator``. Exact (one SVD) when the matrix is small."""
    n, f = x.shape
    if min(n, f) <= 4 * (k + 10):
        _, s, vh = torch.linalg.svd(x, full_matrices=False)
        return vh[:k].T, s[:k]
    q = min(f, k + 10)
    omega = torch.randn(f, q, generator=generator, dtype=x.dtype)
    y = torch.linalg.qr(x @ omega).Q  # (n, q)
    for _ in range(iters):  # power iterations sharpen the spectrum's top end
        y = torch.linalg.qr(x.T @ y).Q
        y = torch.linalg.qr(x @ y).Q
    _, s, vh = torch.linalg.svd(y.T @ x, full_matrices=False)  # (q, f)
    return vh[:k].T, s[:k]


def principal_directions(model: LatentModel, n_samples: int = DEFAULT_SAMPLES, k: int = 10, seed: int = 0,
                         layer: str | None = None, progress: Progress | None = None,
                         cancel: CancelToken = None, batch: int = BATCH) -> Directions:
    """The top ``k`` principal directions of ``model``'s latent space (see the module
    docstring): ``k`` is capped at the z dimensions and at the features' count.
    ``progress(done, total)`` follows the decoding; ``cancel`` is checked between batches
    (raising :class:`models.cancel.Cancelled`)."""
    spec = model.latent_spec
    n_samples, k, seed = int(n_samples), int(k), int(seed)
    if not 1 <= k <= MAX_COMPONENTS:
        raise ValueError(f"the number of directions must be from 1 to {MAX_COMPONENTS}, got {k}")
    k = min(k, spec.z_dim)
    if not max(16, 2 * k) <= n_samples <= MAX_SAMPLES:
        raise ValueError(f"principal directions need from {max(16, 2 * k):,} to {MAX_SAMPLES:,} latents, got {n_samples:,}")
    gen = torch.Generator().manual_seed(seed)
    flat = model.sample_latents(n_samples, generator=gen).float().cpu()  # (n, input_dim)
    with torch.no_grad(), eval_mode(model):
        resolved = layer if layer is not None else (activation_layer(model) or OUTPUT)
        x = _collect(_feature_fn(model, resolved), flat, resolved, batch, progress, cancel)  # (n, f)
        f = x.shape[1]
        x -= x.mean(0)
        codes = flat[:, spec.z_dim :]
        if codes.shape[1]:
            # remove what the codes explain linearly (one categorical code: each category's
            # own mean), so the components are the noise's and not the digit class's
            codes = codes - codes.mean(0)
            x -= codes @ torch.linalg.lstsq(codes, x, driver="gelsd").solution
        raise_if_cancelled(cancel)
        total = float(x.double().square().sum()) / (n_samples - 1)
        k = min(k, f)
        v, s = _top_components(x, k, gen)
        coords = (x @ v).double()  # (n, k): each latent's place along each component
        del x
        z = flat[:, : spec.z_dim].double()
        z_mean = z.mean(0)
        z = z - z_mean
        # GANSpace's regression: the latent direction whose movement best explains each
        # component's coordinate (least squares over the same latents)
        m = torch.linalg.lstsq(coords, z, driver="gelsd").solution  # (k, z_dim)
    m = m / m.norm(dim=1, keepdim=True).clamp_min(1e-30)
    signs = torch.sign(m.gather(1, m.abs().argmax(1, keepdim=True)))
    m = m * torch.where(signs == 0, torch.ones_like(signs), signs)
    along = z @ m.T  # (n, k): each latent's coordinate along each direction
    # how closely moving along a direction follows its component (1: exactly)
    follow = _abs_correlation(along, coords)
    # the slider unit from latents the directions were not fitted to: on the fitted ones a
    # direction's spread is biased up (it was chosen to follow a high-variance component)
    fresh = model.sample_latents(min(n_samples, STDEV_SAMPLES), generator=gen).double().cpu()[:, : spec.z_dim]
    stdev = ((fresh - z_mean) @ m.T).std(0).float().numpy()
    dirs = np.zeros((k, spec.input_dim), np.float32)
    dirs[:, : spec.z_dim] = m.float().numpy()
    mean = spec.zeros(1)[0].numpy().copy()
    mean[: spec.z_dim] = z_mean.float().numpy()
    variance = s.double().square() / (n_samples - 1)
    ratio = (variance / total).float().numpy() if total > 0 else np.zeros(k, np.float32)
    notes = tuple(f"component {i + 1} barely depends on the latents (correlation {follow[i]:.2f})"
                  for i in range(k) if follow[i] < WEAK_CORRELATION)
    return Directions(dirs, ratio, stdev, mean, resolved, _layer_words(resolved, f, n_samples),
                      n_samples, seed, spec.z_dim, weights_fingerprint(model), notes)


def _collect(features: Callable[[torch.Tensor], torch.Tensor], flat: torch.Tensor, layer: str, batch: int,
             progress: Progress | None, cancel: CancelToken) -> torch.Tensor:
    """(n, f) float32 features of every latent, decoded ``batch`` at a time; refuses a layer
    whose features would not fit :data:`MAX_VALUES` before decoding the rest."""
    n = flat.shape[0]
    out: torch.Tensor | None = None
    for a in range(0, n, batch):
        raise_if_cancelled(cancel)
        part = features(flat[a : a + batch]).float()
        if out is None:
            if part.shape[1] * n > MAX_VALUES:
                raise ValueError(f"{layer} gives {part.shape[1]:,} values per latent: {n:,} latents of it would "
                                 f"take {part.shape[1] * n * 4 / 2**30:.1f} GB; ask for fewer latents or another layer")
            out = torch.empty(n, part.shape[1])
        out[a : a + part.shape[0]] = part
        if progress is not None:
            progress(min(a + batch, n), n)
    assert out is not None
    return out


def _abs_correlation(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """|corr(a[:, i], b[:, i])| per column."""
    a, b = a - a.mean(0), b - b.mean(0)
    den = (a.norm(dim=0) * b.norm(dim=0)).clamp_min(1e-30)
    return [float(v) for v in ((a * b).sum(0) / den).abs()]


def weights_fingerprint(model: nn.Module) -> str:
    """A short hash of every parameter and buffer (names, shapes, values) and of the config:
    equal exactly when two models decode alike. A few ms per MB of weights."""
    h = hashlib.blake2b(digest_size=12)
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_json"):
        h.update(config.to_json().encode())
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# traversals along directions
# ---------------------------------------------------------------------------------------
def direction_latents(directions: Directions, around: np.ndarray | torch.Tensor | None = None, steps: int = 9,
                      value_range: float = 3.0, rows: int | None = None) -> torch.Tensor:
    """(rows * steps, input_dim) latents: row i moves ``around`` (default: the directions'
    mean) along direction i, ``steps`` offsets evenly from ``-value_range`` to
    ``+value_range`` standard deviations. ``rows``: the first so many directions (default all)."""
    if steps < 2:
        raise ValueError(f"a traversal needs at least 2 steps, got {steps}")
    if not (math.isfinite(value_range) and value_range > 0):
        raise ValueError(f"the traversal range must be positive, got {value_range}")
    rows = directions.k if rows is None else int(rows)
    if not 1 <= rows <= directions.k:
        raise ValueError(f"there are {directions.k} directions; asked for {rows} rows")
    base = directions.mean if around is None else np.asarray(
        around.detach().cpu() if isinstance(around, torch.Tensor) else around, np.float32).reshape(-1)
    if base.shape[0] != directions.input_dim:
        raise ValueError(f"around has {base.shape[0]} values, the flat latent {directions.input_dim}")
    t = torch.linspace(-value_range, value_range, steps, dtype=torch.float64)  # (steps,)
    d = torch.from_numpy(directions.directions[:rows]).double() * torch.from_numpy(directions.stdev[:rows]).double()[:, None]
    flat = torch.from_numpy(base).double()[None, None] + t[None, :, None] * d[:, None, :]  # (rows, steps, D)
    return flat.reshape(rows * steps, -1).float()
