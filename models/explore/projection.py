"""Find the latent that best reproduces a given image ("projection", GAN inversion).

Models without an encoder (GANs) are inverted by gradient descent on the latent: Adam on
``z`` (plus, for InfoGAN-style layouts, each categorical code as softmax logits and the
continuous codes) minimising per-pixel MSE + ``prior_weight * mean(z^2)``, the small
prior term keeping z near the typical set where the generator was trained. The loss is
non-convex, so several random restarts run side by side as one batch (Adam is
elementwise and the restarts' losses are summed, so this equals independent runs) and
the best is kept. Encoder models start restart 0 from ``encode(image)`` and refine it
(an encoder's guess is good but not a minimiser of the pixel error); further restarts
start from the model's prior (``model.sample_latents``: the AAE's mixture, not N(0, I)).

The result is always a valid flat latent: categorical blocks end as the hard one-hot of
their argmax and continuous codes clamped to the spec's range.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from models.explore.render import eval_mode
from models.families.base import LatentModel


@dataclass
class ProjectionResult:
    #: (input_dim,) float32 flat latent, categorical blocks hard one-hot
    latent: np.ndarray
    #: the objective (MSE + prior term) of the best restart so far, one per step done
    losses: list[float] = field(default_factory=list)
    #: (C, H, W) float32 in [0, 1]: decode(latent)
    image: np.ndarray | None = None
    #: per-pixel MSE of ``image`` against the target
    mse: float = float("nan")
    #: which restart won
    restart: int = 0
    steps_done: int = 0
    #: True when should_stop() ended it early; the latent is the best found until then
    cancelled: bool = False


def _target(model: LatentModel, image: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(image, np.float32) if not isinstance(image, torch.Tensor) else image).float()
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    shape = tuple(model.config.image_shape)
    if tuple(x.shape) != shape:
        raise ValueError(f"the image is {tuple(x.shape)} but the {model.family} model makes {shape} images")
    return x.clamp(0, 1).to(model.device)


def project(
    model: LatentModel,
    image: torch.Tensor | np.ndarray,
    steps: int = 500,
    lr: float = 0.05,
    seed: int = 0,
    restarts: int = 4,
    callback: Callable[[int, int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    prior_weight: float = 1e-3,
) -> ProjectionResult:
    """Optimise a latent so that ``model.decode`` reproduces ``image`` ((C, H, W) in [0, 1]).

    ``callback(step, steps, loss)`` after every step (loss: best objective so far);
    ``should_stop()`` polled every step, ending with ``cancelled=True`` and the best so far.
    """
    if steps < 0 or restarts < 1:
        raise ValueError(f"need steps >= 0 and restarts >= 1, got steps={steps}, restarts={restarts}")
    spec = model.latent_spec
    device = model.device
    target = _target(model, image)
    gen = torch.Generator().manual_seed(seed)
    R = restarts

    # -- initial values (on the CPU generator so a seed means the same on any device) ----
    init = model.sample_latents(R, generator=gen, device="cpu")
    z0, blocks0, codes0 = spec.split(init)
    z0 = z0.clone()
    if spec.has_encoder:
        with torch.no_grad(), eval_mode(model):
            enc = model.encode(target[None]).float().cpu()
        z0[0] = spec.split(enc)[0][0]
    z = z0.to(device).requires_grad_(True)
    logits = [torch.randn(R, k, generator=gen).to(device).requires_grad_(True) for k in spec.categorical]
    codes = codes0.clone().to(device).requires_grad_(True)
    params = [z, *logits] + ([codes] if spec.continuous else [])
    opt = torch.optim.Adam(params, lr=lr)
    lo, hi = spec.continuous_range

    def flat() -> torch.Tensor:
        """The soft flat latent being optimised: categorical blocks as softmax weights."""
        parts = [z, *(lg.softmax(1) for lg in logits)]
        if spec.continuous:
            parts.append(codes.clamp(lo, hi))
        return torch.cat(parts, 1)

    def objective(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mse = (model.decode(f) - target).pow(2).flatten(1).mean(1)
        return mse + prior_weight * z.pow(2).mean(1), mse

    best = torch.full((R,), float("inf"), device=device)
    best_flat = flat().detach().clone()
    losses: list[float] = []
    cancelled = False
    done = 0
    with eval_mode(model):
        for step in range(steps + 1):
            f = flat()
            obj, _ = objective(f)
            with torch.no_grad():
                better = obj.detach() < best
                best = torch.where(better, obj.detach(), best)
                best_flat[better] = f.detach()[better]
            if step == steps:  # the last update is evaluated, not taken
                break
            losses.append(float(best.min()))
            done = step + 1
            if should_stop is not None and should_stop():
                cancelled = True
                break
            grads = torch.autograd.grad(obj.sum(), params)  # never touches the model's .grad
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
            if spec.prior == "uniform":  # the generator never saw z outside the box
                with torch.no_grad():
                    z.clamp_(*spec.z_range)
            if callback is not None:
                callback(step + 1, steps, losses[-1])

        # harden the categorical blocks of every restart's best, keep the best hard one
        with torch.no_grad():
            zb, blocks, cb = spec.split(best_flat)
            cats = torch.stack([b.argmax(1) for b in blocks], 1) if blocks else None
            hard = spec.compose(zb, cats, cb.clamp(lo, hi) if spec.continuous else None)
            images = model.decode(hard).float().clamp(0, 1)
            mse = (images - target).pow(2).flatten(1).mean(1)
            final = mse + prior_weight * zb.pow(2).mean(1)
            r = int(final.argmin())
    return ProjectionResult(
        latent=hard[r].cpu().numpy().astype(np.float32), losses=losses, image=images[r].cpu().numpy().astype(np.float32),
        mse=float(mse[r]), restart=r, steps_done=done, cancelled=cancelled,
    )
