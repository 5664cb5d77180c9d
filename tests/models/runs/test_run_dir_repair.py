"""What a run folder survives: a metrics line cut short by a crash or a full disk, and the
temporary file a checkpoint write killed midway leaves behind. Every damaged file here is
made by the test itself."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.runs.run_dir import RunDir


def _run_with_metrics(tmp_path: Path, steps=(5, 10, 15)) -> RunDir:
    run = RunDir(tmp_path / "run").create()
    for s in steps:
        run.append_metrics({"step": s, "total": 1.0 / s})
    return run


def _lines(run: RunDir) -> list[str]:
    text = run.metrics_path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return text.splitlines()


@pytest.mark.parametrize("damage", [
    b'{"step": 20, "tot',  # the process died inside the write
    b'\x00' * 37,  # a filesystem after a power cut: the file's new length, zeros for its data
    b'{"step": 20, "total": 0.0\xff\xfe',  # not even UTF-8
], ids=["cut mid-write", "zeros after a power cut", "not UTF-8"])
def test_a_cut_last_metrics_line_is_dropped_before_the_next_record(tmp_path, damage):
    run = _run_with_metrics(tmp_path)
    with open(run.metrics_path, "ab") as f:
        f.write(damage)
    assert [r["step"] for r in run.read_metrics()] == [5, 10, 15]  # reading never fails on it
    run.open_for_appending()
    run.append_metrics({"step": 20, "total": 0.05})
    lines = _lines(run)
    assert [json.loads(line)["step"] for line in lines] == [5, 10, 15, 20]  # every line a whole record


def test_a_last_record_that_lost_only_its_newline_is_kept(tmp_path):
    run = _run_with_metrics(tmp_path)
    run.metrics_path.write_bytes(run.metrics_path.read_bytes().rstrip(b"\n"))
    run.open_for_appending().append_metrics({"step": 20})
    assert [json.loads(line)["step"] for line in _lines(run)] == [5, 10, 15, 20]


def test_a_whole_but_unreadable_last_line_is_dropped_too(tmp_path):
    run = _run_with_metrics(tmp_path)
    with open(run.metrics_path, "ab") as f:
        f.write(b"garbage\n")
    run.open_for_appending().append_metrics({"step": 20})
    assert [json.loads(line)["step"] for line in _lines(run)] == [5, 10, 15, 20]


def test_a_sound_metrics_file_is_left_as_it_is(tmp_path):
    run = _run_with_metrics(tmp_path)
    before = run.metrics_path.read_bytes()
    run.open_for_appending()
    assert run.metrics_path.read_bytes() == before
    empty = RunDir(tmp_path / "empty").create()
    empty.metrics_path.write_bytes(b"")
    empty.open_for_appending()
    assert empty.metrics_path.read_bytes() == b"" and empty.read_metrics() == []
    fresh = RunDir(tmp_path / "fresh").open_for_appending()
    assert not fresh.metrics_path.exists() and fresh.checkpoints.is_dir() and fresh.samples.is_dir()


def test_the_cut_line_of_a_long_file_is_found_from_its_end(tmp_path):
    """Thousands of records (more than the 64 KiB read from the end at a time), then a cut one."""
    run = _run_with_metrics(tmp_path, steps=range(1, 3001))
    big_record = {"step": 3001, **{f"term_{i}": 0.123456789 for i in range(3000)}}  # one line over 64 KiB
    run.append_metrics(big_record)
    with open(run.metrics_path, "ab") as f:
        f.write(json.dumps({"step": 3002, "x": "y" * 100_000}).encode()[:90_000])
    run.open_for_appending()
    records = run.read_metrics()
    assert len(records) == 3001 and records[-1] == big_record
    assert run.metrics_path.read_bytes().endswith(b"\n")


def test_read_metrics_skips_damaged_lines_anywhere(tmp_path):
    run = _run_with_metrics(tmp_path, steps=(5,))
    with open(run.metrics_path, "ab") as f:
        f.write(b'{"step": 7, "to\n\xff\xfe\x00\n[1, 2]\n3\n\n{"step": 10}\n')
    assert run.read_metrics() == [{"step": 5, "total": 0.2}, {"step": 10}]


def _age(path: Path, seconds: float = 3600) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_stale_temp_files_of_the_apps_own_naming_are_removed_at_the_next_start(tmp_path):
    run = RunDir(tmp_path / "run").create()
    stale = [run.checkpoints / ".latest.safetensors.k2x_9q0a.tmp", run.samples / ".step_00000100.png.abcdefgh.tmp",
             run.path / ".config.json.zz00zz00.tmp"]
    fresh = run.checkpoints / ".best.safetensors.live1234.tmp"  # another process may be writing it now
    others = [run.checkpoints / ".notes.tmp", run.checkpoints / "mine.abcdefgh.tmp", run.path / "keep.txt",
              run.checkpoints / ".latest.safetensors.toolongname.tmp", run.samples / ".x.abcdefgh.tmp.bak"]
    for p in [*stale, fresh, *others]:
        p.write_bytes(b"x" * 100)
    for p in [*stale, *others]:
        _age(p)
    folder_like_a_temp = run.checkpoints / ".dir.abcdefgh.tmp"
    folder_like_a_temp.mkdir()
    _age(folder_like_a_temp)
    run.open_for_appending()
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and all(p.exists() for p in others) and folder_like_a_temp.is_dir()


def test_remove_stale_temp_files_of_a_missing_folder_is_a_no_op(tmp_path):
    from models.io.atomic import remove_stale_temp_files

    assert remove_stale_temp_files(tmp_path / "nowhere") == []


_KILLED_MID_SAVE = """
import os, signal, sys
import torch
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint

path = sys.argv[1]
model = build_model("vae", latent_dim=3, hidden=16)
save_checkpoint(path, model, {"step": 1})
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # dies with the new data written, not yet renamed
save_checkpoint(path, model, {"step": 2})
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_kill_during_a_checkpoint_save_leaves_a_temp_file_the_next_run_removes(tmp_path):
    from models.runs.checkpoint import checkpoint_state

    run = RunDir(tmp_path / "run").create()
    proc = subprocess.run([sys.executable, "-c", _KILLED_MID_SAVE, str(run.latest)], capture_output=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    (left,) = [p for p in run.checkpoints.iterdir() if p.name != "latest.safetensors"]
    assert left.name.startswith(".latest.safetensors.") and left.stat().st_size == run.latest.stat().st_size
    assert checkpoint_state(run.latest)["step"] == 1  # the old checkpoint is whole
    run.open_for_appending()
    assert left.exists()  # a minute old at most: it could be a live write
    _age(left)
    run.open_for_appending()
    assert not left.exists() and checkpoint_state(run.latest)["step"] == 1
