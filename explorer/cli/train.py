"""``latent-explorer train``: train a model headless into a run folder, or continue one (--resume).

Runs under torchrun too: every rank trains, rank 0 alone prints and scores samples.
On the CPU it trains with one thread fewer than the cores (``--threads`` changes it;
:mod:`models.training.threads` says why). The first line on stderr says what trains on what:
the device, the CPU threads and the training step actually used.
Exit codes: 0 when the run reached its end; 130 / 143 when Ctrl+C / SIGTERM stopped it
(:mod:`.stopping`); 2 for the user's errors (a bad flag, missing data, a diverged run).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from .cpu_threads import add_threads_flag, apply_cli_threads, threads_kept
from .errors import CLIError
from .flags import (add_device_flag, add_model_flags, family_fields, non_negative_float, non_negative_int, positive_float,
                    positive_int, seed_int)
from .inputs import load_data, load_model_data
from .progress import StartLine, TrainingProgress, scoring_classifier
from .stopping import StopOnSignals

#: training settings a resumed run keeps unless the command line gives them. Not its length
#: (each continuation says how far to go) nor ``lr_decay``: a schedule named on the command
#: line spans one continuation, and the family's default (no --lr-decay) goes on down from the
#: rate a run stopped part-way had reached (``train(previous_schedule=)``)
CONTINUED = ("batch_size", "lr", "log_every", "snapshot_every", "checkpoint_every", "explode_factor")
#: where the CLI's default differs from TrainConfig's (sample grids less often than the window's)
CLI_DEFAULTS = {"snapshot_every": 1000}


def add_parser(sub: Any) -> None:
    from models.data import DATASETS
    from models.families.registry import FAMILIES
    from models.training.schedule import LR_DECAYS

    t = sub.add_parser("train", help="train a model headless and write a run folder")
    t.add_argument("--model", choices=list(FAMILIES), metavar="{" + ",".join(FAMILIES) + "}")
    t.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue a run from its latest checkpoint (same model, data and folder unless given)")
    t.add_argument("--dataset", choices=DATASETS, help="default: shapes (or the resumed run's)")
    t.add_argument("--data-dir", type=Path, help="where the dataset files are (folder: the image folder)")
    t.add_argument("--image-size", type=positive_int, help="image side for shapes (64 or 28) and folder datasets")
    t.add_argument("--channels", type=int, default=1, choices=(1, 3), help="folder datasets: grey (1) or RGB (3)")
    t.add_argument("--no-download", action="store_true", help="never download; fail if files are missing")
    length = t.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive_float, help="passes over the training split (default 10)")
    length.add_argument("--steps", type=positive_int, help="optimisation steps (instead of --epochs)")
    t.add_argument("--batch-size", type=positive_int, help="default 128, WGAN-GP 64 x n_critic (the paper's 64 per critic "
                                                   "update), or the resumed run's")
    t.add_argument("--lr", type=positive_float, help="learning rate (default: the family's, or the resumed run's)")
    add_device_flag(t)
    add_threads_flag(t, "training")
    t.add_argument("--seed", type=seed_int, default=0)
    t.add_argument("--log-every", type=positive_int, help="steps between log lines / metrics (default 50)")
    t.add_argument("--snapshot-every", type=non_negative_int, help="steps between sample grids (default 1000)")
    t.add_argument("--checkpoint-every", type=non_negative_int, help="steps between checkpoints (default 0: every epoch)")
    t.add_argument("--fast", default="auto", choices=("auto", "off"), help="CUDA graph fast path")
    t.add_argument("--lr-decay", choices=LR_DECAYS,
                   help="none: constant rates; linear: every rate falls linearly to 0 over this run (sharpens GAN "
                        "samples at the end); cosine: half a cosine to 0. Default: the family's (cosine for the conv "
                        "autoencoders, else none)")
    t.add_argument("--explode-factor", type=non_negative_float,
                   help="halt when a loss term grows past this many times its first logged size (default 1e4; 0: never)")
    t.add_argument("--score-samples", type=non_negative_int, metavar="N",
                   help="score N samples (inception score, classifier FID) at every checkpoint; a GAN's best "
                        "checkpoint is then its lowest FID. Default: 2000 for the GAN families when the dataset's "
                        "classifier is cached, else 0 (off)")
    t.add_argument("--out", type=Path, help="run folder to write (default with --resume: the resumed run)")
    add_model_flags(t)


def run(args: argparse.Namespace) -> int:
    from models.training.distributed import init_from_env, shutdown
    from models.training.device import resolve_device

    rank, world, device_name = init_from_env(args.device)
    device = resolve_device(device_name)  # fail early and clearly on a missing GPU
    finished = False
    with threads_kept():
        try:
            where = apply_cli_threads(device, args.threads)
            code = _train(args, device, where, rank, world)
            finished = True
            return code
        finally:
            shutdown(synchronize=finished)


def _train(args: argparse.Namespace, device: Any, where: str, rank: int, world: int) -> int:
    from models.runs.run_dir import RunDir
    from models.training.loop import TrainConfig, TrainControl, train

    overrides = {name: getattr(args, name) for name in family_fields() if getattr(args, name, None) is not None}
    if args.resume is not None:
        model, dataset, plan = _resumed(args, overrides)
        start_step, start_epoch, optimizer_state = plan.start_step, plan.start_epoch, plan.optimizer_state
        previous_cfg, previous_schedule = plan.previous_train_config, plan.lr_schedule
    else:
        model, dataset = _fresh(args, overrides)
        start_step, start_epoch, optimizer_state, previous_cfg, previous_schedule = 0, None, None, {}, None
    cfg = TrainConfig(
        epochs=args.epochs if args.epochs is not None else (None if args.steps else 10), steps=args.steps,
        device=str(device), seed=args.seed, fast=args.fast, lr_decay=args.lr_decay,
        **_continued_settings(args, previous_cfg),
    )
    if args.resume is None and args.batch_size is None:
        cfg.batch_size = model.config.default_batch_size() or cfg.batch_size  # the paper's, per family
    run_dir = RunDir(args.out)
    control = TrainControl()
    quiet = rank != 0  # one voice under torchrun
    head = (f"training {args.model} on {dataset.name} ({len(dataset.train)} images) on {where}"
            f"{f' x {world} processes' if world > 1 else ''}")
    progress = TrainingProgress(tty=sys.stderr.isatty() and rank == 0, quiet=quiet, log_every=cfg.log_every)
    # the samples are scored on rank 0 alone; its flags are checked now, the scorer is built
    # after the first line (building it may print, even train a classifier for minutes)
    scorer = _LateScorer(args.score_samples, model, dataset, device) if rank == 0 else None

    def started(stepper: str) -> None:  # train() built its step: now it is known which one
        start_line(f"{head}, step: {stepper} -> {run_dir.path}")
        if scorer is not None:
            scorer.prepare(start_line.notice)

    last = None
    # Ctrl+C and SIGTERM stop between steps and still leave a checkpoint
    with StopOnSignals(control.stop) as signals, StartLine(quiet, rank) as start_line:
        try:
            for last in train(model, dataset, cfg, control, run_dir, extra_state={"cli": " ".join(sys.argv[1:])},
                              start_step=start_step, optimizer_state=optimizer_state,
                              sample_scorer=scorer if scorer is not None and scorer.wanted else None,
                              start_epoch=start_epoch, on_start=started, previous_schedule=previous_schedule):
                progress.show(last)
        finally:
            progress.close()
    return signals.exit_code if last is not None and last.event == "stopped" else 0


def _resumed(args: argparse.Namespace, overrides: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The model, dataset and plan that continue ``--resume`` (models.training.resume's
    policy: into the run, or into ``--out`` for an older or loose checkpoint, which needs one)."""
    from models.training.resume import plan_resume

    ema = overrides.pop("ema", None)  # the one model flag a continued run may change: it never alters training
    if overrides or args.model:
        raise CLIError("--resume continues the run's own model: drop --model and the model flags (only --ema may change)")
    plan = plan_resume(args.resume, args.out, dataset=args.dataset, data_dir=args.data_dir, default_dataset="shapes")
    if plan.run_dir is None:
        raise CLIError(f"{plan.reason}: give --out NEW_RUN_DIR for the continuation")
    model = plan.model
    if ema is not None:
        if not hasattr(model, "set_ema"):
            raise CLIError(f"--ema applies to the GAN families, not {model.family}")
        model.set_ema(ema)
    args.model, args.out = model.family, plan.run_dir
    request = plan.dataset if args.image_size is None else dataclasses.replace(plan.dataset, image_size=args.image_size)
    return model, load_model_data(model, request, args.no_download, quiet=False), plan


