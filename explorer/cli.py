"""``latent-explorer``: the GUI with no sub-command, the headless engine with one.

    latent-explorer train --model vae --dataset mnist --epochs 10 --out runs/vae
    latent-explorer eval runs/vae --json
    latent-explorer sample runs/vae --n 64 --out grid.png

Only ``models`` is imported at module level: the headless commands run on GPU boxes
without PySide6. Every failure is one line on stderr and a non-zero exit, no traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

PROG = "latent-explorer"

#: the flags the core issue names, with their help; family-specific ones are generated
CORE_MODEL_FLAGS = {
    "arch": "architecture: mlp or conv (AE/VAE family); auto, dense or conv (dcgan)",
    "latent_dim": "size of the latent code (AE/VAE family)",
    "likelihood": "decoder likelihood: bernoulli (BCE) or gaussian (MSE)",
    "beta": "weight on the KL term",
}


#: config fields that never become flags: set from the data or by a training flag of the same name
RESERVED = {"image_shape", "lr", "channels", "seed", "steps", "epochs", "batch_size", "device", "fast", "out", "dataset",
            "lr_decay"}


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from models.runs.checkpoint import CheckpointError
    from models.data.base import DataError
    from models.families.registry import UnknownFamily
    from models.training.loop import TrainingDiverged

    return (CLIError, CheckpointError, DataError, UnknownFamily, TrainingDiverged, ValueError, OSError, RuntimeError)


# ---------------------------------------------------------------------------------------
# argument parsing
# ---------------------------------------------------------------------------------------
def _field_families() -> dict[str, list[str]]:
    """Config field -> the families that have it."""
    from models.families.registry import FAMILIES, config_class

    owners: dict[str, list[str]] = {}
    for fam in FAMILIES:
        try:
            for f in dataclasses.fields(config_class(fam)):
                owners.setdefault(f.name, []).append(fam)
        except Exception:  # noqa: BLE001 - as in _family_fields
            continue
    return owners


def _flag_help(name: str, families: list[str]) -> str:
    """The field's documentation (its first sentence, from the first family that has it),
    which families take it, and its default when they share one."""
    from models.families.registry import config_class, field_docs

    doc = field_docs(config_class(families[0])).get(name, "").replace("``", "")
    doc = re.split(r"(?<!\bal)(?<!e\.g)\.\s+(?=[A-Z\d])", doc)[0].rstrip(".")  # first sentence ("et al." is not an end)
    if len(doc) > 110:
        doc = doc[:110].rsplit(" ", 1)[0] + "…"
    defaults = {repr(getattr(config_class(fam)(), name)) for fam in families}
    default = f"default {getattr(config_class(families[0])(), name)}" if len(defaults) == 1 else "default per family"
    which = ", ".join(families) if len(families) < 8 else "all families"
    return f"{doc or name.replace('_', ' ')} [{which}; {default}]".replace("%", "%%")


def _family_fields() -> dict[str, dataclasses.Field]:
    """Union of every family's config fields (first definition wins), for --flags."""
    from models.families.registry import FAMILIES, config_class

    fields: dict[str, dataclasses.Field] = {}
    for fam in FAMILIES:
        try:
            cls = config_class(fam)
        except Exception:  # a family that fails to import must not break the CLI
            continue
        for f in dataclasses.fields(cls):
            if f.name not in RESERVED and f.name not in fields:
                fields[f.name] = f
    return fields


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model hyperparameters (defaults: each family's paper defaults)")
    owners = _field_families()
    for name, f in _family_fields().items():
        default = f.default
        flag = "--" + name.replace("_", "-")
        help_text = CORE_MODEL_FLAGS.get(name) or _flag_help(name, owners[name])
        if isinstance(default, bool):
            g.add_argument(flag, dest=name, type=_parse_bool, default=None, metavar="BOOL", help=help_text)
        elif isinstance(default, (int, float, str)):
            g.add_argument(flag, dest=name, type=type(default), default=None, help=help_text)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (scripts grep stderr), not the whole usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from models.data import DATASETS
    from models.families.registry import FAMILIES

    parser = _Parser(prog=PROG, description="Train or load generative image models and explore them.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    gui = sub.add_parser("gui", help="open the explorer window (the default)")
    gui.add_argument("paths", nargs="*", help="checkpoints or run folders to open")

    t = sub.add_parser("train", help="train a model headless and write a run folder")
    t.add_argument("--model", choices=list(FAMILIES), metavar="{" + ",".join(FAMILIES) + "}")
    t.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue a run from its latest checkpoint (same model, data and folder unless given)")
    t.add_argument("--dataset", choices=DATASETS, help="default: shapes (or the resumed run's)")
    t.add_argument("--data-dir", type=Path, help="where the dataset files are (folder: the image folder)")
    t.add_argument("--image-size", type=int, help="image side for shapes (64 or 28) and folder datasets")
    t.add_argument("--channels", type=int, default=1, choices=(1, 3), help="folder datasets: grey (1) or RGB (3)")
    t.add_argument("--no-download", action="store_true", help="never download; fail if files are missing")
    length = t.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the training split (default 10)")
    length.add_argument("--steps", type=int, help="optimisation steps (instead of --epochs)")
    t.add_argument("--batch-size", type=int, help="default 128, WGAN-GP 64 x n_critic (the paper's 64 per critic "
                                                   "update), or the resumed run's")
    t.add_argument("--lr", type=float, help="learning rate (default: the family's, or the resumed run's)")
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log-every", type=int, help="steps between log lines / metrics (default 50)")
    t.add_argument("--snapshot-every", type=int, help="steps between sample grids (default 1000)")
    t.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 0: every epoch)")
    t.add_argument("--fast", default="auto", choices=("auto", "off"), help="CUDA graph fast path")
    t.add_argument("--lr-decay", default="none", choices=("none", "linear"),
                   help="linear: every learning rate falls linearly to 0 over this run (sharpens GAN samples at the end)")
    t.add_argument("--explode-factor", type=float,
                   help="halt when a loss term grows past this many times its first logged size (default 1e4; 0: never)")
    t.add_argument("--score-samples", type=int, metavar="N",
                   help="score N samples (inception score, classifier FID) at every checkpoint; a GAN's best "
                        "checkpoint is then its lowest FID. Default: 2000 for the GAN families when the dataset's "
                        "classifier is cached, else 0 (off)")
    t.add_argument("--out", type=Path, help="run folder to write (default with --resume: the resumed run)")
    _add_model_flags(t)

    e = sub.add_parser("eval", help="evaluate a run or checkpoint; prints metrics")
    e.add_argument("run", type=Path, help="run folder or checkpoint file")
    e.add_argument("--dataset", choices=DATASETS, help="default: the one it was trained on")
    e.add_argument("--data-dir", type=Path)
    e.add_argument("--no-download", action="store_true")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--n", type=int,
                   help="samples scored by the dataset's classifier (default 10000). Generators always; VAEs and "
                        "AAEs when the classifier is cached or --n is given (0 skips them)")
    e.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--allow-pickle", action="store_true", help="allow .pt/.pth/.ckpt files (can run code!)")

    s = sub.add_parser("sample", help="decode random latents to a .npy array or a .png grid")
    s.add_argument("run", type=Path)
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--out", required=True, type=Path, help="FILE.npy (float32 N x C x H x W in [0,1]) or FILE.png")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--truncation", type=float, help="clamp |z| to this (GANs)")
    s.add_argument("--categorical", type=int, help="InfoGAN: fix the categorical code to this value")
    s.add_argument("--continuous", type=str, help="InfoGAN: fix the continuous codes, e.g. 0.5,-1")
    s.add_argument("--allow-pickle", action="store_true")

    _add_explore_commands(sub)
    return parser


