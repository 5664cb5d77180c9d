"""Hostile run folders: config.json, metrics.jsonl and eval.json of the wrong type, FIFOs
in their place, damaged checkpoints. A bad run is listed with its problem named and never
hides the other runs of its folder; what the app writes there is strict JSON."""
from __future__ import annotations

import json
import os

import pytest

from models.families.registry import build_model
from models.io.files import FileRefused
from models.runs.listing import find_runs, summarize_run
from models.runs.run_dir import RunDir, record_eval


def make_run(path, step=5):
    """A small run folder as training leaves it (config, metrics, latest and best)."""
    run = RunDir(path).create()
    m = build_model("ae", latent_dim=2, hidden=8)
    state = {"step": step, "dataset": "shapes", "train_config": {"batch_size": 4, "log_every": 1}}
    run.write_config({"family": "ae", "model_config": m.config.to_dict(), "dataset": "shapes",
                      "train_config": {"batch_size": 4, "log_every": 1}})
    for s in range(1, step + 1):
        run.append_metrics({"step": s, "epoch": s / 10, "seconds": s * 0.1, "total": 1.0 / s})
    run.save(m, state, score=1.0)
    return run


CONFIG = [
    ("list", "[]", "config.json unreadable: the top level must be an object, got a list of 0 values"),
    ("family-number", '{"family": 3}', "config.json unreadable: family must be a string"),
    ("model-config-list", '{"family": "ae", "model_config": []}', "model_config must be an object"),
    ("model-config-field", '{"family": "ae", "model_config": {"hidden": "x"}}', "model_config.hidden must be a positive integer, got 'x'"),
    ("unknown-family", '{"family": "nope", "model_config": {}}', "unknown model 'nope'"),
    ("train-config-null", '{"family": "ae", "train_config": null}', "train_config must be an object, got null"),
    ("batch-size-0", '{"family": "ae", "train_config": {"batch_size": 0}}', "train_config.batch_size must be a positive integer"),
    ("deep", "[" * 200 + "]" * 200, "nests 200 levels deep"),
    ("overflow", '{"family": "ae", "train_config": {"lr": 1e400}}', "train_config.lr must be a finite number, got 1e400"),
    ("binary", "\udcff\udcfe", "not"),
]


@pytest.mark.parametrize("text,problem", [(t, p) for _, t, p in CONFIG], ids=[i for i, _, _ in CONFIG])
def test_a_bad_config_json_is_named_and_the_run_still_lists(tmp_path, text, problem):
    run = make_run(tmp_path / "bad")
    make_run(tmp_path / "good")
    run.config_path.write_bytes(text.encode("utf-8", "surrogateescape"))
    runs = {r.name: r for r in find_runs(tmp_path)}
    assert set(runs) == {"bad", "good"} and runs["good"].problem == ""
    bad = runs["bad"]
    assert problem in bad.problem, bad.problem
    assert bad.family == "ae" and bad.step == 5 and bad.openable  # the checkpoint and metrics still speak


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "eval.json"])
def test_a_fifo_in_place_of_a_run_file_never_blocks_the_listing(tmp_path, name, finishes):
    run = make_run(tmp_path / "r")
    (run.path / name).unlink(missing_ok=True)
    os.mkfifo(run.path / name)
    (summary,) = finishes(lambda: find_runs(tmp_path))
    assert f"{name}" in summary.problem and "not a regular file" in summary.problem


def test_a_fifo_metrics_file_is_refused_when_read_or_appended_to(tmp_path, finishes):
    run = make_run(tmp_path / "r")
    run.metrics_path.unlink()
    os.mkfifo(run.metrics_path)
    with pytest.raises(FileRefused, match="metrics.jsonl: is not a regular file"):
        finishes(run.read_metrics)
    with pytest.raises(FileRefused, match="metrics.jsonl: is not a regular file"):
        finishes(run.open_for_appending)  # a run starting here would block on its first append


