"""What a machine with a CUDA GPU checks of the fast path, in one run of under four minutes.

    python benchmarks/gpu_check.py [--data-dir DIR] [--steps 5] [--timing-steps 300] [--budget-s 200]

Prints ONE JSON object; exits 0 when every check passes, 1 when one fails. Without CUDA it
prints ``{"cuda": false, ...}`` and exits 0. Each check is a field with ``pass`` and its
details; an error in one is recorded there and the others still run:

  capture                  every family's step (tiny nets, random labelled images; and a VAE
                           on shapes) is captured: the stepper's name is "cuda graph" (the
                           progressive GAN's stays "eager": its path changes with the stage);
  no_host_sync             a few steps of every family, captured and eager, and a shapes batch
                           rendered on the GPU, under ``torch.cuda.set_sync_debug_mode("error")``;
  eager_equals_captured    the weights after ``--steps`` steps from one seed, eager against
                           captured (allclose, rtol 1e-4, atol 1e-5; the max difference shown);
  adam_resume              Adam's moments and step counts restored from a saved state reach
                           the capture intact, and training goes on as an uninterrupted run;
  failed_capture_restores_stream
                           a step that reads a value on the host during capture: the eager
                           fallback says why, warns, and leaves the default stream current and
                           the weights as they were;
  epoch_seconds            seconds per MNIST epoch (a few hundred steps scaled to an epoch):
                           MLP VAE 784-400-20 at batch 128 <= 0.17 s at the eager run's test
                           loss, DCGAN and InfoGAN at 64 <= 1.5 s (H100-class targets);
                           WGAN-GP at its default batch, reported. Skipped past ``--budget-s``.

Only torch, numpy and this repository's ``models`` package are imported (no Qt). MNIST is
read from ``--data-dir``, else ``shared/data/mnist`` inside the checkout (a folder that
travels with it), else beside it; without the files the timing runs on a random stand-in of
the same shape (the JSON says so).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, importable uninstalled
sys.path.insert(0, str(Path(__file__).resolve().parent))  # train_speed's timing helpers

import torch
from train_speed import finite_json  # the one JSON writer both benchmarks print with

T0 = time.perf_counter()
#: tiny nets: capture and the comparisons take seconds, not minutes
TINY: dict[str, dict] = {
    "ae": {"hidden": 64, "latent_dim": 4},
    "vae": {"hidden": 64, "latent_dim": 4},
    "beta-vae": {"hidden": 64, "latent_dim": 4},
    "aae": {"hidden": 64, "latent_dim": 4, "disc_hidden": (64, 64)},
    "gan": {"z_dim": 16, "g_hidden": (64, 128), "d_hidden": (128, 64)},
    "dcgan": {"z_dim": 16, "g_channels": 8, "d_channels": 8, "fc_hidden": 64},
    "wgan-gp": {"z_dim": 16, "g_channels": 8, "d_channels": 8, "fc_hidden": 128},
    "infogan": {"z_dim": 16, "fc_hidden": 128, "q_hidden": 32, "channels": 8},
    "cvae": {"latent_dim": 4, "hidden": 64, "num_classes": 10},
    "cgan": {"z_dim": 16, "g_channels": 8, "d_channels": 8, "fc_hidden": 64, "num_classes": 10},
    "pggan": {"z_dim": 16, "fmap_base": 64, "fmap_max": 16, "images_per_fade": 64, "images_per_stable": 64},
}
#: families whose step is never captured (the progressive GAN's path changes with its stage):
#: their capture check passes when the step stays eager
EAGER_BY_DESIGN = frozenset({"pggan"})
#: WGAN-GP splits its batch into n_critic (5) chunks: 8 images each
BATCH = {"wgan-gp": 40}
SYNC_STEPS = 3
TARGETS = {"vae": 0.17, "dcgan": 1.5, "infogan": 1.5}  # seconds per epoch on an H100-class GPU


def error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:600]


def elapsed() -> float:
    return round(time.perf_counter() - T0, 1)


# ---------------------------------------------------------------------------------------
# building steppers the way the training loop does
# ---------------------------------------------------------------------------------------
def tiny_data(device: torch.device):
    from models.data.base import Dataset, TensorSplit

    g = torch.Generator().manual_seed(0)
    images = (torch.rand(576, 1, 28, 28, generator=g) > 0.7).to(torch.uint8) * 255
    labels = torch.randint(0, 10, (576,), generator=g)  # for the class-conditional families
    return Dataset("random", TensorSplit(images[:512], labels[:512]), TensorSplit(images[512:], labels[512:])).to(device)


def indices(n: int, batch: int, steps: int, device: torch.device) -> list[torch.Tensor]:
    """Each step's batch, made before any timed or sync-checked region."""
    g = torch.Generator().manual_seed(1)
    return [torch.randperm(n, generator=g)[:batch].to(device) for _ in range(steps)]


