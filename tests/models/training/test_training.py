import json
import threading
import time

import pytest
import torch

from models.families.registry import build_model
from models.runs.run_dir import RunDir
from models.training.device import resolve_device
from models.training.loop import TrainConfig, TrainControl, TrainingDiverged, train


def _cfg(**kw):
    base = dict(steps=40, batch_size=32, log_every=10, snapshot_every=0, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def test_short_run_lowers_the_loss_and_changes_weights(tiny_dataset):
    m = build_model("vae", latent_dim=4, hidden=64)
    before = [p.detach().clone() for p in m.parameters()]
    logs = list(train(m, tiny_dataset, _cfg(steps=60)))
    assert logs[0].terms["total"] > logs[-1].terms["total"]
    assert any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))
    assert logs[-1].event == "done" and logs[-1].step == 60


def test_metrics_are_floats_and_steps_advance(tiny_dataset):
    m = build_model("ae", latent_dim=3, hidden=16)
    events = list(train(m, tiny_dataset, _cfg(steps=20, log_every=5), keep_weights=True))
    assert [e.step for e in events if e.event == "log"][:2] == [5, 10]
    assert all(isinstance(v, float) for e in events for v in e.terms.values())
    assert events[-1].event == "done" and events[-1].weights is not None
    assert events[-1].previews["samples"].shape[1:] == (1, 28, 28)


def test_same_seed_same_result(tiny_dataset):
    def run():
        torch.manual_seed(0)
        m = build_model("vae", latent_dim=3, hidden=16)
        return [e.terms.get("total") for e in train(m, tiny_dataset, _cfg(steps=20, seed=5))]

    assert run() == run()


def test_run_folder_has_config_metrics_checkpoints_samples(tiny_dataset, tmp_path):
    m = build_model("vae", latent_dim=3, hidden=16)
    run = RunDir(tmp_path / "run")
    list(train(m, tiny_dataset, _cfg(steps=14, snapshot_every=7), run=run))  # 6 steps/epoch
    assert (run.path / "config.json").exists()
    assert run.latest.exists() and run.best.exists()
    recs = run.read_metrics()
    assert recs and {"step", "epoch", "seconds", "recon", "kl", "total"} <= set(recs[-1])
    assert list(run.samples.glob("*.png"))


def test_stop_takes_effect_quickly_and_leaves_a_checkpoint(tiny_dataset, tmp_path):
    m = build_model("vae", latent_dim=3, hidden=16)
    control = TrainControl()
    run = RunDir(tmp_path / "r")
    events = []

    def consume():
        for e in train(m, tiny_dataset, _cfg(steps=10**7, log_every=1), control, run):
            events.append(e)

    th = threading.Thread(target=consume)
    th.start()
    while not events:
        time.sleep(0.01)
    t = time.perf_counter()
    control.stop()
    th.join(5)
    # the join includes the final validation and checkpoint; the stop itself acts between steps
    assert not th.is_alive() and time.perf_counter() - t < 2.0
    assert events[-1].event == "stopped" and run.latest.exists()


def test_pause_halts_steps_and_resume_continues(tiny_dataset):
    m = build_model("ae", latent_dim=3, hidden=16)
    control = TrainControl()
    steps = []

    def consume():
        for e in train(m, tiny_dataset, _cfg(steps=10**7, log_every=1), control):
            steps.append(e.step)

    th = threading.Thread(target=consume)
    th.start()
    while len(steps) < 3:
        time.sleep(0.005)
    control.pause()
    time.sleep(0.1)  # at most one step finishes after the pause
    n = len(steps)
    time.sleep(0.3)
    assert len(steps) == n
    control.resume()
    while len(steps) < n + 3:
        time.sleep(0.005)
    control.stop()
    th.join(5)
    assert not th.is_alive()


def _spoil_loss_after(model, spoil, calls: int = 12) -> None:
    """From its ``calls + 1``-th call on, ``model.loss`` passes its terms through ``spoil``
    (12 calls: two epochs of 6 steps, so the first checkpoints are good)."""
    original, count = model.loss, {"n": 0}

    def loss(batch):
        count["n"] += 1
        t = original(batch)
        return spoil(t) if count["n"] > calls else t

    model.loss = loss


def _nan_kl(t):
    t["kl"] = t["kl"] * float("nan")
    t["total"] = t["recon"] + t["kl"]
    return t


