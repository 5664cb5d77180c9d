"""How close the conv VAE comes to the papers' MNIST figures: train one configuration with
the project's training loop, then print one JSON object with its ``test_loss`` (the classic
PyTorch VAE example's metric, what ``latent-explorer eval --json`` reports: summed BCE on
grey levels + KL per test image, in nats), the run folder and the wall time.

    python benchmarks/conv_vae_quality.py --data-dir ../shared/data/mnist --epochs 30 --out runs/conv-vae

Model flags (``--conv-channels 32 --res-blocks 0 --hidden 400``) and the schedule
(``--lr-decay cosine``, ``--batch-size``, ``--lr``) override the defaults, so candidates can be
compared at equal epochs. Each epoch's held-out loss (the ELBO on 2,000 test images) goes to
stderr as it comes and into the JSON's ``val_curve_2000``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from models.data import load_dataset
from models.families.registry import build_model
from models.metrics.report import evaluate_reconstruction
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train
from models.training.schedule import LR_DECAYS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/mnist")
    ap.add_argument("--epochs", type=float, default=30)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--lr-decay", choices=LR_DECAYS, help="default: the family's (cosine for the conv net)")
    ap.add_argument("--arch", default="conv")
    ap.add_argument("--conv-channels", type=int)
    ap.add_argument("--res-blocks", type=int)
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--latent-dim", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="run folder (default: none written)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dataset = load_dataset("mnist", args.data_dir, download=False)
    overrides = {k: v for k, v in {"conv_channels": args.conv_channels, "res_blocks": args.res_blocks,
                                   "hidden": args.hidden}.items() if v is not None}
    model = build_model("vae", image_shape=dataset.image_shape, arch=args.arch, latent_dim=args.latent_dim, **overrides)
    cfg = TrainConfig(epochs=args.epochs, lr=args.lr, device="cpu", seed=args.seed, lr_decay=args.lr_decay,
                      snapshot_every=0, log_every=200)
    if args.batch_size:
        cfg.batch_size = args.batch_size
    else:
        cfg.batch_size = model.config.default_batch_size() or cfg.batch_size
    run = RunDir(args.out) if args.out else None
    t0 = time.perf_counter()
    curve = []
    for m in train(model, dataset, cfg, run=run):
        if m.event in ("epoch", "done") and m.validation:
            curve.append(round(m.validation["total"], 2))
            print(f"epoch {m.epoch:.1f} val_total {m.validation['total']:.2f} ({m.seconds:.0f} s)", file=sys.stderr,
                  flush=True)
    seconds = time.perf_counter() - t0
    figures = evaluate_reconstruction(model, dataset.test)
    print(json.dumps({"test_loss": round(figures["test_loss"], 3), "recon_bce": round(figures["recon_bce"], 3),
                      "kl": round(figures["kl"], 3), "active_units": figures["active_units"],
                      "epochs": args.epochs, "batch_size": cfg.batch_size, "lr_decay": cfg.lr_decay or "family default",
                      "model_config": model.config.to_dict(), "train_seconds": round(seconds, 1),
                      "val_curve_2000": curve, "run": str(args.out) if args.out else None}))


if __name__ == "__main__":
    main()
