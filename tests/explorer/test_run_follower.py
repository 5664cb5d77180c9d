"""Following a run that another process is writing (explorer.run_follower.RunFollower): with
a real training process writing the folder, every metrics record arrives once and in order,
sample grids and checkpoints are announced, the loaded checkpoint is the final one, a
checkpoint corrupt for a moment is skipped without a word, and the status ends "run
finished"; a half-written line, a truncated file, polling without a watcher, a checkpoint
that stays broken, a quiet run, Reload now, and stop() leaving nothing running."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PySide6.QtWidgets import QApplication
from safetensors import safe_open
from safetensors.torch import save_file

from explorer.jobs import live_threads
from explorer.run_follower import RunFollower, age_text, apply_checkpoint, status_text
from explorer.state import ModelState
from models.families.registry import build_model
from models.io.atomic import atomic_write_bytes
from models.runs import watch as watch_module
from models.runs.checkpoint import load_checkpoint, save_checkpoint
from models.runs.checkpoint_header import CheckpointError
from models.runs.run_dir import RunDir

ROOT = Path(__file__).resolve().parents[2]

#: a training process at a walking pace (so a follower sees it mid-run): tiny VAE, tiny data,
#: a pause after each logged step; after step ``corrupt_at`` it puts an unreadable file in
#: place of latest, which the next checkpoint replaces
WRITER = """
import sys, time, torch
from models.data.base import Dataset, TensorSplit
from models.families.registry import build_model
from models.io.atomic import atomic_write_bytes
from models.runs.run_dir import RunDir
from models.training.loop import TrainConfig, train
torch.set_num_threads(1)
out, steps, pause, corrupt_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
g = torch.Generator().manual_seed(0)
imgs = (torch.rand(250, 1, 28, 28, generator=g) > 0.7).to(torch.uint8) * 255
labels = torch.randint(0, 10, (250,), generator=g)
data = Dataset("tiny", TensorSplit(imgs[:200], labels[:200]), TensorSplit(imgs[200:], labels[200:]))
cfg = TrainConfig(steps=steps, batch_size=16, log_every=1, snapshot_every=5, checkpoint_every=5,
                  validation_size=16, device="cpu")
run = RunDir(out)
for m in train(build_model("vae", latent_dim=2, hidden=16), data, cfg, run=run):
    if m.step == corrupt_at:
        time.sleep(0.05)  # the checkpoint of the step before is on disk by then
        atomic_write_bytes(run.latest, b"\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\x00{}broken")
        time.sleep(0.3)  # several polls see it
    time.sleep(pause)
