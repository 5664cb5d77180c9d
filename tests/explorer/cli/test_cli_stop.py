"""``latent-explorer train`` stopped from outside: SIGTERM (what torchrun, schedulers and
``kill`` send) and Ctrl+C stop between steps, leave a checkpoint and exit with the shell's
code for the signal (143, 130), so a stopped run never passes for a finished one."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.cli import main
from models.runs.checkpoint import checkpoint_state

REPO = Path(__file__).resolve().parents[3]


def _image_folder(root: Path, n: int = 24) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / f"{i:02d}.png")
    return root


def _train_args(data: Path, out: Path) -> list[str]:
    return ["train", "--model", "vae", "--latent-dim", "3", "--hidden", "16", "--dataset", "folder",
            "--data-dir", str(data), "--image-size", "28", "--batch-size", "8", "--log-every", "5",
            "--steps", "100000", "--out", str(out)]


def _metrics_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_training_with_a_checkpoint_and_exit_code_143(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "explorer.cli", *_train_args(_image_folder(tmp_path / "imgs"), run)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO, env=env)
    watchdog = threading.Timer(180, proc.kill)  # never hang the suite
    watchdog.start()
    try:
        lines = []
        for line in proc.stderr:  # the first log line: training is under way
            lines.append(line)
            if line.startswith("step "):
                break
        assert lines and lines[-1].startswith("step "), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        rc = proc.wait()
    finally:
        watchdog.cancel()
    assert rc == 143, "".join(lines) + rest
    assert "stopped: " in rest and "latest.safetensors" in rest
    step = checkpoint_state(run / "checkpoints" / "latest.safetensors")["step"]
    assert step > 0
    logged = _metrics_steps(run)
    assert logged and logged[-1] <= step

    assert main(["train", "--resume", str(run), "--steps", "10"]) == 0
    steps = _metrics_steps(run)
    assert len(steps) == len(set(steps)) and steps == sorted(steps)  # no step logged twice
    assert steps[-1] == step + 10 == checkpoint_state(run / "checkpoints" / "latest.safetensors")["step"]


def test_ctrl_c_stops_training_with_exit_code_130(tmp_path, capsys):
    run = tmp_path / "run"
    returned = threading.Event()

    def interrupt_once_training_logs() -> None:
        deadline = time.monotonic() + 120
        while not returned.is_set() and time.monotonic() < deadline:
            if (run / "metrics.jsonl").exists():
                os.kill(os.getpid(), signal.SIGINT)  # handled in the main thread, by train's handler
                return
            time.sleep(0.01)

    previous = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=interrupt_once_training_logs, daemon=True)
    t.start()
    try:
        rc = main(_train_args(_image_folder(tmp_path / "imgs"), run))
    finally:
        returned.set()
        t.join()
    assert rc == 130
    assert "stopped: " in capsys.readouterr().err
    assert checkpoint_state(run / "checkpoints" / "latest.safetensors")["step"] > 0
    assert signal.getsignal(signal.SIGINT) is previous  # the handlers are put back


def test_a_run_that_reaches_its_end_exits_0(tmp_path, capsys):
    args = _train_args(_image_folder(tmp_path / "imgs"), tmp_path / "run")
    args[args.index("100000")] = "6"
    assert main(args) == 0
    assert "done: 6 steps" in capsys.readouterr().err
