"""How long do principal directions take, and how well do they find a known direction?

Speed: :func:`models.explore.directions.principal_directions` on freshly built models of
each family at their default sizes (28x28 images; the all-conv DCGAN at 64x64 too), on one
CPU thread (what the window's job runner uses), for each ``--samples`` count.

Quality: a decoder whose first hidden layer is driven by one known latent direction (half
its units read ``v . z``); the cosine between the first direction found and ``v``, through
that layer and through the decoded images alone (as for an ONNX graph).

Prints ONE JSON object: {"threads": 1, "seconds": {family: {samples: s}}, "layer": {family:
source}, "cosine": {"layer": c, "output": c}}.

    python benchmarks/directions.py [--samples 2000,5000] [--k 10]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import numpy as np
import torch
from torch import nn

from models.explore.directions import OUTPUT, principal_directions
from models.families.base import LatentModel, ModelConfig
from models.families.registry import build_model
from models.latent import LatentSpec

MODELS = {
    "vae": dict(family="vae"),
    "gan": dict(family="gan"),
    "dcgan": dict(family="dcgan"),
    "wgan-gp": dict(family="wgan-gp"),
    "infogan": dict(family="infogan"),
    "dcgan-conv-64": dict(family="dcgan", arch="conv", image_shape=(1, 64, 64)),
}


class KnownDirection(LatentModel):
    family = "known-direction"

    def __init__(self, v: np.ndarray) -> None:
        super().__init__(ModelConfig(image_shape=(1, 28, 28)))
        d = v.shape[0]
        g = torch.Generator().manual_seed(0)
        self.first = nn.Linear(d, 256)
        w = 0.1 * torch.randn(256, d, generator=g)
        w[:128] = torch.from_numpy(v)[None] * (2 + torch.rand(128, 1, generator=g))
        self.first.weight.data.copy_(w)
        self.act = nn.ReLU()
        self.out = nn.Linear(256, 784)

    @property
    def latent_spec(self) -> LatentSpec:
        return LatentSpec(z_dim=self.first.in_features, has_encoder=False)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(self.act(self.first(latent)))).view(-1, 1, 28, 28)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", default="2000,5000", help="comma-separated latent counts")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    counts = [int(n) for n in args.samples.split(",")]
    seconds: dict[str, dict[str, float]] = {}
    layers: dict[str, str] = {}
    for name, kw in MODELS.items():
        torch.manual_seed(0)
        model = build_model(**kw).eval()
        seconds[name] = {}
        for n in counts:
            start = time.perf_counter()
            d = principal_directions(model, n_samples=n, k=args.k)
            seconds[name][str(n)] = round(time.perf_counter() - start, 3)
            layers[name] = d.source
    v = np.random.default_rng(0).normal(size=100).astype(np.float32)
    v /= np.linalg.norm(v)
    known = KnownDirection(v)
    cosine = {}
    for layer in (None, OUTPUT):
        d = principal_directions(known, n_samples=counts[0], k=args.k, layer=layer)
        cosine["layer" if layer is None else "output"] = round(float(abs(d.directions[0] @ v)), 5)
    print(json.dumps({"threads": 1, "k": args.k, "seconds": seconds, "layer": layers, "cosine": cosine}))


if __name__ == "__main__":
    main()