"""


def _writer(out: Path, steps: int, pause: float, corrupt_at: int = 0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(steps), str(pause), str(corrupt_at)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _follower(qtbot, path, **kw) -> RunFollower:
    kw.setdefault("poll_ms", 50)
    kw.setdefault("debounce_ms", 10)
    follower = RunFollower(path, **kw)
    return follower


def _collect(follower: RunFollower) -> dict[str, list]:
    got: dict[str, list] = {k: [] for k in ("records", "resets", "samples", "images", "checkpoints", "loaded",
                                            "status", "problems")}
    follower.metrics_added.connect(lambda rs: got["records"].extend(rs))
    follower.metrics_reset.connect(lambda: got["resets"].append(len(got["records"])))
    follower.samples_changed.connect(got["samples"].append)
    follower.samples_ready.connect(got["images"].append)
    follower.checkpoint_changed.connect(lambda p: got["checkpoints"].append(follower.checkpoint_step))
    follower.checkpoint_loaded.connect(got["loaded"].append)
    follower.status_changed.connect(got["status"].append)
    follower.problem.connect(got["problems"].append)
    return got


def _scan_once(qtbot, follower: RunFollower) -> None:
    """Wait for one whole look at the folder that starts after this call."""
    with qtbot.waitSignal(follower.scanned, timeout=5000):
        follower.scan_now()
    qtbot.waitUntil(lambda: not follower._scanning, timeout=5000)


def _line(step: int, loss: float = 1.0) -> bytes:
    return (json.dumps({"step": step, "seconds": step / 10, "loss": loss}) + "\n").encode()


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


# -- a run written by another process ---------------------------------------------------------
def test_a_live_run_is_followed_to_its_end(qtbot, tmp_path, monkeypatch):
    """The run folder does not even exist when following starts: the follower waits for it,
    then sees the run grow, skips the moment latest is unreadable, and loads the final weights."""
    failures = []
    real = watch_module.read_header

    def spy(path):  # the scans run in this process: count the unreadable headers they met
        try:
            return real(path)
        except CheckpointError as e:
            failures.append(str(e))
            raise

    monkeypatch.setattr(watch_module, "read_header", spy)
    out = tmp_path / "live"
    follower = _follower(qtbot, out, auto_reload=True)
    got = _collect(follower)
    follower.start()
    proc = _writer(out, steps=22, pause=0.05, corrupt_at=12)
    try:
        qtbot.waitUntil(lambda: len(got["records"]) > 0, timeout=60_000)
        assert proc.poll() is None, "the follower should see the run while it is being written"
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)  # the event loop runs meanwhile
        assert proc.returncode == 0, proc.stdout.read().decode()
        qtbot.waitUntil(lambda: follower.status.startswith("run finished") and follower.loaded_step == 22,
                        timeout=10_000)
    finally:
        proc.kill()
        follower.stop()
    run = RunDir(out)
    records = run.read_metrics()
    assert [r["step"] for r in records] == list(range(1, 23))
    assert got["records"] == records  # every record once, in order, as the file holds it
    assert got["resets"] == []
    assert got["samples"][-1] == str(run.newest_samples()) and len(got["samples"]) >= 2
    assert got["images"][-1].shape[:2] == got["images"][0].shape[:2]
    assert got["checkpoints"][-1] == 22 and got["checkpoints"] == sorted(got["checkpoints"])
    assert any("latest.safetensors" in f for f in failures), "the unreadable latest was met"
    assert got["problems"] == []  # ... and skipped without a word
    final = load_checkpoint(run.latest)
    loaded = got["loaded"][-1]
    assert loaded.train_state["step"] == 22
    for k, v in final.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v), k
    assert got["status"][-1] == "run finished (step 22)"
    assert any(s.startswith("following (last update") for s in got["status"])


def test_a_cli_run_is_followed_by_polling_alone_and_ends_finished(qtbot, tmp_path):
    """`latent-explorer train` itself, followed without a filesystem watcher (as over a network
    mount): its files are understood, and the run's end is told from them."""
    out = tmp_path / "cli"
    follower = _follower(qtbot, out, use_watcher=False)
    assert follower.watcher is None
    got = _collect(follower)
    follower.start()
    cmd = [sys.executable, "-m", "explorer.cli", "train", "--model", "vae", "--dataset", "shapes", "--image-size", "28",
           "--steps", "12", "--batch-size", "16", "--latent-dim", "2", "--hidden", "16", "--log-every", "2",
           "--snapshot-every", "6", "--checkpoint-every", "6", "--device", "cpu", "--threads", "1", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        qtbot.waitUntil(lambda: follower.status.startswith("run finished"), timeout=10_000)
    finally:
        follower.stop()
    assert [r["step"] for r in got["records"]] == [2, 4, 6, 8, 10, 12]
    assert got["checkpoints"][-1] == 12 and got["loaded"] == []  # auto reload off: nothing read
    assert follower.reload_available


# -- the metrics file --------------------------------------------------------------------------
def test_a_half_written_line_is_delivered_once_after_it_is_completed(qtbot, tmp_path):
    run = RunDir(tmp_path / "run").create()
    whole = _line(2, loss=0.25)
    _append(run.metrics_path, _line(1) + whole[:10])
    follower = _follower(qtbot, run.path)
    got = _collect(follower)
    follower.start()
    qtbot.waitUntil(lambda: len(got["records"]) == 1, timeout=5000)
    _scan_once(qtbot, follower)
    assert [r["step"] for r in got["records"]] == [1]
    _append(run.metrics_path, whole[10:])
    qtbot.waitUntil(lambda: len(got["records"]) == 2, timeout=5000)
    _scan_once(qtbot, follower)
    follower.stop()
    assert got["records"][1] == {"step": 2, "seconds": 0.2, "loss": 0.25} and len(got["records"]) == 2


def test_a_truncated_metrics_file_starts_the_history_again(qtbot, tmp_path):
    run = RunDir(tmp_path / "run").create()
    _append(run.metrics_path, b"".join(_line(s) for s in range(1, 6)))
    follower = _follower(qtbot, run.path, use_watcher=False)
    got = _collect(follower)
    follower.start()
    qtbot.waitUntil(lambda: len(got["records"]) == 5, timeout=5000)
    run.metrics_path.write_bytes(_line(1, loss=7.0))  # a new run started into the folder
    qtbot.waitUntil(lambda: len(got["records"]) == 6, timeout=5000)
    follower.stop()
    assert got["resets"] == [5] and got["records"][-1]["loss"] == 7.0


def test_polling_alone_follows_appends(qtbot, tmp_path):
    run = RunDir(tmp_path / "run").create()
    follower = _follower(qtbot, run.path, use_watcher=False)
    got = _collect(follower)
    follower.start()
    for step in range(1, 4):
        _append(run.metrics_path, _line(step))
        qtbot.waitUntil(lambda n=step: len(got["records"]) == n, timeout=5000)
    follower.stop()
    assert [r["step"] for r in got["records"]] == [1, 2, 3]


# -- checkpoints -------------------------------------------------------------------------------
def test_a_checkpoint_that_stays_broken_is_said_once_without_a_dialog(qtbot, tmp_path):
    run = RunDir(tmp_path / "run").create()
    atomic_write_bytes(run.latest, b"not a checkpoint at all")
    follower = _follower(qtbot, run.path, settle_s=0.2, auto_reload=True)
    got = _collect(follower)
    follower.start()
    qtbot.waitUntil(lambda: bool(got["problems"]), timeout=5000)
    _scan_once(qtbot, follower)
    _scan_once(qtbot, follower)
    assert QApplication.activeModalWidget() is None
    follower.stop()
    assert len(got["problems"]) == 1 and "latest.safetensors" in got["problems"][0]
    assert got["checkpoints"] == [] and got["loaded"] == []


def test_a_checkpoint_whose_weights_cannot_be_loaded_is_tried_twice_then_said(qtbot, tmp_path):
    """The header passes (so it is announced) but the tensors do not fit its config: a load
    that fails on an unchanged file is retried a poll later, then named once."""
    run = RunDir(tmp_path / "run").create()
    small, big = build_model("vae", latent_dim=2, hidden=16), build_model("vae", latent_dim=3, hidden=16)
    good = save_checkpoint(tmp_path / "good.safetensors", small, {"step": 4})
    with safe_open(str(good), framework="pt") as f:
        meta = f.metadata()
    save_file({k: v.contiguous() for k, v in big.state_dict().items()}, str(run.latest), metadata=meta)
    follower = _follower(qtbot, run.path, auto_reload=True)
    got = _collect(follower)
    follower.start()
    qtbot.waitUntil(lambda: bool(got["problems"]), timeout=5000)
    _scan_once(qtbot, follower)
    _scan_once(qtbot, follower)
    follower.stop()
    assert got["checkpoints"] == [4] and got["loaded"] == []
    assert len(got["problems"]) == 1 and got["problems"][0].startswith("Could not load the run's newest checkpoint")


def test_reload_now_loads_the_newest_checkpoint_when_auto_reload_is_off(qtbot, tmp_path):
    run = RunDir(tmp_path / "run").create()
    model = build_model("vae", latent_dim=2, hidden=16)
    save_checkpoint(run.latest, model, {"step": 3})
    follower = _follower(qtbot, run.path)
    got = _collect(follower)
    follower.start()
    qtbot.waitUntil(lambda: got["checkpoints"] == [3], timeout=5000)
    _scan_once(qtbot, follower)
    assert got["loaded"] == [] and follower.reload_available
    with qtbot.waitSignal(follower.checkpoint_loaded, timeout=5000):
        follower.reload_now()
    assert got["loaded"][0].train_state["step"] == 3 and not follower.reload_available
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    save_checkpoint(run.latest, model, {"step": 6})
    qtbot.waitUntil(lambda: got["checkpoints"] == [3, 6], timeout=5000)
    with qtbot.waitSignal(follower.checkpoint_loaded, timeout=5000):
        follower.set_auto_reload(True)  # turning it on loads the newer one at once
    follower.stop()
    loaded = got["loaded"][-1]
    assert loaded.train_state["step"] == 6
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v), k