def _fresh(args: argparse.Namespace, overrides: dict[str, Any]) -> tuple[Any, Any]:
    """A new model of ``--model`` with the given flags, built for the dataset's images."""
    import torch

    from models.families.registry import build_model, config_class, data_fields
    from models.runs.model_budget import check_budget, meta_model

    if not args.model:
        raise CLIError("give --model (or --resume RUN_DIR)")
    if args.out is None:
        raise CLIError("give --out RUN_DIR")
    dataset = load_data(args.dataset or "shapes", args.data_dir, args.image_size, args.channels, args.no_download,
                        quiet=False)
    known = {f.name for f in dataclasses.fields(config_class(args.model))}
    ignored = sorted(set(overrides) - known)
    if ignored:
        raise CLIError(f"--{ignored[0].replace('_', '-')} does not apply to {args.model}")
    measured = meta_model(args.model, **data_fields(args.model, dataset), **overrides)
    check_budget(measured, f"--model {args.model}")  # a width that cannot fit is refused before it is allocated
    torch.manual_seed(args.seed)
    return build_model(args.model, measured.config), dataset


def _continued_settings(args: argparse.Namespace, previous: dict) -> dict:
    """Each setting from the command line, else the resumed run's, else the default."""
    from models.training.loop import TrainConfig

    defaults = {**dataclasses.asdict(TrainConfig()), **CLI_DEFAULTS}
    out = {}
    for name in CONTINUED:
        given = getattr(args, name)
        out[name] = given if given is not None else previous.get(name, defaults[name])
    return out


