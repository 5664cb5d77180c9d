"""Seconds per epoch on MNIST for the MLP VAE (784-400-20, batch 128) and for DCGAN, InfoGAN and
WGAN-GP at their default batch, on one device, each path labelled with the step it really ran.

Prints ONE JSON object. Paths measured per family:
  classic  - (VAE only) the PyTorch VAE example's way: batches copied from host memory each
             step, plain Adam, a .item() host sync every step;
  eager    - our loop with ``fast="off"``: data resident on the device, syncs only when logging;
  captured - our loop with ``fast="auto"`` (CUDA only): the whole step in one CUDA graph.
Each of ours reports ``stepper``, the step the loop says it ran (``StepMetrics.stepper``), so
a capture that fell back to eager shows as such instead of being timed as a graph. The VAE
reports its test loss after each path; a GAN, how far the captured run's final weights (and
the samples of fixed latents) are from the eager run's, both from the same seed.

Timing: the loop's clock starts after the step is built (a capture is not counted), and the
first log interval is left out (lazy initialisation); epoch-end work (validation,
checkpoints) is not measured. ``--max-steps`` caps each run and scales its time to an epoch.
``--busy`` adds CPU figures with one competing busy process, at the CLI's default thread
count and at 2 threads: what training on a laptop that is doing something else looks like.

    python benchmarks/train_speed.py [--device auto|cpu|cuda] [--families vae,dcgan,infogan,wgan-gp]
        [--epochs 1] [--max-steps N] [--skip-classic] [--threads N] [--busy] [--data-dir DIR]

A CPU run of every family over whole epochs takes a long time: pass ``--max-steps 100``.
Without the MNIST files a random stand-in of the same shape is timed (the JSON says so).
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import torch

from models.data import DataError, load_dataset
from models.data.base import Dataset, TensorSplit
from models.families.registry import build_model
from models.metrics.report import evaluate_reconstruction
from models.training.device import device_description, resolve_device
from models.training.loop import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
#: where the MNIST files are looked for by default: a shared/ folder inside the checkout (what
#: travels to a GPU machine with it), then the one beside it
MNIST_DIRS = (REPO / "shared" / "data" / "mnist", REPO.parent / "shared" / "data" / "mnist")
#: family -> model config of the benchmark (the papers' MNIST models)
MODELS: dict[str, dict] = {
    "vae": {"arch": "mlp", "hidden": 400, "latent_dim": 20, "likelihood": "bernoulli"},
    "dcgan": {},
    "infogan": {},
    "wgan-gp": {},
}
#: the batch a family is timed at when its config names none (the papers' MNIST batches)
PAPER_BATCH = {"vae": 128, "dcgan": 64, "infogan": 64}
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def finite_json(obj):
    """``obj`` with every NaN or infinity written as a string: strict JSON has no such numbers."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------
def default_mnist_dir() -> Path:
    """The first of :data:`MNIST_DIRS` that exists (else the last, for the message)."""
    return next((d for d in MNIST_DIRS if d.is_dir()), MNIST_DIRS[-1])


def load_mnist_or_standin(data_dir: Path | None) -> tuple[Dataset, str]:
    """MNIST from ``data_dir`` (or the cache), else random uint8 images of MNIST's shape and
    size, which time the same; the string says which was loaded."""
    try:
        return load_dataset("mnist", data_dir, download=False), f"mnist ({data_dir or 'cache'})"
    except DataError:
        pass
    except ImportError:  # a GPU box without the CLI's extras (the cache folder's package)
        found = [Path(data_dir or ".") / name for name in MNIST_FILES]
        if all(p.is_file() for p in found):
            from models.data.idx import read_images, read_labels

            x_tr, y_tr, x_te, y_te = (read(p) for read, p in zip((read_images, read_labels) * 2, found))

            def split(x, y) -> TensorSplit:
                return TensorSplit(torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype("int64")))

            return Dataset("mnist", split(x_tr, y_tr), split(x_te, y_te)), f"mnist ({data_dir}, read directly)"
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(70_000, 1, 28, 28, generator=g) > 0.8).to(torch.uint8) * 255
    labels = torch.randint(0, 10, (70_000,), generator=g)
    data = Dataset("random", TensorSplit(images[:60_000], labels[:60_000]), TensorSplit(images[60_000:], labels[60_000:]))
    return data, f"random stand-in of MNIST's shape (no MNIST files at {data_dir}): test losses are not MNIST's"


