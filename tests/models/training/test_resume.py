"""The one resume policy (models.training.resume): into the run, or a branch; and whose moments."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint
from models.runs.run_dir import RunDir
from models.training.resume import plan_resume


def _model_and_optimizers():
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2, hidden=8, image_shape=(1, 28, 28))
    optimizers = model.configure_optimizers()
    model.training_step(torch.rand(4, 1, 28, 28), optimizers)
    return model, optimizers


def _run(tmp_path: Path, latest_step: int = 50, best_step: int = 20) -> RunDir:
    """A run folder whose latest (with Adam's moments) is at ``latest_step`` and whose best
    (weights only, as RunDir.save writes it) is at ``best_step``."""
    model, optimizers = _model_and_optimizers()
    run = RunDir(tmp_path / "run").create()
    state = {"dataset": "shapes", "train_config": {"batch_size": 16, "log_every": 5}}
    save_checkpoint(run.latest, model, {**state, "step": latest_step, "epoch": latest_step / 10}, optimizers)
    save_checkpoint(run.best, model, {**state, "step": best_step, "epoch": best_step / 10, "best_score": 1.0})
    return run


def test_a_run_folder_or_its_latest_continues_into_the_run_with_its_moments(tmp_path):
    run = _run(tmp_path)
    for source in (run.path, run.latest):
        plan = plan_resume(source)
        assert plan.run_dir == run.path and not plan.branched and plan.reason == ""
        assert (plan.start_step, plan.start_epoch) == (50, 5.0)
        assert plan.optimizer_state is not None and "model" in plan.optimizer_state
        assert plan.previous_train_config == {"batch_size": 16, "log_every": 5}
        assert plan.dataset.name == "shapes" and plan.dataset.image_size == 28 and plan.dataset.channels == 1
        assert plan.checkpoint == run.latest


def test_an_older_checkpoint_of_a_run_branches(tmp_path):
    run = _run(tmp_path)
    plan = plan_resume(run.best)
    # continuing best (step 20) inside the run would rewind latest (step 50)
    assert plan.run_dir is None and plan.branched and plan.start_step == 20
    assert "behind" in plan.reason and "step 50" in plan.reason
    assert plan.optimizer_state is None  # best carries no moments, and latest's are for step 50
    out = tmp_path / "branch"
    plan = plan_resume(run.best, out)
    assert plan.run_dir == out and plan.branched
    with pytest.raises(ValueError, match="rewind"):
        plan_resume(run.best, run.path)


def test_best_at_the_latest_step_continues_into_the_run_with_latests_moments(tmp_path):
    run = _run(tmp_path, latest_step=30, best_step=30)
    plan = plan_resume(run.best)
    assert plan.run_dir == run.path and not plan.branched
    assert plan.optimizer_state is not None  # best has none: latest's, taken at the same step


def test_a_loose_checkpoint_branches_and_keeps_its_own_moments(tmp_path):
    model, optimizers = _model_and_optimizers()
    loose = save_checkpoint(tmp_path / "loose.safetensors", model, {"step": 7, "dataset": "mnist"}, optimizers)
    plan = plan_resume(loose)
    assert plan.run_dir is None and plan.branched and "not in a run folder" in plan.reason
    assert plan.optimizer_state is not None and plan.start_step == 7
    assert plan.dataset.name == "mnist" and plan.dataset.image_size is None  # MNIST comes in one size
    plan = plan_resume(loose, tmp_path / "new")
    assert plan.run_dir == tmp_path / "new" and plan.branched


def test_a_continuation_written_elsewhere_is_a_branch(tmp_path):
    run = _run(tmp_path)
    plan = plan_resume(run.path, tmp_path / "copy")
    assert plan.run_dir == tmp_path / "copy" and plan.branched and plan.optimizer_state is not None
    plan = plan_resume(run.path, run.path)
    assert plan.run_dir == run.path and not plan.branched


def test_the_data_asked_for_replaces_the_recorded(tmp_path):
    run = _run(tmp_path)
    plan = plan_resume(run.path, dataset="mnist", data_dir=tmp_path / "files")
    assert plan.dataset.name == "mnist" and plan.dataset.data_dir == tmp_path / "files"
    model, _ = _model_and_optimizers()
    unknown = save_checkpoint(tmp_path / "r2" / "checkpoints" / "latest.safetensors", model, {"step": 3})
    assert plan_resume(unknown, default_dataset="shapes").dataset.name == "shapes"
    with pytest.raises(ValueError, match="does not record its dataset"):
        plan_resume(unknown)


def test_an_open_model_without_its_moments_takes_them_from_the_runs_latest(tmp_path):
    """The window holds the model it opened, not the optimizer state: planning from it reads
    the moments of the run's latest at the same step."""
    from models.runs.checkpoint import Checkpoint, load_checkpoint
    from models.training.resume import plan_from_checkpoint

    run = _run(tmp_path)
    opened = load_checkpoint(run.latest)
    plan = plan_from_checkpoint(Checkpoint(opened.model, opened.train_state, run.latest))
    assert plan.run_dir == run.path and plan.optimizer_state is not None
    plan = plan_from_checkpoint(Checkpoint(opened.model, {**opened.train_state, "step": 49}, run.latest))
    assert plan.run_dir is None and plan.optimizer_state is None  # step 49 is behind latest's 50: a branch
    plan = plan_from_checkpoint(Checkpoint(opened.model, opened.train_state, None))
    assert plan.run_dir is None and plan.branched and plan.reason == "the model is not in a run folder"


def test_the_windows_open_model_continues_its_runs_schedule(tmp_path):
    """After a run trained in the window stops, the window holds only step, epoch and data
    of it: the plan takes the schedule's record from the run's latest at that step, as it
    takes Adam's moments, so Continue goes on from the rate the run had reached."""
    from models.runs.checkpoint import Checkpoint, load_checkpoint
    from models.training.resume import plan_from_checkpoint

    run = _run(tmp_path)
    opened = load_checkpoint(run.latest)
    record = {"decay": "cosine", "start_step": 0, "total_steps": 80, "scale": 1.0}
    save_checkpoint(run.latest, opened.model, {**opened.train_state, "lr_schedule": record},
                    optimizers=_model_and_optimizers()[1])
    held = {k: opened.train_state[k] for k in ("dataset", "step", "epoch") if k in opened.train_state}
    assert plan_from_checkpoint(Checkpoint(opened.model, held, run.latest)).lr_schedule == record
    assert plan_resume(run.path).lr_schedule == record
    behind = plan_from_checkpoint(Checkpoint(opened.model, {**held, "step": 49}, run.latest))
    assert behind.lr_schedule is None  # another step's schedule says nothing of this one