def _huge_recon(t):  # finite, but 10^5 times what it was: an exploding run
    t["recon"] = t["recon"] * 1e5
    t["total"] = t["recon"] + t["kl"]
    return t


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny_dataset, tmp_path):
    m = build_model("vae", latent_dim=3, hidden=16)
    run = RunDir(tmp_path / "r")
    _spoil_loss_after(m, _nan_kl)
    with pytest.raises(TrainingDiverged, match="kl"):
        list(train(m, tiny_dataset, _cfg(steps=100, log_every=5), run=run))
    from models.runs.checkpoint import load_checkpoint

    good = load_checkpoint(run.latest)
    assert all(torch.isfinite(p).all() for p in good.model.parameters())
    assert good.train_state["step"] <= 12


def test_exploding_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_dataset, tmp_path):
    m = build_model("vae", latent_dim=3, hidden=16)
    run = RunDir(tmp_path / "r")
    _spoil_loss_after(m, _huge_recon)
    with pytest.raises(TrainingDiverged, match=r"'recon' exploded to .* \(first logged: "):
        list(train(m, tiny_dataset, _cfg(steps=100, log_every=5), run=run))
    from models.runs.checkpoint import load_checkpoint

    assert load_checkpoint(run.latest).train_state["step"] <= 12
    # the same growth with the check off trains on (a user's choice for odd losses)
    m2 = build_model("vae", latent_dim=3, hidden=16)
    _spoil_loss_after(m2, _huge_recon)
    logs = list(train(m2, tiny_dataset, _cfg(steps=20, log_every=5, explode_factor=0)))
    assert logs[-1].step == 20


def test_missing_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("has a GPU")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "mps")


def test_linear_lr_decay_reaches_zero_at_the_end_of_the_run(tiny_dataset, monkeypatch):
    """--lr-decay linear: every optimizer's rate falls by base/steps per step, to 0 at the
    last step; a continued run decays over its own steps from the configured rate."""
    seen: list[dict[str, float]] = []
    model = build_model("dcgan", image_shape=(1, 28, 28), z_dim=8, g_channels=4, d_channels=4, fc_hidden=16)
    real_step = model.training_step

    def recording_step(batch, optimizers):
        seen.append({k: o.param_groups[0]["lr"] for k, o in optimizers.items()})
        return real_step(batch, optimizers)

    monkeypatch.setattr(model, "training_step", recording_step)
    cfg = TrainConfig(steps=10, batch_size=20, log_every=5, snapshot_every=0, device="cpu", lr_decay="linear")
    list(train(model, tiny_dataset, cfg))
    assert seen[0] == {"discriminator": 2e-4, "generator": 1e-3}  # the first step at full rate
    for i, rates in enumerate(seen):
        assert rates["discriminator"] == pytest.approx(2e-4 * (10 - i) / 10)
        assert rates["generator"] == pytest.approx(1e-3 * (10 - i) / 10)
    seen.clear()
    list(train(model, tiny_dataset, TrainConfig(steps=4, batch_size=20, log_every=2, snapshot_every=0, device="cpu",
                                                lr_decay="linear"), start_step=10))
    assert [r["generator"] for r in seen] == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3])
    with pytest.raises(ValueError, match="lr_decay"):
        list(train(model, tiny_dataset, TrainConfig(steps=1, batch_size=20, device="cpu", lr_decay="exponential")))


def test_sample_scores_pick_a_gans_best_checkpoint(tiny_dataset, tmp_path):
    """A GAN has no held-out loss; with a sample scorer its best checkpoint is the lowest FID."""
    from models.runs.checkpoint import checkpoint_state

    fids = iter([5.0, 3.0, 4.0, 6.0])
    seen_modes: list[bool] = []

    def scorer(model):
        seen_modes.append(model.training)
        return {"sample_is": 2.0, "sample_fid": next(fids)}

    m = build_model("gan", z_dim=4, hidden=16)
    run = RunDir(tmp_path / "gan")
    out = list(train(m, tiny_dataset, _cfg(steps=21), run=run, sample_scorer=scorer))  # 6 steps per epoch
    assert seen_modes == [False] * 4  # scored in eval mode at each checkpoint: epoch ends 6, 12, 18 and the end
    assert [r.get("val_sample_fid") for r in run.read_metrics() if "val_sample_fid" in r] == [5.0, 3.0, 4.0]
    best = checkpoint_state(run.best)
    assert best["step"] == 12 and best["best_score"] == 3.0
    assert out[-1].step == 21 and out[-1].validation == {"sample_is": 2.0, "sample_fid": 6.0}


