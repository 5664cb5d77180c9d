"""benchmarks/train_speed.py prints one JSON object naming the step each timed run really
used (as the training loop reports it), and ``--busy`` leaves no competing process behind."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "train_speed.py"


def _run(*args: str, timeout: float = 180) -> dict:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--threads", "1", *args],
                          check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0], parse_constant=pytest.fail)  # strict JSON: no NaN or Infinity


def test_each_run_names_the_stepper_the_loop_used():
    out = _run("--families", "vae,dcgan", "--max-steps", "3", "--skip-classic")
    assert set(out["families"]) == {"vae", "dcgan"}
    for family, res in out["families"].items():
        assert res["eager"]["stepper"] == "eager", family
        assert res["eager"]["s_per_epoch"] > 0
        assert res["steps_timed"] == 3
        assert "skipped" in res["captured"]  # no CUDA graph on a CPU, and none claimed
        assert "classic" not in res
    assert out["families"]["vae"]["batch_size"] == 128
    assert math.isfinite(out["families"]["vae"]["eager"]["test_loss"])
    assert "cuda graph" not in json.dumps(out)


def test_busy_times_both_thread_counts_and_kills_its_competitor():
    from models.training.threads import default_threads

    out = _run("--families", "vae", "--max-steps", "2", "--skip-classic", "--busy")
    busy = out["busy_cpu"]
    assert set(busy["threads"]) == {str(default_threads()), "2"}
    assert all(r["vae"]["stepper"] == "eager" and r["vae"]["s_per_epoch"] > 0 for r in busy["threads"].values())
    pid = busy["competing_process_pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    os.kill(pid, 9)  # don't leave it spinning on a shared machine
    raise AssertionError(f"the competing busy process {pid} outlived the benchmark")


def test_mnist_is_read_without_the_cache_folder_package():
    """GPU machines may lack platformdirs (which the MNIST loader's cache lookup imports): the
    benchmarks still time MNIST there, not the random stand-in."""
    from models.data import load_dataset

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import train_speed
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    folder = train_speed.default_mnist_dir()
    if not all((folder / name).is_file() for name in train_speed.MNIST_FILES):
        pytest.skip(f"no MNIST files at {folder}")
    code = ("import sys; sys.modules['platformdirs'] = None; sys.path.insert(0, 'benchmarks'); import train_speed; "
            f"d, s = train_speed.load_mnist_or_standin(train_speed.Path({str(folder)!r})); "
            "print(s); print(len(d.train), len(d.test), int(d.train.images.sum()), int(d.test.labels.sum()))")
    proc = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    source, figures = proc.stdout.strip().splitlines()
    assert source.startswith("mnist")
    ref = load_dataset("mnist", folder, download=False)
    assert figures.split() == [str(len(ref.train)), str(len(ref.test)), str(int(ref.train.images.sum())),
                               str(int(ref.test.labels.sum()))]
