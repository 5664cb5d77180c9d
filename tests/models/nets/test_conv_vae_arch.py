"""The conv VAE's default net, the checkpoints made before it, and the cosine schedule it trains with."""
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from models.families.registry import build_model
from models.io.validate import check
from models.nets.autoencoder import ResidualBlock
from models.runs.checkpoint import load_checkpoint, save_checkpoint
from models.runs.checkpoint_header import TRAIN_CONFIG
from models.training.config import TrainConfig, resolve_lr_decay
from models.training.loop import train
from models.training.schedule import lr_factor

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "conv_vae"


def test_a_conv_vae_saved_before_the_residual_default_loads_and_decodes_as_it_was_built():
    """The file (made by the 32/64-channel net without residual blocks, whose config lacks
    both fields) opens as that net and gives the very images and codes it gave then."""
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert "conv_channels" not in expected["model_config"] and "res_blocks" not in expected["model_config"]
    ck = load_checkpoint(FIXTURE / "conv-vae.safetensors")
    model = ck.model.eval()
    assert (model.config.conv_channels, model.config.res_blocks) == (32, 0)
    assert not any(isinstance(m, ResidualBlock) for m in model.modules())
    z = torch.tensor(expected["latents"])
    with torch.no_grad():
        x = model.decode(z)
        mu, _ = model.encode_stats(x)
    assert x.double().flatten(1).sum(1).tolist() == pytest.approx(expected["decoded"], abs=1e-6)
    assert torch.allclose(x.flatten(1)[:, :8], torch.tensor(expected["decoded_first_pixels"]), atol=1e-7)
    assert torch.allclose(mu, torch.tensor(expected["encoded_mu"]), atol=1e-6)


def test_the_new_default_is_residual_and_round_trips(tmp_path):
    model = build_model("vae", arch="conv").eval()
    convs = [m.out_channels for m in model.encoder.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert convs == [32, 64]
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 2 and all(b.body[0].in_channels == 64 for b in blocks)  # one each side, at 7x7
    assert model.config.default_batch_size() == 64
    x = torch.rand(3, 1, 28, 28)
    mu, logvar = model.encode_stats(x)
    assert mu.shape == logvar.shape == (3, 20)
    assert model.decode(mu).shape == (3, 1, 28, 28)
    big = build_model("vae", arch="conv", image_shape=(1, 64, 64), latent_dim=4, hidden=16).eval()
    assert big.decode(torch.zeros(2, 4)).shape == (2, 1, 64, 64)
    small = build_model("vae", arch="conv", latent_dim=4, hidden=16, image_shape=(1, 16, 16)).eval()
    ck = load_checkpoint(save_checkpoint(tmp_path / "m.safetensors", small))
    assert (ck.model.config.conv_channels, ck.model.config.res_blocks) == (32, 1)
    z = torch.randn(2, 4)
    assert torch.equal(ck.model.decode(z), small.decode(z))


def test_the_mlp_vae_stays_the_classic_example():
    """784-400-20-400-784: the PyTorch example's 652,824 parameters, and its constant rate."""
    model = build_model("vae")
    assert sum(p.numel() for p in model.parameters()) == 652_824
    assert not any(isinstance(m, nn.Conv2d) for m in model.modules())
    assert resolve_lr_decay(TrainConfig(), model).lr_decay == "none"
    assert model.config.default_batch_size() is None  # the loop's 128


def test_the_conv_family_defaults_to_cosine_unless_told():
    model = build_model("vae", arch="conv", latent_dim=2, hidden=8)
    assert resolve_lr_decay(TrainConfig(), model).lr_decay == "cosine"
    assert resolve_lr_decay(TrainConfig(lr_decay="none"), model).lr_decay == "none"
    gan = build_model("dcgan", z_dim=4, g_channels=4, d_channels=4, fc_hidden=8)
    assert resolve_lr_decay(TrainConfig(), gan).lr_decay == "none"  # a family that declares nothing
    assert check(TrainConfig(lr_decay="cosine").to_dict(), TRAIN_CONFIG, "train_config")["lr_decay"] == "cosine"


def test_cosine_factor_values():
    assert lr_factor("cosine", 0, 0, 100) == 1.0
    assert lr_factor("cosine", 50, 0, 100) == pytest.approx(0.5)
    assert lr_factor("cosine", 25, 0, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor("cosine", 100, 0, 100) == pytest.approx(0.0)
    assert lr_factor("cosine", 15, 10, 20) == pytest.approx(0.5)  # a continuation spans its own steps
    with pytest.raises(ValueError, match="lr_decay"):
        lr_factor("exponential", 0, 0, 10)


def test_training_follows_the_cosine_schedule(tiny_dataset, monkeypatch):
    """Each step of a conv VAE run (no lr_decay given) runs at base * (1 + cos(pi t / T)) / 2."""
    seen: list[float] = []
    model = build_model("vae", arch="conv", latent_dim=2, hidden=8, conv_channels=4)
    real_step = model.training_step

    def recording_step(batch, optimizers):
        seen.append(optimizers["model"].param_groups[0]["lr"])
        return real_step(batch, optimizers)

    monkeypatch.setattr(model, "training_step", recording_step)
    cfg = TrainConfig(steps=8, batch_size=20, log_every=4, snapshot_every=0, device="cpu")
    list(train(model, tiny_dataset, cfg))
    assert seen == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * t / 8)) for t in range(8)])


