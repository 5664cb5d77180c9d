"""``train`` on the CPU: how many threads it trains with (--threads, OMP_NUM_THREADS, the policy),
and its first line on stderr, which says them and the training step actually used."""
from __future__ import annotations

import os
import warnings

import pytest
import torch

import models.training.loop
from explorer.cli import main
from models.training.capture import CaptureFallbackWarning

TINY = ["train", "--model", "vae", "--dataset", "shapes", "--image-size", "28", "--steps", "2", "--batch-size", "16",
        "--latent-dim", "2", "--hidden", "8", "--device", "cpu"]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def threads_when_called(monkeypatch, module, name: str) -> dict:
    """Replaces ``module.name`` with a spy noting torch's thread count when it is called."""
    seen: dict = {}
    real = getattr(module, name)

    def spy(*args, **kwargs):
        seen["threads"] = torch.get_num_threads()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


@pytest.fixture
def trained_with(monkeypatch):
    """What train() ran under: torch's thread count when it was called."""
    return threads_when_called(monkeypatch, models.training.loop, "train")


def cores(monkeypatch, n: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def first_line(capsys) -> str:
    return capsys.readouterr().err.splitlines()[0]


def test_the_first_line_says_the_threads_and_the_step_of_a_cpu_run(tmp_path, capsys, monkeypatch, trained_with):
    cores(monkeypatch, 2)
    torch.set_num_threads(2)
    assert main([*TINY, "--out", str(tmp_path / "run")]) == 0
    line = first_line(capsys)
    assert line.startswith("training vae on shapes (")
    assert "on CPU (1 of 2 cores: one left for the rest of the machine; --threads N to change)" in line
    assert ", step: eager -> " in line and line.endswith(str(tmp_path / "run"))
    assert trained_with["threads"] == 1
    assert torch.get_num_threads() == 2  # put back for the caller of main()


def test_threads_flag_overrides_the_policy(tmp_path, capsys, monkeypatch, trained_with):
    cores(monkeypatch, 8)  # the policy would take 7
    assert main([*TINY, "--threads", "1", "--out", str(tmp_path / "run")]) == 0
    assert trained_with["threads"] == 1
    assert "on CPU (1 thread, from --threads), step: eager" in first_line(capsys)


def test_omp_num_threads_is_honoured_as_under_torchrun(tmp_path, capsys, monkeypatch, trained_with):
    """torchrun gives each of several processes on one machine OMP_NUM_THREADS=1: the policy
    must not make each of them take all the cores but one."""
    cores(monkeypatch, 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert main([*TINY, "--out", str(tmp_path / "run")]) == 0
    assert trained_with["threads"] == 1
    assert "on CPU (1 thread, from OMP_NUM_THREADS)" in first_line(capsys)


def test_a_warning_while_the_step_is_built_follows_the_first_line_once_as_one_line(tmp_path, capsys, monkeypatch):
    """A failed CUDA graph capture warns while train() builds its step, before the first line:
    the warning still comes after it, once, in one readable line."""
    real_train = models.training.loop.train

    def capture_fails(*args, **kwargs):
        warnings.warn("CUDA graph capture failed (operation not permitted\nwhen stream is capturing); "
                      "training eagerly", CaptureFallbackWarning)
        yield from real_train(*args, **kwargs)

    monkeypatch.setattr(models.training.loop, "train", capture_fails)
    assert main([*TINY, "--out", str(tmp_path / "run")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("training vae on shapes")
    warned = [line for line in lines if "capture failed" in line]
    assert warned == ["latent-explorer: warning: CUDA graph capture failed (operation not permitted when stream is "
                      "capturing); training eagerly"]
    assert not any("warnings.warn" in line or "CaptureFallbackWarning" in line for line in lines)
    assert warnings.showwarning is not None and "StartLine" not in repr(warnings.showwarning)  # put back


@pytest.fixture
def scored_with(monkeypatch):
    """What eval scored under: torch's thread count when evaluate_model was called."""
    import models.metrics.report

    return threads_when_called(monkeypatch, models.metrics.report, "evaluate_model")


def test_eval_scores_under_the_same_policy_and_takes_threads(tmp_path, capsys, monkeypatch, scored_with):
    """eval of a long run scores for minutes: it leaves a core to the machine like train, and
    --threads sets it; the caller's count is put back."""
    assert main([*TINY, "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    cores(monkeypatch, 2)
    torch.set_num_threads(2)
    evaluate = ["eval", str(tmp_path / "run"), "--n", "0", "--disentanglement-codes", "50"]
    assert main(evaluate) == 0
    assert scored_with["threads"] == 1
    assert "evaluating vae on shapes on CPU (1 of 2 cores: one left for the rest of the machine" in first_line(capsys)
    assert torch.get_num_threads() == 2
    cores(monkeypatch, 8)
    assert main([*evaluate, "--threads", "3", "--json"]) == 0
    assert scored_with["threads"] == 3
    assert capsys.readouterr().err == ""  # --json: stdout holds the one object, stderr stays quiet