class _LateScorer:
    """train()'s sample scorer for ``--score-samples`` (None: see its help), checked at once
    and built by :meth:`prepare` once training has started; it scores nothing until then
    (and nothing when the default finds no cached classifier)."""

    def __init__(self, n: int | None, model: Any, dataset: Any, device: Any) -> None:
        if n is not None and n > 0:
            if not model.has_prior:
                raise CLIError(f"--score-samples: {model.family} has no prior to sample from")
            if not dataset.labelled:
                raise CLIError(f"--score-samples: {dataset.name} has no class labels to train the scoring classifier on")
        self.n, self.model, self.dataset, self.device = n, model, dataset, device
        self.wanted = n is None or n > 0
        self._score: Any = None

    def prepare(self, say: Any) -> None:
        """Build the scorer; ``say(line)`` tells what it will score."""
        from models.metrics.sample_quality import TRAINING_SAMPLES, default_training_scorer, training_scorer

        if self.n is None:  # by default only where it costs nothing up front and losses say least
            self._score = default_training_scorer(self.model, self.dataset, self.device)
            if self._score is not None:
                say(f"scoring {TRAINING_SAMPLES} samples at every checkpoint (sample_is, sample_fid; --score-samples 0: off)")
        elif self.n > 0:
            classifier = scoring_classifier(self.dataset, self.device)
            say(f"scoring {self.n} samples at every checkpoint (sample_is, sample_fid)")
            self._score = training_scorer(classifier, self.dataset.test, n=self.n)

    def __call__(self, model: Any) -> dict[str, float]:
        return self._score(model) if self._score is not None else {}
