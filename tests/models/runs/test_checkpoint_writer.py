"""The background checkpoint writer (models.runs.checkpoint_writer): the files RunDir.save
writes, snapshotted when submitted, one write at a time, and every failure reported."""
from __future__ import annotations

import os
import threading

import pytest
import torch

from models.families.registry import build_model
from models.runs import checkpoint_writer
from models.runs.checkpoint import CheckpointError, checkpoint_bytes, checkpoint_state, load_checkpoint
from models.runs.checkpoint_writer import CheckpointWriter
from models.runs.run_dir import RunDir


def _trained():
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2, hidden=8, image_shape=(1, 28, 28))
    optimizers = model.configure_optimizers()
    model.training_step(torch.rand(4, 1, 28, 28), optimizers)
    return model, optimizers


def _gate(monkeypatch) -> threading.Event:
    """Hold every background write until the returned event is set."""
    gate, real = threading.Event(), checkpoint_writer.write_checkpoint_file

    def held(path, data):
        assert gate.wait(10), "the test never released the write"
        real(path, data)

    monkeypatch.setattr(checkpoint_writer, "write_checkpoint_file", held)
    return gate


def _contents(data: bytes) -> tuple[dict, dict]:
    """A safetensors file's metadata and tensors (its bytes vary: the header's key order does)."""
    import json

    from safetensors.torch import load

    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    return {k: json.loads(v) if v[:1] in "{[" else v for k, v in meta.items()}, load(data)


def _same_file(a: bytes, b: bytes) -> bool:
    (meta_a, tensors_a), (meta_b, tensors_b) = _contents(a), _contents(b)
    return meta_a == meta_b and tensors_a.keys() == tensors_b.keys() and all(
        tensors_a[k].dtype == tensors_b[k].dtype and torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)


def _full_disk(monkeypatch) -> None:
    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


def test_it_writes_the_bytes_run_dir_save_writes(tmp_path):
    model, optimizers = _trained()
    state = {"step": 3, "epoch": 0.5, "validation": {"total": 1.5}}
    run = RunDir(tmp_path / "run").create()
    with CheckpointWriter(run) as writer:
        assert writer.submit(model, state, score=1.5, optimizers=optimizers) == run.latest
    assert _same_file(run.latest.read_bytes(), checkpoint_bytes(model, state, optimizers))
    assert _same_file(run.best.read_bytes(), checkpoint_bytes(model, {**state, "best_score": 1.5}))  # weights only
    assert load_checkpoint(run.latest).optimizer_state["model"]["state"]


def test_the_file_holds_the_weights_of_the_moment_of_submit(tmp_path, monkeypatch):
    gate = _gate(monkeypatch)
    model, optimizers = _trained()
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    run = RunDir(tmp_path / "run").create()
    with CheckpointWriter(run) as writer:
        writer.submit(model, {"step": 1}, optimizers=optimizers)
        assert writer.busy
        model.training_step(torch.rand(4, 1, 28, 28), optimizers)  # training goes on meanwhile
        gate.set()
    saved = load_checkpoint(run.latest).model.state_dict()
    assert all(torch.equal(saved[k], v) for k, v in expected.items())
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in expected.items())


def test_one_write_at_a_time(tmp_path, monkeypatch):
    """A second checkpoint waits for the first write: its buffers are the first's."""
    gate = _gate(monkeypatch)
    model, optimizers = _trained()
    run = RunDir(tmp_path / "run").create()
    writer = CheckpointWriter(run)
    writer.submit(model, {"step": 1}, optimizers=optimizers)
    second = threading.Thread(target=writer.submit, args=(model, {"step": 2}), kwargs={"optimizers": optimizers})
    second.start()
    second.join(0.3)
    assert second.is_alive()  # held behind the first write
    gate.set()
    second.join(10)
    assert not second.is_alive()
    writer.close()
    assert checkpoint_state(run.latest)["step"] == 2


