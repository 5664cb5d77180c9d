"""What following a run costs (models.runs.watch.RunWatch, models.runs.tail.MetricsTail).

A run folder like a long run's: ``--records`` metrics lines (~150 bytes each), ``--grids``
sample grids (8x8 grids of 28x28 tiles) and a latest checkpoint of the MLP VAE 784-400-20.

* ``first_scan_ms``: the first look at the folder (the whole metrics file parsed, the newest
  grid decoded, the checkpoint's header checked), the sum over the scans it takes (one read
  parses at most ``CHUNK_BYTES``), and ``first_scan_reads``: how many;
* ``idle_scan_ms``: a look when nothing changed (what every poll costs), the median of 50;
* ``append_scan_ms``: a look after 10 lines were appended, the median of 50;
* ``checkpoint_scan_ms``: a look after latest was replaced (its header read and checked);
* ``metrics_mb``: the file's size.

Prints ONE JSON object.

    python benchmarks/follow_scan.py [--records 200000] [--grids 200]
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

from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint
from models.runs.run_dir import RunDir
from models.runs.watch import RunWatch


def _line(step: int) -> str:
    return json.dumps({"step": step, "epoch": round(step / 468, 4), "seconds": round(step / 200, 3),
                       "recon": 100.0 + 1 / step, "kl": 20.0 + 1 / step, "total": 120.0 + 2 / step}) + "\n"


def _ms(fn, n: int = 50) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--grids", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run").create()
        with open(run.metrics_path, "w") as f:
            f.writelines(_line(s) for s in range(1, args.records + 1))
        tiles = torch.rand(64, 1, 28, 28)
        for i in range(1, args.grids + 1):
            run.save_samples(tiles, i * 100)
        model = build_model("vae")
        save_checkpoint(run.latest, model, {"step": args.records})
        watch = RunWatch(run.path)
        t = time.perf_counter()
        reads, records = 0, 0
        while True:
            changes = watch.scan()
            reads += 1
            records += len(changes.records)
            if not changes.more:
                break
        first_ms = (time.perf_counter() - t) * 1000
        assert records == args.records, records
        idle = _ms(watch.scan)
        step = [args.records]

        def append_and_scan() -> None:
            with open(run.metrics_path, "a") as f:
                for _ in range(10):
                    step[0] += 1
                    f.write(_line(step[0]))
            assert len(watch.scan().records) == 10

        append = _ms(append_and_scan)
        save_checkpoint(run.latest, model, {"step": step[0]})
        t = time.perf_counter()
        assert watch.scan().checkpoint is not None
        checkpoint_ms = (time.perf_counter() - t) * 1000
        print(json.dumps({
            "records": args.records, "grids": args.grids,
            "metrics_mb": round(run.metrics_path.stat().st_size / 2**20, 1),
            "first_scan_ms": round(first_ms, 1), "first_scan_reads": reads,
            "idle_scan_ms": idle, "append_scan_ms": append, "checkpoint_scan_ms": round(checkpoint_ms, 2),
        }))


if __name__ == "__main__":
    main()
