"""Do a beta-VAE's code dimensions come apart on the shapes set, and more than a plain VAE's?

Trains a beta-VAE (beta 4) and a plain VAE of the same size on shapes with the beta-VAE's
default settings (the loop's 10 epochs at batch 128, each family's own learning rate, the
beta-VAE's default MLP of four 400-unit layers a side and 10 latents, 4096-400x4-10 at 64x64;
the plain VAE gets the same net) through the engine (``models.training.loop.train``), then
scores both with ``eval``'s own figures (``models.metrics.report.evaluate_model``): MIG and
DCI on 10,000 test codes, per factor too, beside the test loss and active units. It also times
the estimators alone on 10,000 synthetic codes of 128 dimensions.

Prints ONE JSON object: per family the steps, the training and evaluation seconds, steps/s
and the figures; ``target`` says whether the beta-VAE reached MIG >= 0.2 and how far above the
plain VAE it is. Progress goes to stderr.

    python benchmarks/disentanglement.py [--device auto] [--epochs 10 | --steps N]
        [--families beta-vae,vae] [--latent-dim 10] [--hidden 400] [--mlp-layers 4] [--arch mlp] [--image-size 64]
        [--batch-size N] [--lr RATE] [--codes 10000] [--threads N] [--out DIR]

The disentanglement_lib setting (Locatello et al. 2019: conv net, 10-d, Adam 1e-4, batches of
64, 300,000 steps; minutes on a GPU): ``--arch conv --latent-dim 10 --hidden 256 --lr 1e-4
--batch-size 64 --steps 300000 --device cuda``.

The defaults are the real run (about 57,000 steps per family: hours on a CPU). To see that it
works: ``--steps 50 --image-size 28 --hidden 64 --codes 2000``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import numpy as np
import torch

from models.data.shapes import FACTOR_NAMES, FACTOR_SIZES, load_shapes
from models.families.beta_vae import BetaVAEConfig
from models.families.registry import build_model
from models.metrics.disentanglement import dci, mig
from models.metrics.report import evaluate_model
from models.runs.run_dir import RunDir
from models.training.device import device_description, resolve_device
from models.training.loop import TrainConfig, train

#: the issue's bar: the beta-VAE's MIG, and the margin over the plain VAE that reads as "clearly"
TARGET_MIG = 0.2
CLEAR_MARGIN = 0.05
KEPT = ("test_loss", "kl", "active_units", "latent_dim", "mig", "mig_per_factor", "dci", "dci_completeness",
        "dci_informativeness", "dci_completeness_per_factor", "dci_informativeness_per_factor", "dci_note",
        "factor_dims")


def estimator_seconds(n: int = 10_000, dims: int = 128, seed: int = 0) -> dict[str, float]:
    """MIG and DCI on noise codes (the slowest case for the trees: nothing to split cleanly)."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, k, n) for k in FACTOR_SIZES], 1)
    codes = rng.normal(size=(n, dims))
    t = time.perf_counter()
    mig(codes, factors, FACTOR_NAMES)
    t_mig = time.perf_counter() - t
    dci(codes, factors, FACTOR_NAMES, seed=seed)
    return {"codes": n, "dims": dims, "mig_s": round(t_mig, 2), "dci_s": round(time.perf_counter() - t - t_mig, 2)}


def run_family(family: str, dataset, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(args.seed)
    size = {"arch": args.arch, "latent_dim": args.latent_dim, "hidden": args.hidden, "mlp_layers": args.mlp_layers}
    beta = {"beta": 4.0} if family == "beta-vae" else {}  # the paper's dSprites value (and the family's default)
    rate = {"lr": args.lr} if args.lr else {}
    model = build_model(family, image_shape=tuple(dataset.image_shape), **size, **beta, **rate)
    cfg = TrainConfig(epochs=None if args.steps else args.epochs, steps=args.steps, device=str(device), seed=args.seed,
                      batch_size=args.batch_size or model.config.default_batch_size() or TrainConfig.batch_size)
    run = RunDir(args.out / family) if args.out else None
    last = None
    for last in train(model, dataset, cfg, run=run):
        if last.event in ("epoch", "done") or last.step % (cfg.log_every * 20) == 0:
            print(f"{family}: step {last.step}/{last.total_steps} {last.steps_per_s:.1f} steps/s", file=sys.stderr)
    train_s = last.seconds
    t = time.perf_counter()
    figures = evaluate_model(model, dataset, n=0, seed=args.seed, disentanglement_codes=args.codes)
    out = {"steps": last.step, "batch_size": cfg.batch_size, "train_s": round(train_s, 1), "steps_per_s": round(last.step / max(train_s, 1e-9), 2),
           "eval_s": round(time.perf_counter() - t, 1), "lr": model.config.lr,
           "beta": getattr(model.config, "beta", 1.0), **size}
    out.update({k: figures[k] for k in KEPT if k in figures})
    if run is not None:
        out["run"] = str(run.path)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", default="beta-vae,vae")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=float, default=10, help="the loop's default length")
    p.add_argument("--steps", type=int, help="a fixed number of steps instead of --epochs")
    p.add_argument("--arch", default="mlp")
    p.add_argument("--latent-dim", type=int, default=BetaVAEConfig.latent_dim)
    p.add_argument("--hidden", type=int, default=BetaVAEConfig.hidden)
    p.add_argument("--mlp-layers", type=int, default=BetaVAEConfig.mlp_layers,
                   help="dense layers a side for both families (default: the beta-VAE's)")
    p.add_argument("--image-size", type=int, default=64, choices=(64, 28))
    p.add_argument("--batch-size", type=int, help="default: the family's (128; 64 for the conv arch)")
    p.add_argument("--lr", type=float, help="default: the family's (beta-VAE 5e-4, VAE 1e-3)")
    p.add_argument("--codes", type=int, default=10_000, help="test codes scored (eval's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    p.add_argument("--out", type=Path, help="keep each family's run folder here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dataset = load_shapes(size=args.image_size).to(device)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    results = {f: run_family(f, dataset, args, device) for f in families}
    out: dict = {"dataset": "shapes", "image_size": args.image_size, "device": device_description(device),
                 "threads": torch.get_num_threads(), "epochs": None if args.steps else args.epochs,
                 "families": results, "estimators": estimator_seconds()}
    beta, plain = results.get("beta-vae", {}).get("mig"), results.get("vae", {}).get("mig")
    if isinstance(beta, float) and isinstance(plain, float):
        out["target"] = {"beta_vae_mig": beta, "vae_mig": plain, "mig_at_least": TARGET_MIG,
                         "reached": beta >= TARGET_MIG and beta - plain >= CLEAR_MARGIN}
    print(json.dumps(out, allow_nan=False, default=lambda v: None if isinstance(v, float) and not math.isfinite(v)
                     else str(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