def make_stepper(model, split, fast: str, batch: int, optimizer_state: dict | None = None):
    """The loop's sequence: model on the device, its optimizers (and a resumed run's saved
    state restored into them), then ``make_step``."""
    from models.runs.checkpoint import restore_optimizers
    from models.training.loop import TrainConfig
    from models.training.steps import make_step

    cfg = TrainConfig(batch_size=batch, fast=fast, device=str(model.device))
    optimizers = model.configure_optimizers(cfg.lr)
    restore_optimizers(optimizers, optimizer_state)
    return optimizers, make_step(model, optimizers, split, cfg, 1)


def built(family: str, split, fast: str, batch: int, seed: int, device: torch.device):
    from models.families.registry import build_model

    torch.manual_seed(seed)  # the same initial weights, and the same noise, for eager and captured
    model = build_model(family, **TINY[family]).to(device).train()
    optimizers, stepper = make_stepper(model, split, fast, batch)
    return model, optimizers, stepper


def state_diff(a: dict, b: dict) -> dict:
    """Max abs difference of two state dicts' float tensors, allclose, and the rest equal."""
    floats = [k for k, v in a.items() if torch.is_tensor(v) and v.is_floating_point()]
    diff = max(((a[k].float() - b[k].float()).abs().max().item() for k in floats if a[k].numel()), default=0.0)
    close = all(torch.allclose(a[k].float(), b[k].float(), rtol=1e-4, atol=1e-5) for k in floats)
    others = all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a if k not in floats and torch.is_tensor(a[k]))
    return {"max_abs_diff": diff, "allclose": close, "integer_state_equal": others}


def sync_free(stepper, idxs: list[torch.Tensor]) -> str:
    """'ok', or the first host sync a few steps made (set_sync_debug_mode raises on it)."""
    try:
        torch.cuda.set_sync_debug_mode("error")
        try:
            for idx in idxs:
                stepper.run(idx)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        torch.cuda.synchronize()
        return "ok"
    except Exception as e:  # noqa: BLE001 - a sync raises RuntimeError; anything else is recorded too
        return error_text(e)