def _add_explore_commands(sub: Any) -> None:
    r = sub.add_parser("render-path", help="render an interpolation path to a GIF or a PNG strip")
    r.add_argument("run", type=Path)
    r.add_argument("path", nargs="?", type=Path, help="a path JSON saved by the explorer or --save-path")
    r.add_argument("--random", type=int, metavar="K", help="K random keyframes from the prior instead of a path file")
    r.add_argument("--frames", type=int, default=32, help="frames in all")
    r.add_argument("--kind", choices=("linear", "slerp"), help="interpolation (default: the path's own, or slerp)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--fps", type=float, help="GIF speed (default: the path's own, 12 for --random)")
    r.add_argument("--save-path", type=Path, help="write the path used as JSON (replays to identical frames)")
    r.add_argument("--out", required=True, type=Path, help="FILE.gif or FILE.png")
    r.add_argument("--allow-pickle", action="store_true")

    v = sub.add_parser("traverse", help="a traversal grid: one row per latent dimension")
    v.add_argument("run", type=Path)
    v.add_argument("--dims", type=str, help="comma-separated dimensions (default: all; for a VAE whose dataset is at hand, "
                                             "ordered most active (highest KL) first)")
    v.add_argument("--data-dir", type=Path, help="where the training dataset is, to rank VAE dimensions by KL")
    v.add_argument("--steps", type=int, default=9, help="images per row")
    v.add_argument("--range", type=float, help="sweep -R..R (default: the slider range)")
    v.add_argument("--seed", type=int, help="traverse around a random point (default: the origin)")
    v.add_argument("--out", required=True, type=Path, help="FILE.png")
    v.add_argument("--allow-pickle", action="store_true")

    u = sub.add_parser("runs", help="list the run folders in a folder: steps, time, last eval, last losses")
    u.add_argument("folder", type=Path, nargs="?", default=Path("runs"), help="folder of run folders (default: ./runs)")
    u.add_argument("--json", action="store_true", help="one JSON object per run, one per line")


