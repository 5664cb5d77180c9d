"""How long do the latent map's coordinates take: PCA, t-SNE and UMAP of encoded points?

UMAP's code is compiled by numba the first time it runs in a process, and numba keeps some
of what it compiled in an on-disk cache. So the first UMAP fit is measured in fresh
processes twice: with an empty numba cache (the very first fit after installing umap-learn)
and with the cache as installed (the first fit of each later session), then a second fit
in the same process (every later fit). Each UMAP fit is split, as the map's progress bar
shows it, into the part without a measure (neighbours, graph, compiling: until the first
layout epoch is reported) and the layout epochs. The points: ``--points`` codes from a
mixture of 10 Gaussian clusters in ``--dim`` dims, like an encoded test set; one thread.

Prints ONE JSON object: {"points": N, "dim": D, "pca_s": s, "tsne_s": s | null,
"umap": {"empty_cache": {...}, "disk_cache": {...}}} where each UMAP entry holds
import_s, first_fit_s, first_graph_s, first_layout_s and the same for the second fit.

    python benchmarks/latent_map.py [--points 3000] [--dim 16]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import numpy as np


def codes(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, d)) * 3.0
    return (centres[rng.integers(0, 10, n)] + rng.standard_normal((n, d))).astype(np.float32)


def umap_fit(x: np.ndarray) -> dict[str, float]:
    """One fit through the map's own function, split where its progress turns measurable."""
    from models.explore.latent_map import umap_2d

    first_epoch: list[float] = []

    def progress(done: int, total: int) -> None:
        if total > 0 and not first_epoch:
            first_epoch.append(time.perf_counter())

    t0 = time.perf_counter()
    umap_2d(x, progress=progress)
    t1 = time.perf_counter()
    graph = (first_epoch[0] if first_epoch else t1) - t0
    return {"fit_s": round(t1 - t0, 3), "graph_s": round(graph, 3), "layout_s": round(t1 - t0 - graph, 3)}


def child(n: int, d: int) -> None:
    """In a fresh process: import, first fit, second fit."""
    import torch

    torch.set_num_threads(1)
    x = codes(n, d)
    t = time.perf_counter()
    import umap  # noqa: F401 - what the first fit pays before it starts

    import_s = time.perf_counter() - t
    first, second = umap_fit(x), umap_fit(x)
    print(json.dumps({"import_s": round(import_s, 3), "first_fit_s": first["fit_s"], "first_graph_s": first["graph_s"],
                      "first_layout_s": first["layout_s"], "second_fit_s": second["fit_s"],
                      "second_graph_s": second["graph_s"], "second_layout_s": second["layout_s"]}))


def run_child(n: int, d: int, empty_cache: bool) -> dict | None:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if empty_cache:
            env["NUMBA_CACHE_DIR"] = cache
        out = subprocess.run([sys.executable, __file__, "--child", "--points", str(n), "--dim", str(d)],
                             env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=3000, help="encoded points (the map's default sample: 3000)")
    ap.add_argument("--dim", type=int, default=16, help="latent size")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.points, args.dim)
        return
    import torch

    from models.explore.latent_map import pca_2d, tsne_2d, tsne_available, umap_available

    torch.set_num_threads(1)
    x = codes(args.points, args.dim)
    t = time.perf_counter()
    pca_2d(x)
    pca_s = time.perf_counter() - t
    tsne_s = None
    if tsne_available():
        t = time.perf_counter()
        tsne_2d(x)
        tsne_s = round(time.perf_counter() - t, 3)
    result: dict = {"points": args.points, "dim": args.dim, "threads": 1, "pca_s": round(pca_s, 4), "tsne_s": tsne_s,
                    "load_average": round(os.getloadavg()[0], 1), "cpus": os.cpu_count()}
    if umap_available():
        result["umap"] = {"empty_cache": run_child(args.points, args.dim, True),
                          "disk_cache": run_child(args.points, args.dim, False)}
    else:
        result["umap"] = None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
