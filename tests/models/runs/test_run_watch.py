"""Watching a run folder between scans (models.runs.watch): new records, a newer sample
grid and a replaced latest checkpoint each reported once; a checkpoint caught mid-write is
looked at again rather than reported, and named only once it stays broken; a run is called
finished only where the files make it sure (run_outcome)."""
from __future__ import annotations

import pytest

from models.families.registry import build_model
from models.io.atomic import atomic_write_bytes
from models.runs import watch as watch_module
from models.runs.checkpoint import save_checkpoint
from models.runs.run_dir import RunDir
from models.runs.watch import RunWatch, planned_steps, run_outcome
from models.training.loop import TrainConfig, TrainControl, train


def _train(dataset, run: RunDir, control: TrainControl | None = None, stop_at: int | None = None, **cfg):
    model = build_model("vae", latent_dim=2, hidden=16)
    config = TrainConfig(batch_size=16, log_every=2, snapshot_every=4, validation_size=16, device="cpu", **cfg)
    control = control or TrainControl()
    for m in train(model, dataset, config, control, run):
        if stop_at is not None and m.step >= stop_at:
            control.stop()
    return model


def _state(step, epoch=None, **train_config):
    return {"step": step, "epoch": epoch, "train_config": {"log_every": 2, **train_config}}


# -- when a run has finished ---------------------------------------------------------------
def test_a_run_of_given_steps_is_done_at_its_last_step_once_that_line_is_read():
    state = _state(40, steps=40)
    assert run_outcome(state, first_step=2, restarted=False, last_step=40) == "done"
    assert run_outcome(state, first_step=2, restarted=False, last_step=38) is None  # its last line not read yet
    assert run_outcome(_state(20, steps=40), first_step=2, restarted=False, last_step=20) is None  # mid-run


def test_a_run_of_given_epochs_ends_where_the_loop_computes():
    per_epoch = 12  # 200 images / batch 16
    state = _state(30, epoch=30 / per_epoch, epochs=2.5)
    assert planned_steps(state["train_config"], 30, 30 / per_epoch) == 30
    assert run_outcome(state, 2, False, 30) == "done"
    assert run_outcome(_state(24, epoch=2.0, epochs=2.5), 2, False, 24) is None
    assert planned_steps({"epochs": None}, 5, 0.0) is None  # no epoch yet: cannot tell


def test_a_continued_or_branched_run_is_never_inferred_finished():
    state = _state(140, steps=40)  # a continuation: --steps 40 counted from step 100
    assert run_outcome(state, first_step=2, restarted=True, last_step=140) is None
    assert run_outcome(state, first_step=102, restarted=False, last_step=140) is None  # a branch's first record
    assert run_outcome(state, first_step=None, restarted=False, last_step=140) is None  # the start was not read


def test_an_explicit_end_mark_is_taken_unless_metrics_went_on_past_it():
    assert run_outcome({**_state(7, steps=40), "end": "stopped"}, None, True, 7) == "stopped"
    assert run_outcome({**_state(7, steps=40), "end": "done"}, None, True, 9) is None  # continued since
    assert run_outcome({}, 2, False, 4) is None


# -- scans of real runs ----------------------------------------------------------------------
def test_a_finished_run_is_read_whole_once_and_said_done(tmp_path, tiny_dataset):
    run = RunDir(tmp_path / "run")
    _train(tiny_dataset, run, steps=10, checkpoint_every=5)
    watch = RunWatch(run.path)
    first = watch.scan()
    assert [r["step"] for r in first.records] == [r["step"] for r in run.read_metrics()]
    assert first.samples == run.newest_samples() and first.samples_image.ndim in (2, 3)
    assert first.checkpoint is not None and first.checkpoint.step == 10
    assert first.outcome == "done" and not first.problems
    again = watch.scan()
    assert not again.changed and again.outcome == "done"


def test_a_run_counted_in_epochs_is_said_done_too(tmp_path, tiny_dataset):
    run = RunDir(tmp_path / "run")
    _train(tiny_dataset, run, epochs=1.5)  # 12 steps per epoch: ends at step 18
    changes = RunWatch(run.path).scan()
    assert changes.checkpoint.step == 18 and changes.outcome == "done"


def test_a_run_stopped_early_is_not_said_done(tmp_path, tiny_dataset):
    run = RunDir(tmp_path / "run")
    _train(tiny_dataset, run, steps=200, stop_at=6)
    changes = RunWatch(run.path).scan()
    assert changes.checkpoint.step < 200 and changes.outcome is None


def test_a_corrupt_checkpoint_is_reported_only_once_it_stays_broken(tmp_path):
    run = RunDir(tmp_path / "run").create()
    now = [0.0]
    watch = RunWatch(run.path, settle_s=10.0, clock=lambda: now[0])
    atomic_write_bytes(run.latest, b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    assert watch.scan().problems == [] and watch.scan().problems == []  # not settled: maybe a write in progress
    now[0] = 11.0
    problems = watch.scan().problems
    assert len(problems) == 1 and "latest.safetensors" in problems[0]
    assert watch.scan().problems == []  # said once
    model = build_model("vae", latent_dim=2, hidden=16)
    save_checkpoint(run.latest, model, {"step": 3})  # the next write repairs it
    changes = watch.scan()
    assert changes.checkpoint.step == 3 and not changes.problems


def test_a_checkpoint_replaced_while_its_header_is_read_is_looked_at_again(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run").create()
    model = build_model("vae", latent_dim=2, hidden=16)
    save_checkpoint(run.latest, model, {"step": 1})
    real = watch_module.read_header
    replaced = []

    def read_then_replace(path):
        header = real(path)
        if not replaced:  # the writer renames a new file over it right after the header was read
            replaced.append(True)
            save_checkpoint(run.latest, model, {"step": 2})
        return header

    monkeypatch.setattr(watch_module, "read_header", read_then_replace)
    watch = RunWatch(run.path)
    first = watch.scan()
    assert first.checkpoint is None and first.more and not first.problems
    assert watch.scan().checkpoint.step == 2


def test_an_empty_or_missing_folder_scans_quietly(tmp_path):
    changes = RunWatch(tmp_path / "not yet").scan()
    assert not changes.changed and changes.newest_mtime is None and not changes.problems
    assert changes.outcome is None


@pytest.mark.parametrize("what", ["metrics", "samples"])
def test_a_damaged_file_is_named_in_one_line(tmp_path, what):
    run = RunDir(tmp_path / "run").create()
    if what == "metrics":
        run.metrics_path.mkdir()  # a folder where the file should be
    else:
        (run.samples / "step_00000004.png").write_bytes(b"not a png")
    watch = RunWatch(run.path, settle_s=0.0)
    problems = watch.scan().problems + watch.scan().problems
    assert len(problems) == 1 and ("metrics.jsonl" in problems[0] or "step_00000004.png" in problems[0])
