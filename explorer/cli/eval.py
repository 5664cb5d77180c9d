"""``latent-explorer eval``: a run's or checkpoint's metrics, printed and recorded in its run folder."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .cpu_threads import add_threads_flag, apply_cli_threads, threads_kept
from .errors import CLIError
from .flags import add_device_flag, add_model_argument, add_open_flags, non_negative_int, seed_int
from .inputs import load_model_data, load_run
from .output import jsonable, print_readable
from .progress import scoring_classifier


def add_parser(sub: Any) -> None:
    from models.data import DATASETS

    e = sub.add_parser("eval", help="evaluate a run or checkpoint; prints metrics")
    add_model_argument(e)
    e.add_argument("--dataset", choices=DATASETS,
                   help="default: the one it was trained on (a model made elsewhere records none: give one)")
    e.add_argument("--data-dir", type=Path)
    e.add_argument("--no-download", action="store_true")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--n", type=non_negative_int,
                   help="samples scored by the dataset's classifier (default 10000). Generators always; VAEs and "
                        "AAEs when the classifier is cached or --n is given (0 skips them). The class-conditional "
                        "families (cvae, cgan) also get class_accuracy: the share of these samples, classes spread "
                        "evenly, that the classifier puts in the class asked for (overall and per class)")
    e.add_argument("--disentanglement-codes", type=non_negative_int, metavar="N",
                   help="test codes scored against the ground-truth factors (mig, dci) on datasets that know "
                        "them, like shapes (default 10000; 0 skips them)")
    add_device_flag(e)
    add_threads_flag(e, "scoring")
    e.add_argument("--seed", type=seed_int, default=0)
    add_open_flags(e)


def run(args: argparse.Namespace) -> int:
    with threads_kept():
        return _evaluate(args)


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from models.io.json_io import dumps_json
    from models.metrics.report import evaluate_model
    from models.runs.opening import dataset_request

    ckpt = load_run(args, args.device)
    model = ckpt.model
    name = args.dataset or ckpt.train_state.get("dataset")
    if not name:
        raise CLIError(_no_dataset(model))
    request = dataset_request(model, ckpt.train_state, name=args.dataset, data_dir=args.data_dir)
    where = apply_cli_threads(model.device, args.threads)  # before the data: loading computes too
    dataset = load_model_data(model, request, args.no_download, quiet=args.json).to(model.device)
    if not args.json:
        print(f"evaluating {model.family} on {dataset.name} on {where}", file=sys.stderr)
    torch.manual_seed(args.seed)
    try:
        result = evaluate_model(model, dataset, n=args.n, seed=args.seed,
                                classifier=lambda: scoring_classifier(dataset, model.device),
                                disentanglement_codes=args.disentanglement_codes)
    except ValueError as e:  # --n 0 for a generator
        raise CLIError(str(e)) from e
    result = {"family": result.pop("family"), "dataset": result.pop("dataset"), "step": ckpt.train_state.get("step"), **result}
    result = jsonable(result)
    if args.json:
        print(dumps_json(result))
    else:
        print_readable(result)
    if name == ckpt.train_state.get("dataset"):
        _record_eval(ckpt.path, result, args.seed)
    return 0


def _no_dataset(model: Any) -> str:
    """Why eval needs --dataset: the checkpoint records none, or the model was made elsewhere."""
    from models.foreign.protocol import is_trainable, source_words

    if is_trainable(model):
        return "this checkpoint does not record its dataset; pass --dataset"
    return (f"{source_words(model)} was made elsewhere and records no dataset, so there is nothing to score it on; "
            "pass --dataset NAME (images of its shape) to score it")


def _record_eval(checkpoint: Path | None, result: dict, seed: int) -> None:
    """The figures into the run folder's eval.json (for the window's run browser)."""
    from models.runs.run_dir import record_eval

    try:
        record_eval(checkpoint, result, seed)
    except OSError as e:
        print(f"note: could not record the figures in the run folder: {e.strerror or e}", file=sys.stderr)