# ---------------------------------------------------------------------------------------
# checks (a), (b), (c): every family, eager and captured
# ---------------------------------------------------------------------------------------
def family_checks(device: torch.device, steps: int, seed: int, out: dict) -> None:
    from models.data import load_dataset

    data = tiny_data(device)
    shapes = load_dataset("shapes", image_size=28).to(device)
    cases = [(f, f, data) for f in TINY] + [("vae@shapes", "vae", shapes)]
    capture, nosync, equal = out["capture"]["families"], out["no_host_sync"]["families"], out["eager_equals_captured"]["families"]
    for name, family, ds in cases:
        batch = BATCH.get(family, 32)
        idxs = indices(len(ds.train), batch, steps + SYNC_STEPS, device)
        eager = captured = None
        try:
            m_e, _, eager = built(family, ds.train, "off", batch, seed, device)
            for idx in idxs[:steps]:
                eager.run(idx)
        except Exception as e:  # noqa: BLE001 - recorded, the other families still run
            equal[name] = {"pass": False, "error": "eager: " + error_text(e)}
        try:
            m_c, _, captured = built(family, ds.train, "auto", batch, seed, device)
            expected = "eager" if family in EAGER_BY_DESIGN else "cuda graph"
            capture[name] = {"pass": captured.name == expected, "stepper": captured.name}
            for idx in idxs[:steps]:
                captured.run(idx)
            torch.cuda.synchronize()
        except Exception as e:  # noqa: BLE001
            capture.setdefault(name, {"pass": False, "error": error_text(e)})
            equal[name] = {"pass": False, "error": "captured: " + error_text(e)}
        if name not in equal:
            d = state_diff(m_e.state_dict(), m_c.state_dict())
            equal[name] = {"pass": d["allclose"] and d["integer_state_equal"] and capture[name]["pass"], **d}
            if not capture[name]["pass"]:
                equal[name]["note"] = "the captured run fell back to eager: nothing captured was compared"
        runs = {k: sync_free(s, idxs[steps:]) if s is not None else "not built" for k, s in
                (("captured", captured), ("eager", eager))}
        nosync[name] = {"pass": all(v == "ok" for v in runs.values()), **runs}
    for check in ("capture", "no_host_sync", "eager_equals_captured"):
        fams = out[check]["families"]
        out[check]["pass"] = bool(fams) and all(v["pass"] for v in fams.values())


def shapes_render_check(device: torch.device) -> dict:
    """A shapes batch rendered on the GPU without a host sync, equal to the CPU's bit for bit."""
    from models.data.shapes import NUM_IMAGES, ShapesSplit, render_index

    out: dict = {}
    for size in (28, 64):
        flat = torch.randint(0, NUM_IMAGES, (512,), generator=torch.Generator().manual_seed(size))
        split = ShapesSplit(flat, size).to(device)
        idx = torch.arange(512, device=device)
        split.batch(idx[:8])  # the first batch copies the renderer's tables to the device, once
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            images = split.batch(idx)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        same = torch.equal(images.cpu(), render_index(flat, size))
        out[str(size)] = {"pass": same, "equals_cpu_render": same}
    out["pass"] = all(v["pass"] for v in out.values())
    return out


# ---------------------------------------------------------------------------------------
# check (d): a resumed Adam state through the captured path
# ---------------------------------------------------------------------------------------
def optimizer_state_diff(optimizers: dict, saved: dict) -> float:
    """Largest difference between the optimizers' state and ``saved`` (inf when a key or an
    entry is missing)."""
    worst = 0.0
    for name, opt in optimizers.items():
        now, then = opt.state_dict()["state"], saved[name]["state"]
        if set(now) != set(then):
            return math.inf
        for i, entries in then.items():
            for k, v in entries.items():
                if not torch.is_tensor(v):
                    continue
                if k not in now[i]:
                    return math.inf
                worst = max(worst, (now[i][k].float().cpu() - v.float()).abs().max().item())
    return worst


def adam_resume_check(family: str, device: torch.device, seed: int, k: int = 3, m: int = 3) -> dict:
    from models.families.registry import build_model

    data = tiny_data(device)
    batch = BATCH.get(family, 32)
    idxs = indices(len(data.train), batch, k + m, device)
    model_a, opts_a, eager = built(family, data.train, "off", batch, seed, device)
    for idx in idxs[:k]:
        eager.run(idx)
    # what a checkpoint holds: the weights, and the optimizers' state as CPU tensors
    saved_opt = {n: {"state": {i: {key: v.detach().cpu().clone() if torch.is_tensor(v) else v for key, v in st.items()}
                               for i, st in o.state_dict()["state"].items()},
                     "param_groups": o.state_dict()["param_groups"]} for n, o in opts_a.items()}
    saved_weights = {key: v.detach().clone() for key, v in model_a.state_dict().items()}
    rng = torch.cuda.get_rng_state(device)
    for idx in idxs[k:]:  # the uninterrupted run
        eager.run(idx)

    torch.manual_seed(seed + 1000)  # other initial weights: everything must come from the saved state
    model_b = build_model(family, **TINY[family]).to(device).train()
    model_b.load_state_dict(saved_weights)
    torch.cuda.set_rng_state(rng, device)
    opts_b, captured = make_stepper(model_b, data.train, "auto", batch, saved_opt)
    at_capture = optimizer_state_diff(opts_b, saved_opt)
    for idx in idxs[k:]:
        captured.run(idx)
    torch.cuda.synchronize()
    after = state_diff(model_a.state_dict(), model_b.state_dict())
    return {"pass": captured.name == "cuda graph" and at_capture == 0.0 and after["allclose"],
            "stepper": captured.name, "restored": sorted(n for n, o in opts_b.items() if o.state),
            "optimizer_state_max_diff_at_capture": at_capture, "weights_after_resume_vs_uninterrupted": after}


