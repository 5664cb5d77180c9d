"""What the timeline's light snapshots cost (models.runs.snapshots, models.runs.snapshot_writer).

For each family at its defaults (the MLP VAE 784-400-20; DCGAN, whose generator and its
weight average make the largest snapshot), on the CPU and, when there is one, on CUDA:

* ``submit_ms``: what ``SnapshotWriter.submit`` costs the training thread (the device-to-host
  copies and the metadata), the median of ``--n`` snapshots;
* ``write_ms``: the writer thread's serialise + atomic write + fsync + thinning, measured
  as the wait in ``flush`` right after a submit;
* ``file_kb``: one snapshot's size, and ``checkpoint_kb``: a latest checkpoint's, for scale;
* ``list_ms``: listing a run of 50 snapshots (every header checked; ``list_first_ms``: the first
  listing of a process, which also measures the config's model once); ``decode_cold_ms`` /
  ``decode_warm_ms``: one frame with a snapshot not yet read / already cached;
* ``train_s``: the MLP VAE's training loop (``--steps`` steps, batch 64, random MNIST-sized
  images, the window's CPU cadence: previews every 50 steps) into a run folder with the light
  snapshots on and off (``SnapshotWriter.due`` forced False), the best of 3 each, interleaved.

Prints ONE JSON object.

    python benchmarks/snapshot_cost.py [--n 20] [--steps 500]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import torch

from models.explore.timeline import SnapshotDecoder
from models.families.registry import build_model
from models.runs.checkpoint import checkpoint_bytes
from models.runs.run_dir import RunDir
from models.runs.snapshot_writer import SnapshotWriter
from models.runs.snapshots import MAX_SNAPSHOTS, list_snapshots

STATE = {"train_config": {"batch_size": 64, "log_every": 50}, "dataset": "mnist"}


def measure(family: str, device: str, n: int) -> dict:
    model = build_model(family).to(device)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run").create()
        submit, write = [], []
        with SnapshotWriter(run, model, STATE, every=1) as writer:
            for step in range(1, max(n, MAX_SNAPSHOTS) + 1):
                t0 = time.perf_counter()
                writer.submit(step, 0.0, 0.0)
                t1 = time.perf_counter()
                writer.flush()
                t2 = time.perf_counter()
                if step <= n:
                    submit.append((t1 - t0) * 1e3)
                    write.append((t2 - t1) * 1e3)
        t0 = time.perf_counter()
        index = list_snapshots(run.path)
        first_ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        index = list_snapshots(run.path)
        list_ms = (time.perf_counter() - t0) * 1e3
        decoder = SnapshotDecoder()
        z = torch.zeros(1, model.latent_spec.input_dim)
        t0 = time.perf_counter()
        decoder.decode(index.snapshots[0], z)
        cold = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        decoder.decode(index.snapshots[0], z)
        warm = (time.perf_counter() - t0) * 1e3
        file_kb = index.snapshots[0].path.stat().st_size / 1024
    return {"submit_ms": round(statistics.median(submit), 3), "write_ms": round(statistics.median(write), 2),
            "file_kb": round(file_kb, 1), "checkpoint_kb": round(len(checkpoint_bytes(model.cpu())) / 1024, 1),
            "snapshots_listed": len(index.snapshots), "list_first_ms": round(first_ms, 1), "list_ms": round(list_ms, 1),
            "decode_cold_ms": round(cold, 2), "decode_warm_ms": round(warm, 2)}


def train_seconds(steps: int, snapshots: bool) -> float:
    from models.data.base import Dataset, TensorSplit
    from models.training.loop import TrainConfig, train

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2200, 1, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.zeros(2200, dtype=torch.long)
    data = Dataset("random", TensorSplit(images[:2000], labels[:2000]), TensorSplit(images[2000:], labels[2000:]))
    cfg = TrainConfig(steps=steps, batch_size=64, log_every=1, snapshot_every=50, validation_size=200, device="cpu")
    real_due = SnapshotWriter.due
    SnapshotWriter.due = real_due if snapshots else (lambda self, step: False)  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            for _ in train(build_model("vae"), data, cfg, run=RunDir(Path(tmp) / "run")):
                pass
            return time.perf_counter() - t0
    finally:
        SnapshotWriter.due = real_due  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--steps", type=int, default=500)
    args = ap.parse_args()
    torch.set_num_threads(1)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out = {"torch": torch.__version__, "max_snapshots": MAX_SNAPSHOTS}
    for device in devices:
        for family in ("vae", "dcgan"):
            out[f"{family}_{device}"] = measure(family, device, args.n)
    on, off = [], []
    for _ in range(3):
        on.append(train_seconds(args.steps, True))
        off.append(train_seconds(args.steps, False))
    out["train_s"] = {"steps": args.steps, "snapshots_on": round(min(on), 2), "snapshots_off": round(min(off), 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