def _version() -> str:
    from models import __version__

    return __version__


# ---------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------
def _load_dataset(name: str, data_dir: Path | None, image_size: int | None, channels: int, no_download: bool, quiet: bool):
    from models.data import load_dataset

    progress = None if quiet else _download_progress()
    no_download = no_download or os.environ.get("LATENT_EXPLORER_NO_DOWNLOAD") == "1"
    return load_dataset(name, data_dir, download=not no_download, progress=progress, image_size=image_size, channels=channels)


def _download_progress() -> Callable[[int, int], None]:
    state: dict[str, Any] = {}

    def report(done: int, total: int) -> None:
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = state.get("bar")
            if bar is None or bar.total != total or done < bar.n:
                if bar is not None:
                    bar.close()
                bar = state["bar"] = tqdm(total=total or None, unit="B", unit_scale=True, desc="download", file=sys.stderr)
            bar.update(done - bar.n)
            if total and done >= total:
                bar.close()
                state.pop("bar")
        elif total and done >= total:
            print(f"downloaded {done / 1e6:.1f} MB", file=sys.stderr)

    return report


def _scoring_classifier(dataset, device):
    """The dataset's cached classifier, or one trained now with its progress on stderr: the
    first evaluation on a CPU spends minutes there and should not look hung."""
    from models.metrics.classifier import cache_path, get_classifier

    path = cache_path(dataset)
    if path.exists():
        return get_classifier(dataset, device)
    print(f"training the {dataset.name} classifier that scores samples (once; cached at {path})", file=sys.stderr)
    state: dict[str, Any] = {"shown": 0}

    def report(done: int, total: int) -> None:
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = state.get("bar") or state.setdefault("bar", tqdm(total=total, unit="step", desc="classifier", file=sys.stderr))
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
        elif done * 4 // total > state["shown"]:  # a line per quarter in logs
            state["shown"] = done * 4 // total
            print(f"classifier: step {done}/{total}", file=sys.stderr)

    clf = get_classifier(dataset, device, progress=report)
    print(f"classifier: test accuracy {clf.accuracy:.4f}", file=sys.stderr)
    return clf