def test_best_is_decided_when_submitted(tmp_path):
    model, _ = _trained()
    run = RunDir(tmp_path / "run").create()
    with CheckpointWriter(run) as writer:
        for step, score in [(1, 2.0), (2, 1.0), (3, 3.0), (4, None)]:
            writer.submit(model, {"step": step}, score=score)
            assert run.best_score == min(s for s in (2.0, 1.0, 3.0)[:step] if s is not None)
    assert checkpoint_state(run.best)["step"] == 2 and checkpoint_state(run.latest)["step"] == 4


def test_a_failed_write_is_raised_at_the_next_submit_and_keeps_the_old_file(tmp_path, monkeypatch):
    model, optimizers = _trained()
    run = RunDir(tmp_path / "run").create()
    writer = CheckpointWriter(run)
    writer.submit(model, {"step": 1}, optimizers=optimizers)
    writer.flush()
    before = run.latest.read_bytes()
    _full_disk(monkeypatch)
    writer.submit(model, {"step": 2}, optimizers=optimizers)  # fails in the background
    with pytest.raises(CheckpointError, match="No space left"):
        writer.submit(model, {"step": 3}, optimizers=optimizers)
    assert run.latest.read_bytes() == before
    assert not [p for p in run.checkpoints.iterdir() if p.name.endswith(".tmp")]
    writer.close()


def test_a_failed_write_is_raised_by_flush_and_by_close(tmp_path, monkeypatch):
    model, _ = _trained()
    _full_disk(monkeypatch)
    writer = CheckpointWriter(RunDir(tmp_path / "a").create())
    writer.submit(model, {"step": 1})
    with pytest.raises(CheckpointError, match="No space left"):
        writer.flush()
    writer.flush()  # reported once
    writer.submit(model, {"step": 2})
    with pytest.raises(CheckpointError, match="No space left"):
        writer.close()


def test_a_failed_write_is_noted_on_an_error_already_on_its_way(tmp_path, monkeypatch):
    model, _ = _trained()
    _full_disk(monkeypatch)
    with pytest.raises(KeyError) as info:
        with CheckpointWriter(RunDir(tmp_path / "a").create()) as writer:
            writer.submit(model, {"step": 1})
            raise KeyError("the training step's own failure")
    assert any("No space left" in note for note in info.value.__notes__)


def test_a_tensor_learning_rate_is_written_as_a_number(tmp_path):
    """A captured run keeps each group's rate as a tensor; the file must not change for it."""
    model, optimizers = _trained()
    as_float = checkpoint_bytes(model, {"step": 1}, optimizers)
    for opt in optimizers.values():
        for g in opt.param_groups:
            g["lr"] = torch.tensor(g["lr"])
    assert _same_file(checkpoint_bytes(model, {"step": 1}, optimizers), as_float)
    run = RunDir(tmp_path / "run").create()
    with CheckpointWriter(run) as writer:
        writer.submit(model, {"step": 1}, optimizers=optimizers)
    assert _same_file(run.latest.read_bytes(), as_float)
    group = load_checkpoint(run.latest).optimizer_state["model"]["param_groups"][0]
    assert type(group["lr"]) is float


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda_the_snapshot_is_taken_in_stream_order(tmp_path):
    """The copies are queued, not waited for: work queued before submit reaches the file,
    work queued after it (the next step) does not; the buffers are pinned."""
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=2, hidden=8, image_shape=(1, 28, 28)).cuda()
    optimizers = model.configure_optimizers()
    model.training_step(torch.rand(4, 1, 28, 28, device="cuda"), optimizers)
    run = RunDir(tmp_path / "run").create()
    with CheckpointWriter(run) as writer:
        busy = torch.randn(4096, 4096, device="cuda")
        for _ in range(20):  # keeps the GPU busy, so what follows is still queued at submit
            busy = busy @ busy
            busy /= busy.norm()
        for p in model.parameters():
            p.data.fill_(0.5)
        writer.submit(model, {"step": 1}, optimizers=optimizers)
        assert all(b.is_pinned() for b in writer._buffers.values())
        for p in model.parameters():
            p.data.fill_(7.0)  # the next step, queued behind the copies
    saved = load_checkpoint(run.latest)
    assert all(torch.all(p == 0.5) for p in saved.model.parameters())
    assert type(saved.optimizer_state["model"]["param_groups"][0]["lr"]) is float