# ---------------------------------------------------------------------------------------
# check (e): a capture that fails
# ---------------------------------------------------------------------------------------
def failed_capture_check(device: torch.device, seed: int) -> dict:
    from models.families.vae import VAE

    class HostReadInCapture(VAE):
        """A VAE whose step reads its loss on the host while a graph is being captured."""

        def training_step(self, batch, optimizers):
            terms = super().training_step(batch, optimizers)
            if torch.cuda.is_current_stream_capturing():
                terms["total"].item()  # illegal during capture: invalidates it
            return terms

    data = tiny_data(device)
    torch.manual_seed(seed)
    model = HostReadInCapture(VAE.Config.from_dict(TINY["vae"])).to(device).train()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimizers, stepper = make_stepper(model, data.train, "auto", 32)
    out: dict = {"stepper": stepper.name, "warnings": [f"{w.category.__name__}: {w.message}"[:300] for w in caught]}
    out["default_stream_current"] = torch.cuda.current_stream(device) == torch.cuda.default_stream(device)
    out["weights_untouched"] = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    out["optimizer_state_untouched"] = all(
        all(not torch.is_tensor(v) or not v.any() for st in o.state.values() for v in st.values()) for o in optimizers.values())
    try:
        idx = torch.arange(32, device=device)
        stepper.run(idx)
        stepper.run(idx)
        out["eager_steps_after"] = "ok" if all(math.isfinite(v) for v in stepper.read_and_reset(2).values()) else "not finite"
    except Exception as e:  # noqa: BLE001
        out["eager_steps_after"] = error_text(e)
    out["pass"] = bool(stepper.name != "cuda graph" and "fail" in stepper.name.lower() and out["warnings"]
                       and out["default_stream_current"] and out["weights_untouched"]
                       and out["optimizer_state_untouched"] and out["eager_steps_after"] == "ok")
    return out