def _training_scorer(n: int | None, model, dataset, device, quiet: bool):
    """train()'s sample scorer for ``--score-samples`` (None: see its help), or None."""
    from models.metrics.sample_quality import TRAINING_SAMPLES, default_training_scorer, training_scorer

    if n is None:  # by default only where it costs nothing up front and losses say least
        scorer = default_training_scorer(model, dataset, device)
        if scorer is not None and not quiet:
            print(f"scoring {TRAINING_SAMPLES} samples at every checkpoint (sample_is, sample_fid; --score-samples 0: off)",
                  file=sys.stderr)
        return scorer
    if n <= 0:
        return None
    if not model.has_prior:
        raise CLIError(f"--score-samples: {model.family} has no prior to sample from")
    if not dataset.labelled:
        raise CLIError(f"--score-samples: {dataset.name} has no class labels to train the scoring classifier on")
    classifier = _scoring_classifier(dataset, device)
    if not quiet:
        print(f"scoring {n} samples at every checkpoint (sample_is, sample_fid)", file=sys.stderr)
    return training_scorer(classifier, dataset.test, n=n)


def cmd_train(args: argparse.Namespace) -> int:
    from models.training.distributed import init_from_env, shutdown
    from models.training.loop import resolve_device

    rank, world, device_name = init_from_env(args.device)
    device = resolve_device(device_name)  # fail early and clearly on a missing GPU
    try:
        return _train(args, device, rank, world)
    finally:
        shutdown()


def _train(args: argparse.Namespace, device, rank: int, world: int) -> int:
    import torch

    from models.families.registry import build_model, config_class
    from models.runs.run_dir import RunDir
    from models.training.loop import TrainConfig, TrainControl, device_description, resume_point, train

    overrides = {name: getattr(args, name) for name in _family_fields() if getattr(args, name, None) is not None}
    start_step, start_epoch, optimizer_state, previous_cfg = 0, None, None, {}
    if args.resume is not None:
        from models.runs.checkpoint import load_checkpoint
        from models.runs.run_dir import RunDir as _Run

        ema = overrides.pop("ema", None)  # the one model flag a continued run may change: it never alters training
        if overrides or args.model:
            raise CLIError("--resume continues the run's own model: drop --model and the model flags (only --ema may change)")
        resumed = _Run(args.resume)
        ckpt = load_checkpoint(resumed.latest if resumed.latest.exists() else args.resume)
        model = ckpt.model
        start_step, start_epoch = resume_point(ckpt.train_state)
        if ema is not None:
            if not hasattr(model, "set_ema"):
                raise CLIError(f"--ema applies to the GAN families, not {model.family}")
            model.set_ema(ema)
        optimizer_state = ckpt.optimizer_state
        previous_cfg = ckpt.train_state.get("train_config") or {}
        args.model = model.family
        if args.dataset in (None, ckpt.train_state.get("dataset")):
            args.data_dir = args.data_dir or _recorded_data_dir(ckpt.train_state)
        args.dataset = args.dataset or ckpt.train_state.get("dataset")
        args.out = args.out or resumed.path
        c, h, _ = model.config.image_shape
        args.image_size, args.channels = args.image_size or h, c
    elif not args.model:
        raise CLIError("give --model (or --resume RUN_DIR)")
    if args.out is None:
        raise CLIError("give --out RUN_DIR")
    dataset = _load_dataset(args.dataset or "shapes", args.data_dir, args.image_size, args.channels, args.no_download,
                            quiet=False)
    if args.resume is None:
        known = {f.name for f in dataclasses.fields(config_class(args.model))}
        ignored = sorted(set(overrides) - known)
        if ignored:
            raise CLIError(f"--{ignored[0].replace('_', '-')} does not apply to {args.model}")
        torch.manual_seed(args.seed)
        model = build_model(args.model, image_shape=tuple(dataset.image_shape), **overrides)
    elif tuple(dataset.image_shape) != tuple(model.config.image_shape):
        raise CLIError(f"the run's model works on {tuple(model.config.image_shape)} images, {dataset.name} has {tuple(dataset.image_shape)}")
    cfg = TrainConfig(
        epochs=args.epochs if args.epochs is not None else (None if args.steps else 10), steps=args.steps,
        device=str(device), seed=args.seed, fast=args.fast, lr_decay=args.lr_decay,
        **_continued_settings(args, previous_cfg),
    )
    if args.resume is None and args.batch_size is None:
        cfg.batch_size = model.config.default_batch_size() or cfg.batch_size  # the paper's, per family
    run = RunDir(args.out)
    control = TrainControl()
    # Ctrl+C stops between steps and still leaves a checkpoint
    previous = signal.signal(signal.SIGINT, lambda *_: control.stop())
    tty = sys.stderr.isatty() and rank == 0
    quiet = rank != 0  # one voice under torchrun
    if not quiet:
        print(f"training {args.model} on {dataset.name} ({len(dataset.train)} images) on {device_description(device)}"
              f"{f' x {world} processes' if world > 1 else ''} -> {run.path}", file=sys.stderr)
    bar = None
    try:
        scorer = _training_scorer(args.score_samples, model, dataset, device, quiet) if rank == 0 else None
        for m in train(model, dataset, cfg, control, run, extra_state={"cli": " ".join(sys.argv[1:])},
                       start_step=start_step, optimizer_state=optimizer_state, sample_scorer=scorer,
                       start_epoch=start_epoch):
            terms = " ".join(f"{k}={v:.4g}" for k, v in m.terms.items())
            if tty:
                from tqdm import tqdm

                if bar is None:
                    bar = tqdm(total=m.total_steps, unit="step", file=sys.stderr, dynamic_ncols=True)
                bar.update(m.step - bar.n)
                bar.set_postfix_str(f"ep {m.epoch:.2f} {terms}", refresh=False)
            elif quiet:
                continue
            elif m.event != "log" or m.step % (cfg.log_every * 10) == 0:
                val = "".join(f" {label}={m.validation[k]:.4g}" for k, label in
                              (("total", "val_total"), ("sample_is", "IS"), ("sample_fid", "FID")) if k in (m.validation or {}))
                print(f"step {m.step}/{m.total_steps} epoch {m.epoch:.2f} {m.seconds:.1f}s {m.steps_per_s:.0f} steps/s {terms}{val}",
                      file=sys.stderr, flush=True)
            if m.event in ("done", "stopped") and not quiet:
                print(f"{m.event}: {m.step} steps in {m.seconds:.1f}s; checkpoint {m.checkpoint}", file=sys.stderr)
    finally:
        if bar is not None:
            bar.close()
        signal.signal(signal.SIGINT, previous)
    return 0