def test_a_huge_residual_block_count_is_refused_before_any_layer_is_built(tmp_path):
    """A mistyped flag or a tampered checkpoint would otherwise build blocks for hours."""
    import time

    from models.families.registry import build_model
    from models.runs.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    t = time.perf_counter()
    with pytest.raises(ValueError, match="res_blocks must be 0 to 64"):
        build_model("vae", {"arch": "conv", "res_blocks": 2**31 - 1})
    path = save_checkpoint(tmp_path / "v.safetensors", build_model("vae", {"arch": "conv", "hidden": 16}), {"step": 1})
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    raw = path.read_bytes()
    header = raw[8:8 + header_len].decode()
    tampered = header.replace('\\"res_blocks\\": 1', '\\"res_blocks\\": 2147483647')
    assert tampered != header
    padded = tampered.encode().ljust(header_len) if len(tampered) <= header_len else tampered.encode()
    path.write_bytes(len(padded).to_bytes(8, "little") + padded + raw[8 + header_len:])
    with pytest.raises(CheckpointError, match="res_blocks"):
        load_checkpoint(path)
    assert time.perf_counter() - t < 10


def test_continuing_a_stopped_cosine_run_goes_on_down_from_where_it_stopped(tiny_dataset, tmp_path, monkeypatch):
    """Stopped at step 4 of a 16-step cosine, `train --resume` with the family's default
    schedule starts at the rate it had reached (not back at the full rate) and anneals to 0
    over the continuation; a schedule named for the continuation spans it from the full rate,
    and a finished schedule restarts at the full rate."""
    from models.runs.run_dir import RunDir
    from models.training.config import TrainControl
    from models.training.resume import plan_resume

    model = build_model("vae", arch="conv", latent_dim=2, hidden=8, conv_channels=4)
    control = TrainControl()
    run = RunDir(tmp_path / "run")
    for m in train(model, tiny_dataset, TrainConfig(steps=16, batch_size=20, log_every=4, snapshot_every=0,
                                                    device="cpu"), control, run):
        if m.step == 4:
            control.stop()
    assert m.event == "stopped" and m.step == 4

    def rates_of_continuation(lr_decay: str | None) -> list[float]:
        plan = plan_resume(run.path)
        seen: list[float] = []
        real_step = plan.model.training_step

        def recording_step(batch, optimizers):
            seen.append(optimizers["model"].param_groups[0]["lr"])
            return real_step(batch, optimizers)

        monkeypatch.setattr(plan.model, "training_step", recording_step)
        cfg = TrainConfig(steps=4, batch_size=20, log_every=4, snapshot_every=0, device="cpu", lr_decay=lr_decay)
        list(train(plan.model, tiny_dataset, cfg, run=RunDir(plan.run_dir), start_step=plan.start_step,
                   optimizer_state=plan.optimizer_state, previous_schedule=plan.train_state.get("lr_schedule")))
        return seen

    reached = lr_factor("cosine", 4, 0, 16)  # ~0.85
    default = rates_of_continuation(None)
    assert default[0] == pytest.approx(1e-3 * reached)
    assert default == pytest.approx([1e-3 * reached * lr_factor("cosine", s, 4, 8) for s in range(4, 8)])
    # the run now records that continuation (steps 4..8), which ended: the next restarts at the full rate
    assert plan_resume(run.path).train_state["lr_schedule"] == {"decay": "cosine", "start_step": 4, "total_steps": 8,
                                                                "scale": pytest.approx(reached)}
    assert rates_of_continuation(None)[0] == pytest.approx(1e-3)
    assert rates_of_continuation("cosine")[0] == pytest.approx(1e-3)  # named: spans its continuation


@pytest.mark.parametrize("record", [None, [], {"decay": "cosine"}, {"decay": "cosine", "start_step": -1, "total_steps": 9},
                                    {"decay": "cosine", "start_step": True, "total_steps": 9},
                                    {"decay": "linear", "start_step": 0, "total_steps": 9},
                                    {"decay": "cosine", "start_step": 0, "total_steps": 2**70},
                                    {"decay": "cosine", "start_step": 0, "total_steps": 9, "scale": 1.5}])
def test_a_malformed_or_foreign_schedule_record_counts_as_none(record):
    from models.training.schedule import continued_factor
    assert continued_factor(record, "cosine", 3) == 1.0


def test_a_continuation_stopped_in_turn_goes_on_from_its_own_scaled_rate():
    """A continuation that started at 0.8 of the rate and was stopped halfway through its
    cosine had reached 0.4: the next one starts there."""
    from models.training.schedule import continued_factor, schedule_record
    assert continued_factor(schedule_record("cosine", 10, 20, 0.8), "cosine", 15) == pytest.approx(0.4)
    # stopped late, it stays annealed (no jump back to the full rate before the schedule's end)
    assert continued_factor(schedule_record("cosine", 0, 1000), "cosine", 950) == pytest.approx(lr_factor("cosine", 950, 0, 1000))
    assert continued_factor(schedule_record("cosine", 0, 1000), "cosine", 1000) == 1.0  # ran to its end: a warm restart