def test_without_a_scorer_a_gan_keeps_no_best_checkpoint(tiny_dataset, tmp_path):
    run = RunDir(tmp_path / "gan")
    list(train(build_model("gan", z_dim=4, hidden=16), tiny_dataset, _cfg(steps=14, checkpoint_every=7), run=run))
    assert run.latest.exists() and not run.best.exists()  # nothing to rank checkpoints by


def _sample_writes(monkeypatch) -> list[int]:
    """The steps of every sample grid written to a run folder, in order."""
    written: list[int] = []
    real = RunDir.save_samples

    def counting(self, images, step, ncol=None):
        written.append(step)
        return real(self, images, step, ncol=ncol)

    monkeypatch.setattr(RunDir, "save_samples", counting)
    return written


def test_a_run_shorter_than_a_snapshot_leaves_its_final_samples(tiny_dataset, tmp_path, monkeypatch):
    """`--steps 30` with snapshots every 1000 wrote no grid: the run browser said "No samples
    saved yet". The end of a run (done or stopped) leaves the final step's grid."""
    written = _sample_writes(monkeypatch)
    run = RunDir(tmp_path / "short")
    list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset, _cfg(steps=5, snapshot_every=1000), run=run))
    assert written == [5] and run.newest_samples() == run.samples / "step_00000005.png"


def test_the_final_samples_are_written_once_when_the_last_step_is_a_snapshot(tiny_dataset, tmp_path, monkeypatch):
    written = _sample_writes(monkeypatch)
    run = RunDir(tmp_path / "snap")
    list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset, _cfg(steps=4, snapshot_every=2), run=run))
    assert written == [2, 4]  # 6 steps per epoch: no epoch end on the way
    assert sorted(p.name for p in run.samples.glob("*.png")) == ["step_00000002.png", "step_00000004.png"]


def test_a_stopped_run_leaves_its_final_samples(tiny_dataset, tmp_path, monkeypatch):
    written = _sample_writes(monkeypatch)
    run = RunDir(tmp_path / "stopped")
    control = TrainControl()
    for m in train(build_model("ae", latent_dim=3, hidden=16), tiny_dataset, _cfg(steps=10**6, log_every=3,
                                                                                      snapshot_every=1000), control, run):
        if m.event == "log":
            control.stop()
    assert m.event == "stopped" and written == [m.step]
    assert run.newest_samples() == run.samples / f"step_{m.step:08d}.png"


def _checkpoint_writes(monkeypatch) -> list[int]:
    """The step of every checkpoint written to a run folder, in order."""
    from models.runs.checkpoint_writer import CheckpointWriter

    written: list[int] = []
    real = CheckpointWriter.submit

    def counting(self, model, state, score=None, optimizers=None):
        written.append(state["step"])
        return real(self, model, state, score=score, optimizers=optimizers)

    monkeypatch.setattr(CheckpointWriter, "submit", counting)
    return written


def test_a_dataset_smaller_than_a_batch_honours_the_snapshot_and_checkpoint_intervals(tiny_dataset, tmp_path,
                                                                                     monkeypatch):
    """Every step ends an epoch when the whole train split fits in one batch; that wrote a
    sample grid (and decoded previews) at every step whatever the snapshot interval said."""
    samples, checkpoints = _sample_writes(monkeypatch), _checkpoint_writes(monkeypatch)
    run = RunDir(tmp_path / "tiny")
    events = list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset,
                        _cfg(steps=25, batch_size=256, log_every=5, snapshot_every=10, checkpoint_every=10), run=run))
    assert samples == [10, 20, 25]  # the final step leaves its grid once
    assert checkpoints == [10, 20, 25]
    assert sorted(p.name for p in run.samples.glob("*.png")) == [f"step_{s:08d}.png" for s in (10, 20, 25)]
    assert [e.step for e in events if e.previews is not None] == [10, 20, 25]
    assert all(e.weights is None and e.previews is None for e in events if e.event == "epoch")


def test_epoch_ends_still_validate_and_checkpoint_by_default(tiny_dataset, tmp_path, monkeypatch):
    samples, checkpoints = _sample_writes(monkeypatch), _checkpoint_writes(monkeypatch)
    run = RunDir(tmp_path / "epochs")
    events = list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset,
                        _cfg(steps=14, log_every=7, snapshot_every=0), run=run))  # 6 steps per epoch
    assert checkpoints == [6, 12, 14] and samples == [14]
    assert [e.step for e in events if e.event == "epoch"] == [6, 12]
    assert all(e.validation for e in events if e.event == "epoch")


