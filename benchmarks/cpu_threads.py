"""CPU training speed per intra-op thread count, on an idle machine and beside one busy process.

The figures behind the CLI's thread policy (models/training/threads.py): for each count from
1 to the cores this process may use, the seconds our training loop takes for ``--steps``
steps of the MLP VAE (784-400-20, batch 128) on MNIST (random images when MNIST is not
there), first with the machine to itself, then while one other process spins a core. Prints
one JSON object, with the policy's choice and the fastest count in each case.

    python benchmarks/cpu_threads.py [--steps 200] [--data-dir ../shared/data/mnist]

Run it on an otherwise quiet machine: other load skews the "idle" figures.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from models.data import load_dataset
from models.data.base import Dataset, TensorSplit
from models.families.registry import build_model
from models.training.loop import TrainConfig, train
from models.training.threads import apply_threads, default_threads, usable_cores

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
#: a core kept busy by another process: a Python loop that never sleeps
BUSY_LOOP = "while True: pass"


def mnist_or_random(data_dir: Path) -> tuple[Dataset, str]:
    """MNIST when its files are there, else random 28x28 images (the speed is the same)."""
    if data_dir.is_dir():
        return load_dataset("mnist", data_dir, download=False), "mnist"
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (7000, 1, 28, 28), dtype=torch.uint8, generator=g)
    return Dataset("random", TensorSplit(images[:6000]), TensorSplit(images[6000:])), "random"


def seconds_for(data: Dataset, steps: int) -> float:
    """Seconds the training loop takes for ``steps`` steps (set-up and the final previews excluded)."""
    torch.manual_seed(0)
    model = build_model("vae", arch="mlp", hidden=400, latent_dim=20, likelihood="bernoulli")
    cfg = TrainConfig(steps=steps, batch_size=128, device="cpu", fast="off", log_every=10**9, snapshot_every=0,
                      checkpoint_every=10**9, validation_size=0)
    seconds = 0.0
    for m in train(model, data, cfg):
        seconds = m.seconds  # the last event's: time in the loop
    return seconds


class BusyProcess:
    """While entered, another process keeps one core busy; it is killed on exit."""

    def __enter__(self) -> "BusyProcess":
        self.proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        time.sleep(0.3)  # let it start spinning before the clock does
        return self

    def __exit__(self, *_: object) -> None:
        self.proc.kill()
        self.proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="training steps timed per measurement")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    if args.steps < 1:
        ap.error("--steps must be at least 1")
    data, data_name = mnist_or_random(args.data_dir)
    cores = usable_cores()
    results: dict[str, dict[str, float]] = {}
    for n in range(1, cores + 1):
        apply_threads(n)
        seconds_for(data, min(args.steps, 5))  # warm-up: the thread pool, first-call allocations
        idle = seconds_for(data, args.steps)
        with BusyProcess():
            busy = seconds_for(data, args.steps)
        results[str(n)] = {"idle_s": round(idle, 3), "busy_s": round(busy, 3)}
    out = {
        "model": "vae mlp 784-400-20", "batch_size": 128, "steps": args.steps, "data": data_name,
        "cores": cores, "policy_threads": default_threads(),
        "fastest_idle": int(min(results, key=lambda k: results[k]["idle_s"])),
        "fastest_busy": int(min(results, key=lambda k: results[k]["busy_s"])),
        "seconds": results, "torch": torch.__version__,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
