"""The one training loop, a generator used unchanged by the GUI and the CLI.

    for m in train(model, dataset, TrainConfig(epochs=10), control, run):
        ...  # m is a StepMetrics: plain floats, plus previews (and, opted in, weights) on snapshots

It never prints. It reads loss values off the device only when it logs (every
``log_every`` steps), so a GPU never waits on the host in between. Pause and stop are
``threading.Event``s checked between steps, so they act within one step.

Intervals: metrics every ``log_every`` steps; previews, a sample grid and (with
``keep_weights``, for the window's live decoder) a CPU copy of the weights every
``snapshot_every`` steps only (an epoch end is no snapshot: on a handful of images every step
ends an epoch); validation at each epoch end and with each checkpoint, every
``checkpoint_every`` steps or, when that is 0, at each epoch end. The end of a run (done or
stopped) always leaves one checkpoint and one sample grid. Light snapshots of the decoder
for the timeline follow their own schedule (every ``snapshot_every`` steps, denser before the
first, and at the end), thinned to a bounded count (:mod:`models.runs.snapshots`, written by
:mod:`models.runs.snapshot_writer`).

End-of-epoch work stays off the critical path: validation sums its terms on the device and
reads them with one host sync (:mod:`models.training.validation`); a checkpoint costs the
training thread only its device-to-host copies, the serialising and fsync happen on a writer
thread (:mod:`models.runs.checkpoint_writer`). The loop waits for that write before its final
event and before it raises TrainingDiverged, so the checkpoint either names is on disk.

Fast path (CUDA only): data resident on the GPU, fused optimizers (made capturable only for
the captured step), and every family's whole step (batch gather, noise draws, each
optimizer's zero_grad, backward and step - a GAN's D and G updates, WGAN-GP's critic loop - loss accumulation and the GAN weight
average) captured once in a CUDA graph and replayed. A decaying learning rate stays in the
graph: each group's rate is a device tensor refilled between replays
(:func:`models.training.steps.set_group_lr`). Same maths as the eager path, far fewer
launches; ``StepMetrics.stepper`` and ``on_start`` say which step actually runs.

Distributed: under ``torchrun`` (``torch.distributed`` initialised) each rank draws its own
share of every epoch's permutation and single-optimizer families are wrapped in
DistributedDataParallel; only rank 0 writes the run folder. The ranks leave the loop
together, or one would wait for the others' gradients forever: a stop on any rank (each gets
torchrun's SIGTERM, maybe at different steps) takes effect on all of them at the same log
step, and a loss that diverged on any rank raises TrainingDiverged on every rank at that
log step (:mod:`models.training.divergence`).

The step itself is :mod:`models.training.steps` (captured: :mod:`models.training.capture`); the
device choice :mod:`models.training.device`; ranks and gradient averaging
:mod:`models.training.distributed`; the settings and the yielded metrics
:mod:`models.training.config`.
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Callable, Iterator

import torch

from models.data.base import Dataset
from models.families.base import LatentModel
from models.io.validate import check
from models.runs.checkpoint import restore_optimizers
from models.runs.checkpoint_header import TRAIN_CONFIG, CheckpointError
from models.runs.checkpoint_writer import CheckpointWriter
from models.runs.run_dir import RunDir
from models.runs.snapshot_writer import SnapshotWriter
from models.training.config import (StepMetrics, TrainConfig, TrainControl, TrainingDiverged, resolve_lr_decay,
                                    resume_point)
from models.training.device import resolve_device
from models.training.distributed import any_rank, rank_world
from models.training.divergence import diverged_message, divergence
from models.training.schedule import LR_DECAYS, continued_factor, lr_factor, schedule_record
from models.training.steps import make_step, set_group_lr
from models.training.validation import validation_means

__all__ = ["StepMetrics", "TrainConfig", "TrainControl", "TrainingDiverged", "resume_point", "train"]


# ---------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------
def train(
    model: LatentModel,
    dataset: Dataset,
    cfg: TrainConfig | None = None,
    control: TrainControl | None = None,
    run: RunDir | None = None,
    extra_state: dict[str, Any] | None = None,
    start_step: int = 0,
    optimizer_state: dict[str, dict[str, Any]] | None = None,
    sample_scorer: Callable[[LatentModel], dict[str, float]] | None = None,
    start_epoch: float | None = None,
    keep_weights: bool = False,
    on_start: Callable[[str], None] | None = None,
    previous_schedule: dict[str, Any] | None = None,
) -> Iterator[StepMetrics]:
    """Train ``model`` on ``dataset``; yield a StepMetrics every ``log_every`` steps.

    ``sample_scorer(model)`` (optional; see ``models.metrics.sample_quality.training_scorer``) scores
    the model's samples at each validation (checkpoints and epoch ends), on the process that
    writes the run: its figures join the validation terms (``sample_is``, ``sample_fid``), and
    a family without a held-out loss (the GANs) keeps as ``best`` the checkpoint of lowest
    ``sample_fid`` - a GAN's losses say little about its samples.

    Raises TrainingDiverged on a NaN/inf loss (the run folder keeps the last good
    checkpoint, on disk by then). On stop it saves a checkpoint and yields a final "stopped"
    event; under torchrun every rank stops at the first log step after a stop on any of them,
    and every rank raises at the log step where a loss diverged on any of them. A checkpoint
    that could not be written raises CheckpointError at the next checkpoint or at the end.

    ``start_step`` continues a run (the model holds its weights): step numbers, epochs and
    the length count on from there; ``start_epoch`` (the checkpoint's ``epoch``) is where the
    epoch count goes on from, which differs from ``start_step`` / steps-per-epoch when the
    batch size changed (default: that quotient). ``optimizer_state`` (``Checkpoint.optimizer_state`` of
    the run's latest checkpoint, which stores it) carries Adam's moments over, so a resumed
    run continues where it stopped instead of restarting with cold moments.
    ``previous_schedule`` (the resumed checkpoint's ``lr_schedule`` record): with
    ``cfg.lr_decay`` None, a family default schedule that was stopped part-way goes on down
    from the rate it had reached (:func:`models.training.schedule.continued_factor`).

    ``keep_weights``: snapshot, done and stopped events carry a CPU copy of the weights
    (``StepMetrics.weights``); off by default, as copying them costs time nobody but the
    window's live decoder needs. ``on_start(stepper)`` is called once the step is built,
    before the first step, with the name of the step that runs (``StepMetrics.stepper``).
    """
    family_schedule = (cfg or TrainConfig()).lr_decay is None
    cfg = resolve_lr_decay(cfg or TrainConfig(), model)
    # one rule for settings from a form, flags or a resumed checkpoint: a batch size or log
    # interval of 0 would otherwise fail steps later as a division by zero
    check(cfg.to_dict(), TRAIN_CONFIG, "training settings")
    control = control or TrainControl()
    rank, world = rank_world()
    run = run if rank == 0 else None
    device = resolve_device(cfg.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    model.to(device).train()
    data = dataset.to(device)
    train_split, test_split = data.train, data.test
    n_train = len(train_split)
    per_rank = cfg.batch_size
    steps_per_epoch = max(1, n_train // (per_rank * world))  # drop the last partial batch: static shapes
    total = start_step + int(cfg.steps if cfg.steps is not None else round((cfg.epochs or 1) * steps_per_epoch))
    epoch0 = float(start_epoch) if start_epoch is not None else start_step / steps_per_epoch

    def epochs_at(step: int) -> float:  # passes over the train split, counting the run's earlier batch sizes
        return epoch0 + (step - start_step) / steps_per_epoch

    # a continued run draws a different batch order from the one it already trained on
    order_gen = torch.Generator(device=device).manual_seed(cfg.seed + start_step)
    preview_gen = torch.Generator(device="cpu").manual_seed(cfg.seed + 1)
    preview_latents = model.preview_latents(preview_gen).to(device)
    n_val = min(cfg.validation_size, len(test_split))
    originals = test_split.batch(torch.arange(min(8, len(test_split)), device=device)) if model.latent_spec.has_encoder else None

    optimizers = model.configure_optimizers(cfg.lr)
    if optimizer_state:
        restore_optimizers(optimizers, optimizer_state)
    if cfg.lr_decay not in LR_DECAYS:
        raise ValueError(f"unknown lr_decay {cfg.lr_decay!r}: use one of {', '.join(LR_DECAYS)}")
    base_lrs = {name: [float(g["lr"]) for g in opt.param_groups] for name, opt in optimizers.items()}
    # the family's default schedule, continued, goes on from where it stopped; one asked
    # for by name spans this continuation
    from_factor = continued_factor(previous_schedule, cfg.lr_decay, start_step) if family_schedule else 1.0
    for name, opt in optimizers.items():  # the first step's rate (the later ones are set after each step)
        for g, base in zip(opt.param_groups, base_lrs[name]):
            g["lr"] = base * from_factor
    stepper = make_step(model, optimizers, train_split, cfg, world)
    stepper_name = str(getattr(stepper, "name", "eager"))
    if world > 1:  # every rank draws its own noise (a GAN's z, a VAE's epsilon), or they would all repeat rank 0's
        torch.manual_seed(cfg.seed + start_step + 7919 * rank)

    def set_decayed_lr(step: int) -> None:
        """Rates for the step after ``step``: base * the schedule's factor; a captured step's
        rate is a device tensor, refilled in place so the graph reads the new value."""
        frac = from_factor * lr_factor(cfg.lr_decay, step, start_step, total)
        for name, opt in optimizers.items():
            for g, base in zip(opt.param_groups, base_lrs[name]):
                set_group_lr(g, base * frac)

    state_base = {
        "dataset": dataset.name,
        "data_dir": dataset.data_dir,
        "image_shape": list(dataset.image_shape),
        "train_config": cfg.to_dict(),
        # the span this continuation's schedule covers, for a later continuation
        "lr_schedule": schedule_record(cfg.lr_decay, start_step, total, from_factor),
        **(extra_state or {}),
    }
    if run is not None:
        run.open_for_appending()
        if start_step:  # a continued run keeps its best score, so "best" stays the best
            run.best_score = float((run.best_checkpoint_state() or {}).get("best_score", math.inf))
        run.write_config({"family": model.family, "model_config": model.config.to_dict(), **state_base})

    def previews() -> dict[str, torch.Tensor]:
        model.eval()
        with torch.no_grad():
            out = {"samples": model.decode(preview_latents).cpu()}
            if originals is not None:
                out["originals"] = originals.cpu()
                out["reconstructions"] = model.reconstruct(originals).cpu()
        model.train()
        return out

    def validate() -> dict[str, float]:
        model.eval()
        out = validation_means(model, test_split, n_val)
        if sample_scorer is not None and (run is not None or world == 1):
            out.update(sample_scorer(model))
        model.train()
        return out

    def cpu_weights() -> dict[str, torch.Tensor] | None:
        if not keep_weights:
            return None
        return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    def weights_finite() -> bool:
        flags = [torch.isfinite(p).all() for p in model.parameters()]
        return bool(torch.stack(flags).all()) if flags else True  # one device sync, not one per tensor

    with contextlib.ExitStack() as stack:
        # closed on every way out: a write in flight lands (or its error is raised) first
        writer = stack.enter_context(CheckpointWriter(run)) if run is not None else None
        # the timeline's light snapshots, on their own schedule and at the end (models.runs.snapshots)
        snapshots = stack.enter_context(SnapshotWriter(run, model, state_base, cfg.snapshot_every)) if run is not None else None

        def checkpoint(step: int, epoch: float, seconds: float, val: dict[str, float]) -> str | None:
            """Hand this step's weights to the writer; the path they go to, None when not written."""
            if writer is None or not weights_finite():
                return None
            state = {**state_base, "step": step, "epoch": epoch, "seconds": seconds, "validation": val}
            score = val.get("total", val.get("sample_fid"))  # a held-out loss where there is one
            return str(writer.submit(model, state, score=score, optimizers=optimizers))

        def last_good_checkpoint() -> str:
            """The sentence naming the last good checkpoint, once it is on disk."""
            if not last_ckpt:
                return " No checkpoint had been written yet."
            try:
                if writer is not None:
                    writer.flush()
            except CheckpointError as e:  # the newest write failed: latest still holds an older one, if any
                older = f" {last_ckpt} holds an earlier one." if run is not None and run.latest.exists() else ""
                return f" The last checkpoint could not be written ({e}).{older}"
            return f" The last good checkpoint is {last_ckpt}."

        if on_start is not None:
            on_start(stepper_name)
        t0 = time.perf_counter()
        last_log_t, last_log_step = t0, start_step
        since_log = 0
        perm = torch.empty(0, dtype=torch.long, device=device)
        last_ckpt: str | None = None
        ckpt_step, ckpt_val = -1, {}  # the step the last checkpoint holds, and its validation
        samples_step = -1  # the step of the last sample grid written to the run folder
        last_terms: dict[str, float] = {}
        first_sizes: dict[str, float] | None = None  # each term's size at the first log: the scale "exploding" is judged by
        stopped = False  # by a stop request, on this rank or (agreed at log steps) on another
        step = start_step
        while step < total:
            if control.paused:
                pause_started = time.perf_counter()
                control.wait_while_paused()
                paused_for = time.perf_counter() - pause_started
                t0 += paused_for  # paused time doesn't count as training time
                last_log_t += paused_for
            if world == 1:
                stopped = control.stop_requested  # distributed: agreed at log steps, below
            if stopped:
                break
            in_epoch = step % steps_per_epoch
            if in_epoch == 0 or perm.numel() == 0:  # a new epoch, or a run resumed mid-epoch
                perm = torch.randperm(n_train, device=device, generator=order_gen)
            a = (in_epoch * world + rank) * per_rank
            stepper.run(perm[a : a + per_rank])
            step += 1
            since_log += 1
            if cfg.lr_decay != "none":
                set_decayed_lr(step)
            if snapshots is not None and snapshots.due(step):  # only its copies to the host, here
                snapshots.submit(step, epochs_at(step), time.perf_counter() - t0)

            epoch_end = step % steps_per_epoch == 0
            want_snapshot = cfg.snapshot_every and step % cfg.snapshot_every == 0
            want_ckpt = (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or (not cfg.checkpoint_every and epoch_end)
            if step % cfg.log_every and not (epoch_end or want_snapshot or want_ckpt or step == total):
                continue

            terms = last_terms = stepper.read_and_reset(since_log)
            since_log = 0
            if first_sizes is None:
                first_sizes = {k: max(abs(v), 1.0) for k, v in terms.items() if math.isfinite(v)}
            what = divergence(terms, first_sizes, cfg.explode_factor)
            # every rank logs at the same steps, so here they can agree (a collective)
            if any_rank(what is not None, device) if world > 1 else what is not None:
                raise TrainingDiverged(diverged_message(what, last_good_checkpoint(), step, world))
            now = time.perf_counter()
            rate = (step - last_log_step) / max(now - last_log_t, 1e-9)
            last_log_t, last_log_step = now, step
            epoch = epochs_at(step)
            m = StepMetrics(step, total, epoch, now - t0, terms, rate, device=str(device), stepper=stepper_name)
            val: dict[str, float] = {}
            if want_ckpt or epoch_end:
                val = validate()
                m.validation = val or None
                if want_ckpt:
                    last_ckpt = checkpoint(step, epoch, now - t0, val) or last_ckpt
                    m.checkpoint = last_ckpt
                    ckpt_step, ckpt_val = step, val
            if epoch_end:
                m.event = "epoch"
            if want_snapshot:
                m.event = "snapshot"
                m.weights = cpu_weights()
                m.previews = previews()
                if run is not None:
                    run.save_samples(m.previews["samples"], step, ncol=model.preview_columns())
                    samples_step = step
            if run is not None:
                run.append_metrics({"step": step, "epoch": round(epoch, 4), "seconds": round(now - t0, 3), **terms,
                                    **{f"val_{k}": v for k, v in val.items()}})
            yield m
            if world > 1:  # after the yield: a stop asked for while this event was handled counts at this step
                stopped = any_rank(control.stop_requested, device)

        # finished or stopped: leave a checkpoint, a final snapshot and the final step's sample
        # grid (a run shorter than snapshot_every would otherwise leave none to browse)
        seconds = time.perf_counter() - t0
        epoch = epochs_at(step)
        if ckpt_step == step:  # the run ended on a checkpoint step: the weights are already saved
            val = ckpt_val
        else:
            val = validate()
            last_ckpt = checkpoint(step, epoch, seconds, val) or last_ckpt
        terms = stepper.read_and_reset(since_log) if since_log else last_terms
        # distributed: only the agreed stop, so every rank names the same end
        ended_by_stop = stopped or (world == 1 and control.stop_requested)
        final = StepMetrics(
            step, total, epoch, seconds, terms, (step - start_step) / max(seconds, 1e-9),
            event="stopped" if ended_by_stop else "done",
            weights=cpu_weights(),
            previews=previews(), validation=val or None, checkpoint=last_ckpt, device=str(device), stepper=stepper_name,
        )
        if run is not None and samples_step != step:
            run.save_samples(final.previews["samples"], step, ncol=model.preview_columns())
        if snapshots is not None:
            snapshots.submit(step, epoch, seconds)
            snapshots.flush()
        if writer is not None:
            writer.flush()  # the final checkpoint is on disk when its event arrives
        model.eval()
        yield final
