"""Light snapshots (models.runs.snapshots, models.runs.snapshot_writer): a run keeps at most
MAX_SNAPSHOTS, denser early; each loads and decodes as the run did at its step; they are no
checkpoint; a corrupt, truncated or foreign one is refused in one line and skipped."""
from __future__ import annotations

import contextlib
import errno

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save, save_file

from models.explore.render import decode_batched
from models.families.registry import build_model
from models.runs import snapshot_writer
from models.runs.checkpoint import load_checkpoint, resolve_checkpoint_path
from models.runs.run_dir import RunDir
from models.runs.snapshot_writer import SnapshotWriter
from models.runs.snapshots import (MAX_SNAPSHOTS, SnapshotError, decoding_keys, is_snapshot_step, list_snapshots,
                                   load_snapshot, snapshot_path, steps_on_disk, thin)
from models.training.loop import TrainConfig, train


def _train(model, dataset, run, steps, every, **cfg):
    config = TrainConfig(steps=steps, batch_size=16, log_every=50, snapshot_every=every, validation_size=16,
                         device="cpu", **cfg)
    for _ in train(model, dataset, config, run=run):
        pass
    return run


def _vae():
    return build_model("vae", latent_dim=2, hidden=16)


# -- the schedule ----------------------------------------------------------------------
def _keep_adding(steps, bound):
    kept: list[int] = []
    for s in steps:
        kept.append(s)
        for old in thin(kept, bound):
            kept.remove(old)
    return kept


def test_a_long_run_keeps_the_bound_spread_on_a_log_scale():
    k, n = 10, 20_000  # a 200,000-step run snapshotted every 10 steps
    kept = _keep_adding(range(k, k * n + 1, k), MAX_SNAPSHOTS)
    assert len(kept) == MAX_SNAPSHOTS
    assert kept[0] == k and kept[-1] == k * n  # the first and the newest always stay
    # denser early: most frames lie in the first tenth of the run, and gaps grow with the step
    assert sum(s <= k * n / 10 for s in kept) > MAX_SNAPSHOTS / 2
    gaps = [b - a for a, b in zip(kept, kept[1:])]
    assert max(gaps[:10]) < min(gaps[-10:-1])
    # about even on a log scale: no ratio between neighbours (past the first few steps, which
    # are whole multiples of k) far above the even spacing's
    even = n ** (1 / (MAX_SNAPSHOTS - 1))
    assert max(b / a for a, b in zip(kept[10:], kept[11:])) < 1.5 * even


def test_snapshots_are_taken_every_k_steps_and_at_powers_of_two_before():
    assert [s for s in range(1, 5001) if is_snapshot_step(s, 1000)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
                                                                         1000, 2000, 3000, 4000, 5000]
    assert [s for s in range(1, 13) if is_snapshot_step(s, 1)] == list(range(1, 13))
    assert not any(is_snapshot_step(s, 0) for s in range(0, 100))


def test_thinning_keeps_early_steps_on_a_tie_and_nothing_under_the_bound():
    assert thin([1, 2, 4, 8], 4) == []
    assert thin([1, 2, 4, 8], 3) == [4]  # 4/1 == 8/2: the later one goes
    with pytest.raises(ValueError):
        thin([1, 2, 3], 1)


# -- a run writes them -----------------------------------------------------------------
def test_a_tiny_run_keeps_the_bound_denser_early_and_each_decodes_as_the_run_did(tmp_path, tiny_dataset):
    run = _train(_vae(), tiny_dataset, RunDir(tmp_path / "run"), steps=240, every=3)
    on_disk = steps_on_disk(run.snapshots)
    assert len(on_disk) == MAX_SNAPSHOTS  # 82 offered: 1, 2, then every 3 steps
    assert on_disk[:4] == [1, 2, 3, 6] and on_disk[-1] == 240
    gaps = [b - a for a, b in zip(on_disk, on_disk[1:])]
    assert gaps[-1] > 3 and sum(s <= 120 for s in on_disk) > sum(s > 120 for s in on_disk)
    assert not [p for p in run.snapshots.iterdir() if not p.name.startswith("step_")]  # no temp file left

    index = list_snapshots(run.path)
    assert [s.step for s in index.snapshots] == on_disk and not index.problems and index.note is None
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    images = [decode_batched(load_snapshot(s.path).model, z) for s in index.snapshots]
    assert not torch.equal(images[0], images[-1])
    assert sum(not torch.equal(a, b) for a, b in zip(images, images[1:])) >= len(images) - 5
    # the last one is the decoder the run ended with
    final = load_checkpoint(run.latest).model
    assert torch.equal(images[-1], decode_batched(final, z))
    # no checkpoint: best/latest logic never looks in snapshots/
    assert resolve_checkpoint_path(run.path).parent == run.checkpoints


def test_a_gan_snapshot_holds_its_weight_average_and_decodes_with_it(tmp_path, tiny_dataset):
    model = build_model("gan", z_dim=4, g_hidden=(16,), d_hidden=(16,))
    run = _train(model, tiny_dataset, RunDir(tmp_path / "gan"), steps=6, every=3)
    (last,) = [s for s in list_snapshots(run.path).snapshots if s.step == 6]
    with safe_open(str(last.path), "pt") as f:
        names = set(f.keys())
        assert f.metadata()["snapshot"] == "decode"
    assert names == set(decoding_keys(model)) and all(k.startswith("generator_ema.") for k in names)
    z = torch.randn(4, 4)
    assert torch.equal(decode_batched(load_snapshot(last.path).model, z), decode_batched(model, z))