# ---------------------------------------------------------------------------------------
# check (f): seconds per epoch
# ---------------------------------------------------------------------------------------
def epoch_seconds_check(device: torch.device, data_dir: Path | None, timing_steps: int, budget_s: float, seed: int) -> dict:
    from train_speed import (
        MODELS,
        batch_size_of,
        default_mnist_dir,
        load_mnist_or_standin,
        timed_train,
    )

    from models.metrics.report import evaluate_reconstruction

    out: dict = {"data": None, "families": {}}
    data = None
    plan = {"vae": None, "dcgan": timing_steps, "infogan": timing_steps, "wgan-gp": max(1, timing_steps // 3)}
    for family, cap in plan.items():
        if time.perf_counter() - T0 > budget_s:
            out["families"][family] = {"pass": False, "skipped": f"time guard: {elapsed()} s elapsed (> {budget_s} s)"}
            continue
        try:
            if data is None:
                data, out["data"] = load_mnist_or_standin(data_dir or default_mnist_dir())
            batch = batch_size_of(family, MODELS[family])
            per_epoch = len(data.train) // batch
            steps = 2 * per_epoch if cap is None else min(per_epoch, cap)  # the VAE: two whole epochs, for its test loss
            res: dict = {"batch_size": batch, "steps_per_epoch": per_epoch, "steps_timed": steps}
            for path, fast in (("captured", "auto"), ("eager", "off")):
                r, model = timed_train(family, MODELS[family], data, device, fast, steps, batch, seed)
                res[path] = {"s_per_epoch": round(r["s_per_step"] * per_epoch, 4), "stepper": r["stepper"]}
                if family == "vae":
                    res[path]["test_loss"] = round(evaluate_reconstruction(model, data.test.to(device))["test_loss"], 2)
                del model
            ok = res["captured"]["stepper"] == "cuda graph"
            if family in TARGETS:
                res["target_s_per_epoch"] = TARGETS[family]
                ok = ok and res["captured"]["s_per_epoch"] <= TARGETS[family]
            if family == "vae":  # the same test loss as eager, up to sampling noise
                ok = ok and res["captured"]["test_loss"] <= 1.02 * res["eager"]["test_loss"]
            res["pass"] = ok
            out["families"][family] = res
        except Exception as e:  # noqa: BLE001
            out["families"][family] = {"pass": False, "error": error_text(e)}
    out["pass"] = all(v["pass"] for v in out["families"].values())
    return out


def run_check(out: dict, key: str, fn, *args) -> None:
    try:
        out[key] = fn(*args)
    except Exception as e:  # noqa: BLE001 - one failing check never stops the others
        out[key] = {"pass": False, "error": error_text(e)}


CHECKS = ("capture", "no_host_sync", "eager_equals_captured", "adam_resume", "failed_capture_restores_stream",
          "epoch_seconds")


def run_checks(device: torch.device, data_dir: Path | None, steps: int = 5, timing_steps: int = 300,
               budget_s: float = 200, seed: int = 0) -> dict:
    """Every check on ``device``, each a field of the returned dict, plus ``all_pass``."""
    out: dict = {key: {"pass": False, "families": {}} for key in CHECKS[:3]}
    try:
        family_checks(device, steps, seed, out)
    except Exception as e:  # noqa: BLE001
        for key in CHECKS[:3]:
            out[key]["error"] = error_text(e)
    run_check(out["no_host_sync"], "shapes_batch", shapes_render_check, device)
    out["no_host_sync"]["pass"] = out["no_host_sync"]["pass"] and out["no_host_sync"]["shapes_batch"]["pass"]
    out["adam_resume"] = {"families": {}}
    for family in ("vae", "dcgan"):  # one optimizer, and two
        run_check(out["adam_resume"]["families"], family, adam_resume_check, family, device, seed)
    out["adam_resume"]["pass"] = all(v["pass"] for v in out["adam_resume"]["families"].values())
    out["failed_capture_restores_stream"] = None  # its place in the JSON; run last (it breaks a capture on purpose)
    run_check(out, "epoch_seconds", epoch_seconds_check, device, data_dir, timing_steps, budget_s, seed)
    run_check(out, "failed_capture_restores_stream", failed_capture_check, device, seed)
    out["all_pass"] = all(bool(out[k].get("pass")) for k in CHECKS)
    out["elapsed_s"] = elapsed()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="the MNIST files (default: shared/data/mnist "
                    "inside the checkout, else beside it)")
    ap.add_argument("--steps", type=int, default=5, help="steps before eager and captured weights are compared")
    ap.add_argument("--timing-steps", type=int, default=300, help="steps timed per GAN run (scaled to an epoch)")
    ap.add_argument("--budget-s", type=float, default=200, help="no timing run starts after this many seconds")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print(json.dumps({"cuda": False, "torch": torch.__version__,
                          "reason": "torch.cuda.is_available() is False: no CUDA GPU here (or a CPU-only torch build)"}))
        return 0
    device = torch.device("cuda", torch.cuda.current_device())
    out = {"cuda": True, "device": torch.cuda.get_device_name(device), "torch": torch.__version__,
           **run_checks(device, args.data_dir, args.steps, args.timing_steps, args.budget_s, args.seed)}
    print(json.dumps(finite_json(out)))
    return 0 if out["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