def test_a_run_continued_after_a_crash_mid_line_keeps_every_record_whole(tiny_dataset, tmp_path):
    model = build_model("vae", latent_dim=3, hidden=16)
    run = RunDir(tmp_path / "run")
    list(train(model, tiny_dataset, _cfg(steps=12, log_every=4), run=run))
    with open(run.metrics_path, "ab") as f:
        f.write(b'{"step": 16, "epoch": 2.66, "seco')  # the crash: a record half written
    list(train(model, tiny_dataset, _cfg(steps=8, log_every=4), run=RunDir(run.path), start_step=12))
    lines = run.metrics_path.read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [4, 6, 8, 12, 16, 18, 20]


def test_a_run_start_clears_temp_files_a_killed_save_left(tiny_dataset, tmp_path):
    import os

    run = RunDir(tmp_path / "run").create()
    left = run.checkpoints / ".latest.safetensors.q1w2e3r4.tmp"
    left.write_bytes(b"\0" * 1000)
    os.utime(left, (time.time() - 120, time.time() - 120))
    list(train(build_model("ae", latent_dim=3, hidden=16), tiny_dataset, _cfg(steps=2, log_every=1), run=run))
    assert not left.exists() and run.latest.exists()


def _slow_checkpoint_writes(monkeypatch, seconds: float = 0.3) -> None:
    """Every background checkpoint write takes ``seconds`` longer: a loop that handed out a
    checkpoint's path without waiting for its write would point at no file, or an older one."""
    from models.runs import checkpoint_writer

    real = checkpoint_writer.write_checkpoint_file

    def slow(path, data):
        time.sleep(seconds)
        real(path, data)

    monkeypatch.setattr(checkpoint_writer, "write_checkpoint_file", slow)


def test_the_final_checkpoint_is_on_disk_when_its_event_arrives(tiny_dataset, tmp_path, monkeypatch):
    from models.runs.checkpoint import load_checkpoint

    _slow_checkpoint_writes(monkeypatch)
    run = RunDir(tmp_path / "r")
    for m in train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset, _cfg(steps=8, log_every=4), run=run):
        if m.event == "done":  # 6 steps per epoch: checkpoints at 6 and at the end, 8
            assert m.checkpoint == str(run.latest)
            assert load_checkpoint(m.checkpoint).train_state["step"] == 8
    assert m.event == "done"


def test_a_diverged_run_names_a_checkpoint_that_is_on_disk(tiny_dataset, tmp_path, monkeypatch):
    from models.runs.checkpoint import load_checkpoint

    _slow_checkpoint_writes(monkeypatch)
    m = build_model("vae", latent_dim=3, hidden=16)
    run = RunDir(tmp_path / "r")
    _spoil_loss_after(m, _nan_kl, calls=13)  # steps 1-12 and the validation at step 6 are good
    with pytest.raises(TrainingDiverged) as info:
        list(train(m, tiny_dataset, _cfg(steps=100, log_every=5), run=run))
    assert f"The last good checkpoint is {run.latest}." in str(info.value)
    good = load_checkpoint(run.latest)  # the step-12 write was still in flight when the NaN was logged
    assert good.train_state["step"] == 12 and all(torch.isfinite(p).all() for p in good.model.parameters())


@pytest.mark.parametrize("steps", [14, 4], ids=["raised at the next checkpoint", "raised at the end"])
def test_a_checkpoint_that_could_not_be_written_stops_the_run(tiny_dataset, tmp_path, monkeypatch, steps):
    from models.runs import checkpoint_writer
    from models.runs.checkpoint import CheckpointError

    def full_disk(path, data):
        raise CheckpointError(f"could not write checkpoint {path}: No space left on device")

    monkeypatch.setattr(checkpoint_writer, "write_checkpoint_file", full_disk)
    events = []
    with pytest.raises(CheckpointError, match="No space left"):
        for e in train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset, _cfg(steps=steps, log_every=2),
                       run=RunDir(tmp_path / "r")):
            events.append(e)
    assert not any(e.event in ("done", "stopped") for e in events)  # no end reported over a lost checkpoint


