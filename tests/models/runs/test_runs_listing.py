"""Listing run folders for the window's run browser: cheap, newest first, never raising."""
from __future__ import annotations

import json
import os
import time

from models.families.registry import build_model
from models.runs.listing import find_runs, summarize_run
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train


def _train(tiny_dataset, path, family="vae", steps=14, **kw):
    m = build_model(family, **kw)
    list(train(m, tiny_dataset, TrainConfig(steps=steps, batch_size=32, log_every=7, snapshot_every=7, device="cpu"),
               run=RunDir(path)))


def test_runs_are_listed_newest_first_with_what_they_logged(tiny_dataset, tmp_path):
    _train(tiny_dataset, tmp_path / "a-vae", latent_dim=3, hidden=16)
    _train(tiny_dataset, tmp_path / "b-ae", family="ae", steps=7, latent_dim=2, hidden=16)
    old = time.time() - 3600  # make "a" an hour older, whatever the clock resolution
    for p in (tmp_path / "a-vae").rglob("*"):
        os.utime(p, (old, old))
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "stray.txt").write_text("x")

    runs = find_runs(tmp_path)
    assert [r.name for r in runs] == ["b-ae", "a-vae"]
    b, a = runs
    assert (a.family, a.dataset, a.step) == ("vae", tiny_dataset.name, 14)
    assert {"recon", "kl"} <= set(a.last) and "step" not in a.last
    assert a.openable and a.has_best and a.samples is not None and a.samples.name == "step_00000014.png"
    assert (b.family, b.step) == ("ae", 7) and b.problem == ""
    assert find_runs(tmp_path / "missing") == []
    assert [r.name for r in find_runs(tmp_path / "a-vae")] == ["a-vae"]  # a run folder itself


def test_damaged_runs_are_listed_with_the_problem_named(tiny_dataset, tmp_path):
    _train(tiny_dataset, tmp_path / "run", latent_dim=3, hidden=16)
    run = tmp_path / "run"
    (run / "config.json").write_text("{ not json")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 99, "recon"')  # a line cut short by a crash
    s = summarize_run(run)
    assert "config.json unreadable" in s.problem
    assert s.family == "vae"  # the checkpoint says so
    assert s.step == 14  # the last complete line

    (tmp_path / "fresh" / "checkpoints").mkdir(parents=True)  # a run that has not saved yet
    (tmp_path / "fresh" / "config.json").write_text(json.dumps({"family": "dcgan", "dataset": "mnist"}))
    fresh = summarize_run(tmp_path / "fresh")
    assert fresh.family == "dcgan" and not fresh.openable and "no checkpoint" in fresh.problem
    assert fresh.step is None and fresh.last == {}
    assert summarize_run(tmp_path / "nothing-here") is None


def test_a_long_metrics_history_gives_its_last_step(tiny_dataset, tmp_path):
    _train(tiny_dataset, tmp_path / "run", latent_dim=3, hidden=16)
    path = tmp_path / "run" / "metrics.jsonl"
    lines = path.read_text().splitlines()
    body = "\n".join(json.dumps({"step": i, "recon": 1.0}) for i in range(200_000))  # ~6 MB of history
    path.write_text(body + "\n" + lines[-1] + "\n")
    s = summarize_run(tmp_path / "run")  # reads the tail only (benchmarks are not tests: no timing here)
    assert s.step == 14 and "kl" in s.last