# ---------------------------------------------------------------------------------------
# the measured paths
# ---------------------------------------------------------------------------------------
def batch_size_of(family: str, kw: dict) -> int:
    """The family's default batch (its config's, else the paper's MNIST batch)."""
    return build_model(family, **kw).config.default_batch_size() or PAPER_BATCH.get(family, 128)


def classic_seconds(model, images: torch.Tensor, device: torch.device, batch_size: int,
                    max_steps: int | None) -> tuple[float, int]:
    """(seconds, steps) of the classic example's loop over one epoch, or its first ``max_steps``."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    perm = torch.randperm(images.shape[0])
    starts = list(range(0, images.shape[0] - batch_size + 1, batch_size))[:max_steps]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    for a in starts:
        x = images[perm[a: a + batch_size]].float().div(255).to(device)
        opt.zero_grad()
        loss = model.loss(x)["total"]
        loss.backward()
        loss.item()  # the example reads the loss every step
        opt.step()
    sync()
    return time.perf_counter() - t, len(starts)


def timed_train(family: str, kw: dict, data: Dataset, device: torch.device, fast: str, steps: int,
                batch_size: int, seed: int) -> tuple[dict, torch.nn.Module]:
    """One run of our loop: its seconds per step (first log interval excluded) and the step
    the loop reports it ran; and the trained model."""
    torch.manual_seed(seed)  # the same initial weights and noise for every path
    model = build_model(family, **kw)
    log_every = max(1, min(50, steps // 4))
    cfg = TrainConfig(steps=steps, batch_size=batch_size, device=str(device), fast=fast, log_every=log_every,
                      snapshot_every=0, checkpoint_every=10**9, validation_size=0, seed=seed)
    marks: list[tuple[int, float]] = []
    final = None
    for m in train(model, data, cfg):
        if m.event in ("done", "stopped"):
            final = m
        else:
            marks.append((m.step, m.seconds))
    if len(marks) >= 2:
        per_step = (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])
    else:  # too short to leave the first interval out
        per_step = final.seconds / max(1, final.step)
    out = {"s_per_step": per_step, "steps": steps,
           "stepper": getattr(final, "stepper", "") or "(the loop reported no stepper)"}
    return out, model


def max_abs_diff(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """The largest difference between two models' floating-point state (weights, buffers, averages)."""
    sb = b.state_dict()
    diffs = [(v.float() - sb[k].float()).abs().max().item() for k, v in a.state_dict().items()
             if v.is_floating_point() and v.numel()]
    return max(diffs, default=0.0)


@torch.no_grad()
def samples_max_abs_diff(a, b) -> float:
    """How far apart two generators' images of the same 64 latents are, in [0, 1] pixel units."""
    z = a.sample_latents(64, torch.Generator().manual_seed(123), a.device)
    a.eval(), b.eval()
    return (a.decode(z) - b.decode(z.to(b.device))).abs().max().item()