def test_a_reader_never_sees_a_partial_checkpoint(tiny_dataset, tmp_path):
    from models.runs.checkpoint import CheckpointError, load_checkpoint

    run = RunDir(tmp_path / "r")
    done, seen, errors = threading.Event(), [], []

    def poll():
        while not done.is_set():
            if run.latest.exists():
                try:
                    seen.append(load_checkpoint(run.latest).train_state["step"])
                except CheckpointError as e:
                    errors.append(e)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset,
                   _cfg(steps=30, log_every=1, checkpoint_every=1), run=run))
    finally:
        done.set()
        reader.join(10)
    assert seen and not errors
    assert seen == sorted(seen)  # one write at a time, in order


def test_weights_are_copied_to_the_cpu_only_when_asked(tiny_dataset):
    events = list(train(build_model("ae", latent_dim=3, hidden=16), tiny_dataset, _cfg(steps=12, snapshot_every=4)))
    assert [e.step for e in events if e.previews is not None] == [4, 8, 12, 12]  # snapshots, and the end
    assert all(e.weights is None for e in events)
    model = build_model("ae", latent_dim=3, hidden=16)
    kept = list(train(model, tiny_dataset, _cfg(steps=12, snapshot_every=4), keep_weights=True))
    assert [e.step for e in kept if e.weights is not None] == [4, 8, 12, 12]
    assert all(torch.equal(v, model.state_dict()[k]) and v.device.type == "cpu" for k, v in kept[-1].weights.items())


def test_on_start_names_the_step_once_before_the_first_step(tiny_dataset, monkeypatch):
    calls: list[str] = []
    model = build_model("ae", latent_dim=3, hidden=16)
    real_step = model.training_step

    def step(batch, optimizers):
        calls.append("step")
        return real_step(batch, optimizers)

    monkeypatch.setattr(model, "training_step", step)
    events = list(train(model, tiny_dataset, _cfg(steps=3, log_every=1), on_start=calls.append))
    assert calls == ["eager", "step", "step", "step"]
    assert {e.stepper for e in events} == {"eager"}


def test_a_tensor_learning_rate_decays_in_place_and_is_saved_as_a_number(tiny_dataset, tmp_path, monkeypatch):
    """A captured step keeps each group's rate as a tensor its kernel reads at every replay:
    the decay must refill that very tensor (a new float would never reach the graph)."""
    from models.training import loop
    from models.runs.checkpoint import load_checkpoint

    real_make_step = loop.make_step
    rates: list[torch.Tensor] = []

    def with_tensor_rates(model, optimizers, split, cfg, world):
        for opt in optimizers.values():
            for g in opt.param_groups:
                g["lr"] = torch.tensor(float(g["lr"]))
                rates.append(g["lr"])
        return real_make_step(model, optimizers, split, cfg, world)

    monkeypatch.setattr(loop, "make_step", with_tensor_rates)
    seen: list[float] = []
    model = build_model("ae", latent_dim=3, hidden=16)
    real_step = model.training_step

    def recording_step(batch, optimizers):
        seen.append(float(optimizers["model"].param_groups[0]["lr"]))
        return real_step(batch, optimizers)

    monkeypatch.setattr(model, "training_step", recording_step)
    run = RunDir(tmp_path / "r")
    list(train(model, tiny_dataset, _cfg(steps=4, log_every=2, lr_decay="linear"), run=run))
    base = model.config.lr
    assert seen == pytest.approx([base, 0.75 * base, 0.5 * base, 0.25 * base])
    assert rates and float(rates[0]) == 0.0  # the same tensor, filled to the end rate
    saved = load_checkpoint(run.latest).optimizer_state["model"]["param_groups"][0]["lr"]
    assert type(saved) is float and saved == 0.0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_captured_run_with_a_decaying_rate_leaves_a_whole_checkpoint(tiny_dataset, tmp_path):
    """On CUDA the whole run: the captured step with device-tensor rates, checkpoints copied
    to pinned memory and written in the background, one validation read per epoch."""
    from models.runs.checkpoint import load_checkpoint

    run = RunDir(tmp_path / "cuda")
    names: list[str] = []
    events = list(train(build_model("vae", latent_dim=3, hidden=16), tiny_dataset,
                        _cfg(steps=14, log_every=7, device="cuda", lr_decay="linear"), run=run, on_start=names.append))
    assert names == ["cuda graph"] and events[-1].stepper == "cuda graph"
    saved = load_checkpoint(events[-1].checkpoint)
    assert saved.train_state["step"] == 14
    assert all(torch.isfinite(p).all() for p in saved.model.parameters())
    assert saved.optimizer_state["model"]["param_groups"][0]["lr"] == 0.0  # decayed to the end, as a number