#: training settings a resumed run keeps unless the command line gives them. Not its length
#: (each continuation says how far to go) nor ``lr_decay`` (a schedule spans one continuation:
#: inheriting "linear" would jump the rate back up and fall again)
_CONTINUED = ("batch_size", "lr", "log_every", "snapshot_every", "checkpoint_every", "explode_factor")
#: where the CLI's default differs from TrainConfig's (sample grids less often than the window's)
_CLI_DEFAULTS = {"snapshot_every": 1000}


def _continued_settings(args: argparse.Namespace, previous: dict) -> dict:
    """Each setting from the command line, else the resumed run's, else the default."""
    from models.training.loop import TrainConfig

    defaults = {**dataclasses.asdict(TrainConfig()), **_CLI_DEFAULTS}
    out = {}
    for name in _CONTINUED:
        given = getattr(args, name)
        out[name] = given if given is not None else previous.get(name, defaults[name])
    return out


def _load(args: argparse.Namespace, device: str = "cpu"):
    from models.runs.checkpoint import load_checkpoint
    from models.training.loop import resolve_device

    return load_checkpoint(args.run, resolve_device(device), allow_pickle=getattr(args, "allow_pickle", False))


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from models.metrics.report import evaluate_model

    ckpt = _load(args, args.device)
    model = ckpt.model
    name = args.dataset or ckpt.train_state.get("dataset")
    if not name:
        raise CLIError("this checkpoint does not record its dataset; pass --dataset")
    c, h, w = model.config.image_shape
    data_dir = args.data_dir or (_recorded_data_dir(ckpt.train_state) if name == ckpt.train_state.get("dataset") else None)
    dataset = _load_dataset(name, data_dir, h, c, args.no_download, quiet=args.json).to(model.device)
    torch.manual_seed(args.seed)
    try:
        result = evaluate_model(model, dataset, n=args.n, seed=args.seed,
                                classifier=lambda: _scoring_classifier(dataset, model.device))
    except ValueError as e:  # a shape the dataset lacks, --n 0 for a generator
        raise CLIError(str(e)) from e
    result = {"family": result.pop("family"), "dataset": result.pop("dataset"), "step": ckpt.train_state.get("step"), **result}
    result = _jsonable(result)
    if args.json:
        print(json.dumps(result))
    else:
        _print_readable(result)
    if name == ckpt.train_state.get("dataset"):
        _record_eval(ckpt.path, result, args.seed)
    return 0


