"""benchmarks/gpu_check.py: on a machine without CUDA it says so in one JSON object and exits 0;
and its checks, run on the CPU with stand-ins for the few CUDA calls they make, finish with
every field filled in, report no capture that did not happen, and measure nothing but the
capture: the same seed and batches give identical weights when both paths are eager."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def test_without_cuda_it_prints_one_json_object_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(SCRIPT)], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0], parse_constant=pytest.fail)  # strict JSON: no NaN or Infinity
    assert out["cuda"] is False
    assert out["torch"] == torch.__version__


class _Stream:
    """The one stream a CPU has."""


@pytest.fixture
def gpu_check(monkeypatch):
    """The script as a module, with the CUDA calls its checks make standing in on the CPU."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import gpu_check as module

    stream = _Stream()
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", lambda mode: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device=None: torch.get_rng_state())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device=None: torch.set_rng_state(state))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: stream)
    monkeypatch.setattr(torch.cuda, "default_stream", lambda device=None: stream)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: False)
    return module


def _errors(node, path=""):
    """Every "error" field anywhere in the JSON: an exception a check caught."""
    if isinstance(node, dict):
        found = [f"{path}: {node['error']}"] if "error" in node else []
        return found + [e for k, v in node.items() for e in _errors(v, f"{path}/{k}")]
    return []


def test_checks_run_whole_on_the_cpu_and_claim_no_capture(gpu_check):
    out = gpu_check.run_checks(torch.device("cpu"), data_dir=None, steps=3, budget_s=-1)
    json.dumps(gpu_check.finite_json(out), allow_nan=False)  # what main prints: strict JSON
    assert not _errors(out)
    assert all(isinstance(out[key]["pass"], bool) for key in gpu_check.CHECKS)
    families = set(gpu_check.TINY) | {"vae@shapes"}

    # nothing is captured on a CPU: every check that needs a capture fails, saying why
    capture = out["capture"]["families"]
    assert set(capture) == families
    assert {v["stepper"] for v in capture.values()} == {"eager"}
    assert {"cvae", "cgan", "pggan"} <= families
    assert capture["pggan"]["pass"] and not capture["cgan"]["pass"]  # never captured, by design
    assert not out["capture"]["pass"] and not out["eager_equals_captured"]["pass"]
    assert not out["adam_resume"]["pass"] and not out["failed_capture_restores_stream"]["pass"]
    assert out["all_pass"] is False

    # eager against "captured" (eager here too) from the same seed: identical, so on a GPU
    # any difference is the capture's
    equal = out["eager_equals_captured"]["families"]
    assert set(equal) == families
    assert all(v["max_abs_diff"] == 0.0 and v["allclose"] and v["integer_state_equal"] for v in equal.values())
    # a fresh model restored from the saved weights and Adam state goes on exactly as the
    # uninterrupted run does
    resumed = out["adam_resume"]["families"]
    assert {name: res["restored"] for name, res in resumed.items()} == {
        "vae": ["model"], "dcgan": ["discriminator", "generator"]}
    for name, res in resumed.items():
        assert res["optimizer_state_max_diff_at_capture"] == 0.0, name
        assert res["weights_after_resume_vs_uninterrupted"]["max_abs_diff"] == 0.0, name

    assert set(out["no_host_sync"]["families"]) == families
    assert out["no_host_sync"]["shapes_batch"]["pass"]
    # past the time budget no timing run starts
    assert all("time guard" in v["skipped"] for v in out["epoch_seconds"]["families"].values())


def test_a_step_that_syncs_is_reported_and_the_debug_mode_always_switched_back(gpu_check, monkeypatch):
    modes = []
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)

    class Syncing:
        def run(self, idx):  # what set_sync_debug_mode("error") raises on a host sync
            raise RuntimeError("called a synchronizing CUDA operation")

    result = gpu_check.sync_free(Syncing(), [torch.arange(4)])
    assert "synchronizing" in result
    assert modes == ["error", 0]  # the checks after it run with syncs allowed again