def test_a_short_run_has_its_early_steps_and_its_end(tmp_path, tiny_dataset):
    run = _train(_vae(), tiny_dataset, RunDir(tmp_path / "short"), steps=13, every=10)
    assert steps_on_disk(run.snapshots) == [1, 2, 4, 8, 10, 13]


def test_snapshot_every_0_writes_none_and_a_run_without_them_says_so(tmp_path, tiny_dataset):
    run = _train(_vae(), tiny_dataset, RunDir(tmp_path / "old"), steps=4, every=0)
    assert not run.snapshots.exists()
    index = list_snapshots(run.path)
    assert index.snapshots == [] and "has no training snapshots" in index.note


def test_a_continued_run_thins_the_snapshots_of_its_earlier_session(tmp_path):
    run = RunDir(tmp_path / "run").create()
    model = _vae()
    with SnapshotWriter(run, model, {"train_config": {"batch_size": 4, "log_every": 1}}, every=1, bound=5) as w:
        for step in range(1, 9):
            w.submit(step, 0.0, 0.0)
    assert steps_on_disk(run.snapshots) == _keep_adding(range(1, 9), 5)
    with SnapshotWriter(run, model, {"train_config": {"batch_size": 4, "log_every": 1}}, every=1, bound=5) as w:
        for step in range(9, 30):
            w.submit(step, 0.0, 0.0)
    assert steps_on_disk(run.snapshots) == _keep_adding(range(1, 30), 5)


def test_a_failed_write_is_raised_on_the_training_thread(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run").create()

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(snapshot_writer, "atomic_write_bytes", full)
    state = {"train_config": {"batch_size": 4, "log_every": 1}}
    w = SnapshotWriter(run, _vae(), state, every=1)
    with pytest.raises(SnapshotError, match="could not write snapshot .*No space left"):
        for step in range(1, snapshot_writer.MAX_IN_FLIGHT + 2):  # a later submit, at the latest when the queue is full
            w.submit(step, 0.0, 0.0)
    with contextlib.suppress(SnapshotError):  # the writes queued behind it failed too
        w.close()
    w = SnapshotWriter(run, _vae(), state, every=1)
    w.submit(1, 0.0, 0.0)
    with pytest.raises(SnapshotError, match="No space left"):
        w.close()  # the end of a run: the loop's flush or close


# -- reading what is not a good snapshot -------------------------------------------------
@pytest.fixture
def snapshot_run(tmp_path, tiny_dataset):
    return _train(_vae(), tiny_dataset, RunDir(tmp_path / "run"), steps=9, every=3)


def test_a_truncated_snapshot_is_skipped_with_one_line(snapshot_run):
    bad = snapshot_path(snapshot_run.snapshots, 6)
    bad.write_bytes(bad.read_bytes()[:-100])
    index = list_snapshots(snapshot_run.path)
    assert [s.step for s in index.snapshots] == [1, 2, 3, 9]
    (line,) = index.problems
    assert line.startswith("step_00000006.safetensors") and "truncated" in line and "\n" not in line


def _rewritten(path, drop: str | None = None, add: dict | None = None, meta: dict | None = None):
    with safe_open(str(path), "pt") as f:
        m = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys() if k != drop}
    tensors.update(add or {})
    path.write_bytes(save(tensors, metadata={**m, **(meta or {})}))
    return path


@pytest.mark.parametrize("damage, message", [
    (lambda p: save_file({"w": torch.zeros(3)}, str(p)), "not a Latent Explorer checkpoint"),
    (lambda p: _rewritten(p, drop="decoder.net.0.weight"), "lacks what decoding needs"),
    (lambda p: _rewritten(p, add={"classifier.weight": torch.zeros(2)}), "has no place for"),
    (lambda p: _rewritten(p, add={"decoder.net.0.weight": torch.zeros(2, 2)}), "the config makes it"),
    (lambda p: _rewritten(p, meta={"model_config": "{\"latent_dim\": -4}"}), "latent_dim"),
    (lambda p: p.write_bytes(b"\x00" * 64), "not a readable checkpoint"),
])
def test_a_foreign_or_damaged_snapshot_is_refused_in_one_line_naming_it(snapshot_run, damage, message):
    path = snapshot_path(snapshot_run.snapshots, 6)
    keys = decoding_keys(_vae())
    assert "decoder.net.0.weight" in keys  # the tensor the cases above remove or reshape
    damage(path)
    with pytest.raises(SnapshotError, match=message) as info:
        load_snapshot(path)
    assert str(info.value).startswith(path.name) or path.name in str(info.value)
    index = list_snapshots(snapshot_run.path)
    assert [s.step for s in index.snapshots] == [1, 2, 3, 9] and len(index.problems) == 1


def test_a_snapshot_loads_only_into_a_model_of_its_config(snapshot_run):
    (first, *_) = list_snapshots(snapshot_run.path).snapshots
    with pytest.raises(SnapshotError, match="another vae config"):
        load_snapshot(first.path, into=build_model("vae", latent_dim=2, hidden=32))
    same = _vae()
    assert load_snapshot(first.path, into=same).model is same
