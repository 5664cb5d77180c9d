"""Seconds per epoch for the classic MLP VAE (784-400-20, batch 128) on MNIST.

Prints one JSON object. Paths measured on the current device:
  classic - the PyTorch VAE example's way: batches copied from host memory each step,
            plain Adam, a .item() host sync every step;
  eager   - our loop: data resident on the device, fused Adam, syncs only when logging;
  fast    - our loop with the whole step captured in a CUDA graph (CUDA only).

    python benchmarks/train_speed.py [--data-dir ../shared/data/mnist] [--epochs 1] [--device auto]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from models.data import load_dataset
from models.metrics.report import evaluate_reconstruction
from models.families.registry import build_model
from models.training.device import device_description, resolve_device
from models.training.loop import TrainConfig, train

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def classic_epoch(model, images: torch.Tensor, device: torch.device, batch_size: int) -> float:
    """One epoch the way the classic example runs it (for comparison only)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    perm = torch.randperm(images.shape[0])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    for a in range(0, images.shape[0] - batch_size + 1, batch_size):
        x = images[perm[a : a + batch_size]].float().div(255).to(device)
        opt.zero_grad()
        loss = model.loss(x)["total"]
        loss.backward()
        loss.item()  # the example reads the loss every step
        opt.step()
    sync()
    return time.perf_counter() - t


def our_epochs(family_kwargs: dict, data, device: torch.device, fast: str, epochs: float, seed: int) -> tuple[float, float, object]:
    torch.manual_seed(seed)
    model = build_model("vae", **family_kwargs)
    cfg = TrainConfig(epochs=epochs, batch_size=128, device=str(device), fast=fast, log_every=10**9,
                      snapshot_every=0, checkpoint_every=10**9, validation_size=0, seed=seed)
    first_epoch_end = None
    t0 = time.perf_counter()
    for m in train(model, data, cfg):
        if m.event == "epoch" and first_epoch_end is None:
            first_epoch_end = time.perf_counter()
    total = time.perf_counter() - t0
    # the first epoch includes capture/warm-up; report the steady epochs when there are several
    per_epoch = (total - (first_epoch_end - t0)) / (epochs - 1) if epochs > 1 and first_epoch_end else total / epochs
    return per_epoch, total, model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip-classic", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = load_dataset("mnist", args.data_dir, download=False)
    kw = dict(arch="mlp", hidden=400, latent_dim=20, likelihood="bernoulli")
    out: dict = {"device": device_description(device), "model": "vae mlp 784-400-20", "batch_size": 128,
                 "epochs_timed": args.epochs, "torch": torch.__version__}
    if not args.skip_classic:
        torch.manual_seed(0)
        m = build_model("vae", **kw).to(device)
        out["classic_s_per_epoch"] = round(classic_epoch(m, data.train.images, device, 128), 3)
    eager_s, eager_total, eager_model = our_epochs(kw, data, device, "off", args.epochs, 0)
    out["eager_s_per_epoch"] = round(eager_s, 3)
    out["eager_test_loss"] = round(evaluate_reconstruction(eager_model, data.test.to(device))["test_loss"], 2)
    if device.type == "cuda":
        fast_s, fast_total, fast_model = our_epochs(kw, data, device, "auto", args.epochs, 0)
        out["fast_s_per_epoch"] = round(fast_s, 3)
        out["fast_test_loss"] = round(evaluate_reconstruction(fast_model, data.test.to(device))["test_loss"], 2)
        out["fast_path"] = "cuda graph"
    else:
        out["fast_s_per_epoch"] = out["eager_s_per_epoch"]
        out["fast_path"] = "none on this device (CUDA graphs need a CUDA GPU): same as eager"
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