def test_apply_checkpoint_copies_weights_in_place_for_the_same_architecture(qtbot, tmp_path):
    state = ModelState()
    model = build_model("vae", latent_dim=2, hidden=16)
    state.set_model(model, None, {"step": 1})
    newer = build_model("vae", latent_dim=2, hidden=16)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "latest.safetensors", newer, {"step": 9}))
    with qtbot.waitSignal(state.weights_updated, timeout=1000):
        assert apply_checkpoint(state, ckpt)
    assert state.model is model and state.step == 9  # same object: sliders and point stay
    for k, v in newer.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    other = load_checkpoint(save_checkpoint(tmp_path / "o.safetensors", build_model("vae", latent_dim=3, hidden=16), {}))
    with qtbot.waitSignal(state.model_changed, timeout=1000):
        assert not apply_checkpoint(state, other)
    assert state.model is other.model


# -- status and cleanup ---------------------------------------------------------------------------
def test_status_words():
    assert status_text(100.0, 97.0, None, None) == "following (last update 3 s ago)"
    assert status_text(100.0, None, None, None) == "following (nothing written yet)"
    assert status_text(1000.0, 100.0, None, 5, stale_after_s=600) == "no update for 15 min"
    assert status_text(1000.0, 100.0, "done", 40) == "run finished (step 40)"
    assert status_text(1000.0, 100.0, "stopped", 7) == "run stopped (step 7)"
    assert age_text(7385) == "2 h 3 min" and age_text(-3) == "0 s"