def measure_family(family: str, data: Dataset, device: torch.device, epochs: float, max_steps: int | None,
                   classic: bool, seed: int, evaluate: bool = True) -> dict:
    """Every path's figures for one family on ``device`` (``evaluate``: the VAE's test loss too)."""
    kw = MODELS[family]
    batch = batch_size_of(family, kw)
    per_epoch = max(1, len(data.train) // batch)
    steps = max(1, round(epochs * per_epoch))
    steps = min(steps, max_steps) if max_steps else steps
    out: dict = {"batch_size": batch, "steps_per_epoch": per_epoch, "steps_timed": steps}
    if family == "vae":
        out["model"] = "vae mlp 784-400-20"
    if classic and family == "vae":
        torch.manual_seed(seed)
        secs, n = classic_seconds(build_model("vae", **kw).to(device), data.train.images, device, batch, max_steps)
        out["classic"] = {"s_per_epoch": round(secs / n * per_epoch, 3), "steps": n}
    runs = {"eager": "off"} | ({"captured": "auto"} if device.type == "cuda" else {})
    trained = {}
    for path, fast in runs.items():
        res, trained[path] = timed_train(family, kw, data, device, fast, steps, batch, seed)
        res["s_per_epoch"] = round(res.pop("s_per_step") * per_epoch, 3)
        if family == "vae" and evaluate:
            res["test_loss"] = round(evaluate_reconstruction(trained[path], data.test.to(device))["test_loss"], 2)
        out[path] = res
    if "captured" not in runs:
        out["captured"] = {"skipped": f"CUDA graphs need a CUDA GPU; this is {device.type}"}
    elif family != "vae":
        out["weights_max_abs_diff"] = max_abs_diff(trained["eager"], trained["captured"])
        out["samples_max_abs_diff"] = samples_max_abs_diff(trained["eager"], trained["captured"])
    return out


# ---------------------------------------------------------------------------------------
# a competing process
# ---------------------------------------------------------------------------------------
def cli_default_threads() -> int:
    try:
        from models.training.threads import default_threads
    except ImportError:  # an engine without the thread policy: torch's own choice
        return torch.get_num_threads()
    return default_threads()


#: one core's worth of busy work, which also ends when its parent does (killed without cleanup)
SPINNER = ("import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n"
           "    for _ in range(100_000):\n        pass\n")


def busy_figures(families: list[str], data: Dataset, epochs: float, max_steps: int | None, seed: int) -> dict:
    """Our eager CPU loop while one other process spins on a core, at the CLI's default thread
    count and at 2; the spinning process is killed whatever happens."""
    before = torch.get_num_threads()
    counts = sorted({cli_default_threads(), 2})
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER])
    out: dict = {"competing_process_pid": spinner.pid, "cli_default_threads": cli_default_threads(), "threads": {}}
    try:
        for n in counts:
            torch.set_num_threads(n)
            out["threads"][str(n)] = {
                f: measure_family(f, data, torch.device("cpu"), epochs, max_steps, False, seed, evaluate=False)["eager"]
                for f in families}
    finally:
        spinner.kill()
        spinner.wait()
        torch.set_num_threads(before)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="the MNIST files (default: shared/data/mnist "
                    "inside the checkout, else beside it)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--families", default=",".join(MODELS), help=f"comma-separated, of: {', '.join(MODELS)}")
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--max-steps", type=int, default=None, help="cap on each run's steps (its time is scaled to an epoch)")
    ap.add_argument("--threads", type=int, default=None, help="CPU intra-op threads (default: torch's)")
    ap.add_argument("--skip-classic", action="store_true")
    ap.add_argument("--busy", action="store_true", help="also time the CPU with one competing busy process")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in MODELS]
    if unknown:
        ap.error(f"unknown families {unknown}: choose from {', '.join(MODELS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data, source = load_mnist_or_standin(args.data_dir or default_mnist_dir())
    out: dict = {"device": device_description(device), "torch": torch.__version__, "data": source,
                 "epochs": args.epochs, "max_steps": args.max_steps, "families": {}}
    for family in families:
        out["families"][family] = measure_family(family, data, device, args.epochs, args.max_steps,
                                                 not args.skip_classic, args.seed)
    if args.busy:
        out["busy_cpu"] = busy_figures(families, data, args.epochs, args.max_steps, args.seed)
    print(json.dumps(finite_json(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
