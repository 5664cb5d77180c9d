"""The model zoo's quality figures: train each family at its defaults, then `eval --json`.

Prints one JSON object: per family, the training seconds and what `eval --json` reports
(test_loss for the VAE family and the AAE; classifier_fid, inception_score and
class_coverage of 10,000 samples for every family with a prior; code_accuracy for InfoGAN),
plus the real test set's reference scores once. This is how the README's "Measured figures"
default-length rows are made; the long DCGAN / WGAN-GP runs that chase IS >= 9 are continued
by hand with `train --resume` (see the README).

    python benchmarks/zoo_figures.py --families vae,aae,gan [--epochs 10] [--device auto]
        [--data-dir ../shared/data/mnist] [--out runs/zoo]

Each family's run folder is kept under --out (default: a temporary folder), so a figure can
be re-checked or a run continued later.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from explorer.cli import main as cli
from models.families.registry import FAMILIES

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def run_family(family: str, out: Path, args: argparse.Namespace) -> dict:
    run = out / family
    common = ["--data-dir", str(args.data_dir)] if args.data_dir else []
    t = time.perf_counter()
    rc = cli(["train", "--model", family, "--dataset", args.dataset, "--epochs", str(args.epochs),
              "--device", args.device, "--out", str(run), *common])
    seconds = time.perf_counter() - t
    if rc != 0:
        return {"error": f"train exited {rc}"}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli(["eval", str(run), "--json", "--device", args.device, "--n", str(args.n), *common])
    if rc != 0:
        return {"error": f"eval exited {rc}", "train_seconds": round(seconds, 1)}
    figures = json.loads(buf.getvalue())
    kept = {"run": str(run)} if args.out else {}  # a temporary folder is gone by the time this prints
    return {"train_seconds": round(seconds, 1), **kept, **figures}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated (default: all)")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.exists() else None)
    p.add_argument("--epochs", type=float, default=10, help="the families' default length is 10")
    p.add_argument("--n", type=int, default=10000, help="samples scored per family")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, help="where the run folders go (default: a temporary folder)")
    args = p.parse_args()
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        p.error(f"unknown families: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        results = {fam: run_family(fam, out, args) for fam in families}
    reference = next((r.pop("reference") for r in results.values() if "reference" in r), None)
    for r in results.values():
        r.pop("reference", None)
    print(json.dumps({"dataset": args.dataset, "epochs": args.epochs, "device": args.device,
                      "families": results, "test_set_reference": reference}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