def test_a_run_quiet_for_long_says_so(qtbot, tmp_path):
    run = RunDir(tmp_path / "run").create()
    _append(run.metrics_path, _line(1))
    old = time.time() - 15 * 60
    os.utime(run.metrics_path, (old, old))
    follower = _follower(qtbot, run.path)
    follower.start()
    qtbot.waitUntil(lambda: follower.status.startswith("no update for 15 min"), timeout=5000)
    follower.stop()


def test_stop_leaves_no_timer_watch_or_thread(qtbot, tmp_path):
    run = RunDir(tmp_path / "run").create()
    _append(run.metrics_path, _line(1))
    follower = _follower(qtbot, run.path)
    got = _collect(follower)
    follower.start()
    qtbot.waitUntil(lambda: bool(got["records"]), timeout=5000)
    assert follower.watcher.directories()  # it was watching
    follower.stop()
    follower.stop()  # twice is fine
    assert not follower._poll.isActive() and not follower._soon.isActive()
    assert follower.watcher.files() == [] and follower.watcher.directories() == []
    assert not [t for t in live_threads() if "follow" in t]
    _append(run.metrics_path, _line(2))
    qtbot.wait(200)
    assert len(got["records"]) == 1  # stopped means stopped


@pytest.fixture(autouse=True)
def _no_leftover_followers():
    yield
    assert not [t for t in live_threads() if "follow" in t]