@pytest.mark.parametrize("line", [
    '{"step": "abc", "total": 1}',
    '{"step": -1, "total": 1}',
    '{"step": 2.5, "total": 1}',
    '{"step": true, "total": 1}',
    '{"step": 6, "total": "low"}',
    '{"step": 6, "total": [1]}',
    '{"step": 6, "total": {"a": 1}}',
    '{"total": 1}',
    '[1, 2]',
    '"text"',
    '{"step": 6, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "{" * 100_000,
])
def test_metrics_records_of_the_wrong_type_are_skipped(tmp_path, line):
    run = make_run(tmp_path / "r")
    with open(run.metrics_path, "a") as f:
        f.write(line + "\n")
    records = run.read_metrics()
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert all(isinstance(v, float) or isinstance(v, int) for r in records for v in r.values())
    assert summarize_run(run.path).step == 5  # the last good record


def test_a_nonfinite_loss_is_written_as_null_and_read_back_as_nan(tmp_path):
    run = make_run(tmp_path / "r")
    run.append_metrics({"step": 6, "total": float("nan"), "kl": float("inf")})
    last = run.metrics_path.read_text().splitlines()[-1]
    assert json.loads(last, parse_constant=lambda c: pytest.fail(f"{c} written")) == {"step": 6, "total": None, "kl": None}
    rec = run.read_metrics()[-1]
    assert rec["step"] == 6 and rec["total"] != rec["total"]


EVAL = [
    ("list", "[1]", "eval.json: the top level must be an object"),
    ("test-loss-string", '{"test_loss": "low"}', "eval.json: test_loss must be a number or null, got 'low'"),
    ("is-list", '{"inception_score": [9]}', "eval.json: inception_score must be a number or null"),
    ("seed-float", '{"seed": 0.5}', "eval.json: seed must be an integer, got 0.5"),
    ("deep", '{"a": ' + "[" * 100 + "]" * 100 + "}", "eval.json: nests 101 levels deep"),
    ("not-json", "{", "eval.json: is not valid JSON"),
]


@pytest.mark.parametrize("text,problem", [(t, p) for _, t, p in EVAL], ids=[i for i, _, _ in EVAL])
def test_a_bad_eval_json_is_named_and_read_eval_gives_none(tmp_path, text, problem):
    run = make_run(tmp_path / "r")
    run.eval_path.write_text(text)
    s = summarize_run(run.path)
    assert problem in s.problem and s.scores == {} and s.headline == ""
    assert run.read_eval() is None
    with pytest.raises(FileRefused):
        run.load_eval()


def test_eval_figures_that_are_not_numbers_are_written_as_null(tmp_path):
    run = make_run(tmp_path / "r")
    written = record_eval(run.latest, {"test_loss": float("nan"), "fid": float("inf"), "family": "ae",
                                        "dataset": "shapes"}, seed=1)
    data = json.loads(written.read_text(), parse_constant=lambda c: pytest.fail(f"{c} written"))
    assert data["test_loss"] is None and data["fid"] is None
    assert summarize_run(run.path).scores["test_loss"] is None


def test_a_damaged_checkpoint_header_is_named_in_the_listing(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save

    run = make_run(tmp_path / "r")
    make_run(tmp_path / "fine")
    with safe_open(str(run.latest), "pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    meta["train_state"] = '{"step": "seven"}'
    run.latest.write_bytes(save(tensors, metadata=meta))
    runs = {r.name: r for r in find_runs(tmp_path)}
    assert "latest.safetensors: train_state.step must be a non-negative integer, got 'seven'" in runs["r"].problem
    assert runs["fine"].problem == ""
    run.latest.write_bytes(b"garbage")
    assert "corrupt or truncated" in summarize_run(run.path).problem


def test_one_run_that_raises_anything_is_listed_with_its_problem(tmp_path, monkeypatch):
    import models.runs.listing as listing

    make_run(tmp_path / "a")
    make_run(tmp_path / "b")
    real = listing.summarize_run

    def flaky(path):
        if path.name == "a":
            raise KeyError("surprise")
        return real(path)

    monkeypatch.setattr(listing, "summarize_run", flaky)
    runs = {r.name: r for r in listing.find_runs(tmp_path)}
    assert set(runs) == {"a", "b"} and "surprise" in runs["a"].problem and runs["b"].problem == ""
