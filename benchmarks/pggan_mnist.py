"""The progressive GAN's quality on MNIST at 32x32: train it with the CLI, then `eval --json`.

Prints one JSON object: the run folder, the steps and images trained, the training seconds,
the stage reached, and what `eval --json` reports (inception_score, class_coverage,
classifier_fid of ``--n`` samples). The issue's target: inception score >= 9.0 with all ten
classes covered.

    python benchmarks/pggan_mnist.py --steps 20000 --batch-size 32 --images-per-phase 30000 \
        --fmap-base 256 --fmap-max 64 --threads 1 --out runs/pggan-mnist

``--eval-only`` scores an existing run folder (or a checkpoint) without training.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

from explorer.cli import main as cli
from models.families import registry

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def evaluate(target: Path, args: argparse.Namespace) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli(["eval", str(target), "--json", "--n", str(args.n), "--data-dir", str(args.data_dir)])
    return json.loads(buf.getvalue()) if rc == 0 else {"error": f"eval exited {rc}"}


def stage_of(target: Path) -> dict:
    """The stage the run's latest checkpoint reached (images seen, resolution, fade)."""
    from models.runs.checkpoint import load_checkpoint, resolve_checkpoint_path

    model = load_checkpoint(resolve_checkpoint_path(target)).model
    stage = model.stage()
    return {"images_seen": model.images_seen, "resolution": stage.resolution, "fade": stage.alpha,
            "status": stage.describe()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--images-per-phase", type=int, default=30000, help="images per fade and per stable phase")
    p.add_argument("--fmap-base", type=int, default=256)
    p.add_argument("--fmap-max", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpoint-every", type=int, default=2000)
    p.add_argument("--n", type=int, default=10000, help="samples scored")
    p.add_argument("--out", type=Path, required=True, help="the run folder")
    p.add_argument("--eval-only", action="store_true", help="score --out (a run folder or checkpoint) without training")
    args = p.parse_args()
    # the family may not be registered yet where this runs: the CLI finds it through the registry
    registry.FAMILIES.setdefault("pggan", ("models.families.pggan", "PGGAN"))

    seconds = None
    if not args.eval_only:
        t = time.perf_counter()
        rc = cli(["train", "--model", "pggan", "--dataset", "mnist", "--data-dir", str(args.data_dir), "--no-download",
                  "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                  "--images-per-fade", str(args.images_per_phase), "--images-per-stable", str(args.images_per_phase),
                  "--fmap-base", str(args.fmap_base), "--fmap-max", str(args.fmap_max),
                  "--checkpoint-every", str(args.checkpoint_every), "--out", str(args.out)])
        seconds = time.perf_counter() - t
        if rc != 0:
            print(json.dumps({"error": f"train exited {rc}", "run": str(args.out)}))
            return 1
    trained = {} if args.eval_only else {"steps": args.steps, "batch_size": args.batch_size,
                                         "train_seconds": round(seconds, 1)}
    # eval's own JSON names the checkpoint's step
    result = {"run": str(args.out), **trained, **stage_of(args.out), **evaluate(args.out, args)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