def _record_eval(checkpoint: Path | None, result: dict, seed: int) -> None:
    """The figures into the run folder's eval.json (for the window's run browser)."""
    from models.runs.run_dir import record_eval

    try:
        record_eval(checkpoint, result, seed)
    except OSError as e:
        print(f"note: could not record the figures in the run folder: {e.strerror or e}", file=sys.stderr)


def _print_readable(result: dict, prefix: str = "") -> None:
    """eval's figures for a person: floats to 4 significant digits, nested ones indented."""
    def show(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, list):
            return "[" + ", ".join(show(x) for x in v) + "]"
        return str(v)

    for k, v in result.items():
        if isinstance(v, dict):
            print(f"{prefix}{k}:")
            _print_readable(v, prefix + "    ")
        else:
            print(f"{prefix}{k:>20}: {show(v)}")


def _recorded_data_dir(train_state: dict) -> Path | None:
    """The folder a run's data came from (checkpoints since session 4 record it)."""
    recorded = train_state.get("data_dir")
    return Path(recorded) if recorded else None


def _jsonable(obj: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from models.io.images import grid, save_png

    if args.n < 1:
        raise CLIError("--n must be at least 1")
    suffix = args.out.suffix.lower()
    if suffix not in (".npy", ".png"):
        raise CLIError(f"--out must end in .npy or .png, not {suffix or 'nothing'}")
    model = _load(args).model
    spec = model.latent_spec
    gen = torch.Generator().manual_seed(args.seed)
    flat = model.sample_latents(args.n, generator=gen, truncation=args.truncation)
    if args.categorical is not None or args.continuous is not None:
        if not spec.categorical and args.categorical is not None:
            raise CLIError(f"{model.family} has no categorical code")
        z, blocks, codes = spec.split(flat)
        cats = torch.stack([b.argmax(1) for b in blocks], 1) if blocks else None
        if args.categorical is not None:
            if not 0 <= args.categorical < spec.categorical[0]:
                raise CLIError(f"--categorical must be in 0..{spec.categorical[0] - 1}")
            cats[:, 0] = args.categorical
        if args.continuous is not None:
            values = [float(v) for v in args.continuous.split(",") if v.strip()]
            if len(values) != spec.continuous:
                raise CLIError(f"{model.family} has {spec.continuous} continuous codes; --continuous gave {len(values)}")
            codes = torch.tensor(values).expand(args.n, -1)
        flat = spec.compose(z, cats, codes)
    with torch.no_grad():
        images = torch.cat([model.decode(flat[a : a + 500]) for a in range(0, args.n, 500)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        from models.runs.checkpoint import atomic_write_bytes
        import io

        buf = io.BytesIO()
        np.save(buf, images.float().clamp(0, 1).numpy().astype(np.float32))
        atomic_write_bytes(args.out, buf.getvalue())
    else:
        save_png(grid(images), args.out)
    print(f"wrote {args.n} samples to {args.out}", file=sys.stderr)
    return 0


def cmd_render_path(args: argparse.Namespace) -> int:
    from models.explore import latent_paths as paths

    ckpt = _load(args)
    model = ckpt.model
    if (args.path is None) == (args.random is None):
        raise CLIError("give either a PATH.json or --random K")
    if args.random is not None:
        if args.random < 2:
            raise CLIError("--random needs at least 2 keyframes")
        path = paths.random_path(model, args.random, kind=args.kind or "slerp", seed=args.seed, checkpoint=ckpt.path)
    else:
        path = paths.load_path(args.path, model)
        for note in path.notes:
            print(f"{PROG}: note: {note}", file=sys.stderr)
        if args.kind:
            path = path.with_kind(args.kind)
    if args.save_path:
        paths.save_path(path, args.save_path)
    frames = paths.render_frames(model, path, args.frames)
    suffix = args.out.suffix.lower()
    if suffix == ".gif":
        paths.save_gif(frames, args.out, fps=args.fps or path.fps, loop=path.loop, pingpong=path.pingpong)
    elif suffix == ".png":
        paths.save_strip(frames, args.out)
    else:
        raise CLIError(f"--out must end in .gif or .png, not {suffix or 'nothing'}")
    print(f"wrote {len(frames)} frames to {args.out}", file=sys.stderr)
    return 0


def cmd_traverse(args: argparse.Namespace) -> int:
    from models.explore import latent_paths as paths

    ckpt = _load(args)
    model = ckpt.model
    dims = None
    if args.dims:
        try:
            dims = [int(d) for d in args.dims.split(",") if d.strip()]
        except ValueError:
            raise CLIError(f"--dims must be comma-separated integers, got {args.dims!r}") from None
    else:
        dims = _dims_by_kl(model, ckpt.train_state.get("dataset"), args.data_dir or _recorded_data_dir(ckpt.train_state))
    if args.out.suffix.lower() != ".png":
        raise CLIError("--out must be a .png file")
    image = paths.traversal_grid(model, dims=dims, steps=args.steps, value_range=args.range, seed=args.seed)
    from models.io.images import save_png

    save_png(image, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _dims_by_kl(model, dataset_name: str | None, data_dir: Path | None) -> list[int] | None:
    """VAE dims ordered by mean KL (most informative first) when the data is at hand
    offline; None (all dims in order) otherwise."""
    from models.families.vae import VAE

    if not isinstance(model, VAE) or not dataset_name:
        return None
    try:
        c, h, _ = model.config.image_shape
        data = _load_dataset(dataset_name, data_dir, h, c, no_download=True, quiet=True)
    except Exception:  # no data offline: fall back to the plain order rather than fail
        return None
    from models.metrics.report import kl_per_dimension

    return [int(i) for i in kl_per_dimension(model, data.test).argsort(descending=True)]


def cmd_runs(args: argparse.Namespace) -> int:
    """The window's run browser as text: newest first."""
    from models.runs.run_dir import find_runs, format_duration

    if not args.folder.is_dir():
        raise CLIError(f"no such folder: {args.folder}")
    runs = find_runs(args.folder)
    if args.json:
        for r in runs:
            print(json.dumps({"run": str(r.path), "family": r.family, "dataset": r.dataset, "step": r.step,
                              "epoch": r.epoch, "seconds": r.seconds, "last": r.last, "eval": r.scores or None,
                              "modified": r.modified, "problem": r.problem or None}))
        return 0
    if not runs:
        print(f"no run folders in {args.folder}", file=sys.stderr)
        return 0
    from datetime import datetime

    rows = [("run", "family", "dataset", "steps", "time", "last eval", "changed")]
    for r in runs:
        rows.append((r.name, r.family, r.dataset, "" if r.step is None else f"{r.step:,}", format_duration(r.seconds),
                     r.headline or (r.problem and f"({r.problem})") or "",
                     datetime.fromtimestamp(r.modified).strftime("%Y-%m-%d %H:%M")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.rjust(w) if i in (3, 4) else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    return 0


COMMANDS = {"train": cmd_train, "eval": cmd_eval, "sample": cmd_sample, "render-path": cmd_render_path,
            "traverse": cmd_traverse, "runs": cmd_runs}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("gui", "-h", "--help", "--version")):
        argv = ["gui", *argv]  # `latent-explorer model.safetensors` opens it in the window
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "gui":
        try:
            from explorer.app import main as gui_main
        except ImportError as e:
            print(f"{PROG}: error: the window needs PySide6 and pyqtgraph ({e}); the headless commands still work",
                  file=sys.stderr)
            return 2
        return gui_main(args.paths)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # `latent-explorer runs | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is silent too
        return 0
    except _user_errors() as e:
        message = " ".join(str(e).split())  # one line: scripts read the first line of stderr
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
