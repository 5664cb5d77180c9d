"""The progressive GAN: its schedule, the fade between levels, the paper's layers and loss, and
a run that checkpoints mid-fade and resumes there (models/families/pggan.py,
models/nets/progressive.py). Tiny nets and schedules of a few dozen images: fast on a CPU."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from models.data.base import Dataset, TensorSplit
from models.families.pggan import PGGAN, PGGANConfig, working_side
from models.nets.progressive import (
    EqualizedConv2d,
    EqualizedLinear,
    ProgressiveDiscriminator,
    ProgressiveGenerator,
    Stage,
    minibatch_stddev,
    stage_at,
    stage_text,
)
from models.runs.checkpoint import load_checkpoint
from models.runs.run_dir import RunDir
from models.runs.snapshots import list_snapshots, load_snapshot
from models.training.loop import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(z_dim=8, fmap_base=32, fmap_max=8, images_per_fade=64, images_per_stable=64)


def tiny(**kw) -> PGGAN:
    return PGGAN(PGGANConfig(**{**TINY, **kw}))




def digits(n: int = 96, side: int = 28) -> Dataset:
    """Bright squares on black, a stand-in for MNIST's shape and range."""
    g = torch.Generator().manual_seed(0)
    imgs = torch.zeros(n, 1, side, side, dtype=torch.uint8)
    for i in range(n):
        a, b = (int(v) for v in torch.randint(2, side // 2, (2,), generator=g))
        imgs[i, 0, a : a + side // 3, b : b + side // 3] = 255
    return Dataset("squares", TensorSplit(imgs[: n - 16]), TensorSplit(imgs[n - 16 :]))


def set_seen(model: PGGAN, n: int) -> None:
    """Put a model at ``n`` images seen, as a loaded checkpoint would be."""
    sd = {k: torch.tensor(n) if k.endswith("images_seen") else v for k, v in model.state_dict().items()}
    model.load_state_dict(sd)


# ---------------------------------------------------------------------------------------
# the schedule
# ---------------------------------------------------------------------------------------
def test_schedule_at_its_boundaries():
    def at(n):
        s = stage_at(n, n_levels=4, images_per_fade=64, images_per_stable=64)
        return s.resolution, s.alpha

    assert at(0) == at(63) == (4, 1.0)  # 4x4 stable first
    assert at(64) == (8, 0.0)  # the fade starts exactly where 4x4 ends
    assert at(80) == (8, 0.25) and at(96) == (8, 0.5)
    assert at(127) == (8, 63 / 64)
    assert at(128) == at(191) == (8, 1.0)
    assert at(192) == (16, 0.0)
    assert at(320) == (32, 0.0) and at(384) == (32, 1.0)
    assert at(448) == at(10**9) == (32, 1.0)  # the last level stays
    assert stage_at(64, 4, 0, 64) == Stage(1, 1.0)  # no fade: a level appears at once
    assert stage_at(0, 4, 0, 0) == Stage(3, 1.0)
    assert stage_at(10**6, 1, 64, 64) == Stage(0, 1.0)  # 4x4 images: nothing to grow


def test_stage_text():
    assert Stage(2, 0.43).describe() == "16x16, fading in 43 %"
    assert Stage(3, 1.0).describe() == "32x32"
    assert stage_text(6.0, 0.5) == "8x8, fading in 50 %"  # a logged mean straddling a boundary


@pytest.mark.parametrize("side, cap, expected", [(28, 64, 32), (32, 64, 32), (64, 64, 64), (48, 64, 32),
                                                 (60, 64, 64), (100, 64, 64), (128, 64, 64), (28, 16, 16), (4, 64, 4)])
def test_working_side(side, cap, expected):
    assert working_side(side, cap) == expected


# ---------------------------------------------------------------------------------------
# the nets
# ---------------------------------------------------------------------------------------
def _nets():
    torch.manual_seed(0)
    channels = [8, 8, 4, 4]
    return ProgressiveGenerator(8, channels, 1), ProgressiveDiscriminator(channels, 1)


def test_output_shape_at_each_stage():
    g, d = _nets()
    z = torch.randn(5, 8)
    for level in range(4):
        for alpha in (0.0, 0.5, 1.0):
            x = g(z, level, alpha)
            assert x.shape == (5, 1, 4 * 2**level, 4 * 2**level)
            assert d(x, level, alpha).shape == (5,)


def test_a_fade_blends_the_previous_stage_upscaled_with_the_new_one():
    g, d = _nets()
    z = torch.randn(4, 8)
    with torch.no_grad():
        for level in range(1, 4):
            before = F.interpolate(g(z, level - 1, 1.0), scale_factor=2, mode="nearest")
            new = g(z, level, 1.0)
            assert not torch.allclose(before, new)
            torch.testing.assert_close(g(z, level, 0.0), before)  # alpha 0: exactly what the stage before made
            torch.testing.assert_close(g(z, level, 0.25), 0.75 * before + 0.25 * new)
            # D at alpha 0 sees the images as the previous stage's D did, at half the side
            x = torch.randn(4, 1, 4 * 2**level, 4 * 2**level)
            torch.testing.assert_close(d(x, level, 0.0), d(F.avg_pool2d(x, 2), level - 1, 1.0))
            assert not torch.allclose(d(x, level, 1.0), d(x, level, 0.0))


def test_equalized_learning_rate_scales_n01_weights_at_runtime():
    torch.manual_seed(0)
    conv = EqualizedConv2d(64, 32, 3)
    lin = EqualizedLinear(256, 128, gain=1.0)
    for layer in (conv, lin):  # stored as N(0, 1) draws: Adam's steps are the same relative size everywhere
        w = layer.weight.detach()
        assert abs(float(w.mean())) < 0.02 and abs(float(w.std()) - 1) < 0.02
        assert float(layer.bias.detach().abs().max()) == 0.0
    x = torch.randn(2, 64, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * math.sqrt(2) / math.sqrt(64 * 9), conv.bias, padding=1))
    v = torch.randn(3, 256)
    torch.testing.assert_close(lin(v), F.linear(v, lin.weight / 16, lin.bias))


def test_minibatch_stddev_adds_one_channel_of_the_groups_spread():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4)
    y = minibatch_stddev(x, group_size=4)
    assert y.shape == (8, 4, 4, 4)
    torch.testing.assert_close(y[:, :3], x)
    # images i and i + 2 form a group (groups of 4 over 8 images: 2 groups, strided)
    group = x[0::2]
    expected = group.var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    torch.testing.assert_close(y[0, 3], torch.full((4, 4), float(expected)))
    same = minibatch_stddev(x[:1].expand(4, -1, -1, -1), 4)  # a batch without variety: ~0
    assert float(same[:, 3].max()) < 1e-3
    assert minibatch_stddev(torch.randn(6, 2, 4, 4), 4).shape == (6, 3, 4, 4)  # 6 is no multiple of 4: groups of 3


# ---------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------
def test_critic_loss_has_the_drift_term():
    torch.manual_seed(0)
    model = tiny()
    batch = digits().train.batch(torch.arange(16))
    stage = model.stage()
    real = model.real_images(batch, stage)
    fake = model._fakes(16, stage, batch.device).detach()
    torch.manual_seed(1)
    t = model.critic_terms(real, fake, stage)
    assert float(t["drift"].detach()) > 0
    expected = -t["wasserstein"] + 10.0 * t["gradient_penalty"] + 0.001 * t["drift"]
    torch.testing.assert_close(t["critic_loss"], expected)
    model.config.eps_drift = 0.0
    torch.manual_seed(1)  # the same interpolates for the penalty
    t0 = model.critic_terms(real, fake, stage)
    torch.testing.assert_close(t["critic_loss"] - t0["critic_loss"], 0.001 * t["drift"])
    assert PGGANConfig().eps_drift == 0.001


def test_paper_defaults():
    c = PGGANConfig()
    assert (c.lr, c.beta1, c.beta2, c.gp_lambda, c.mbstd_group, c.ema) == (1e-3, 0.0, 0.99, 10.0, 4, 0.999)
    assert c.default_batch_size() == 16
    model = tiny()
    opt = model.configure_optimizers()
    assert set(opt) == {"critic", "generator"}
    assert opt["critic"].defaults["betas"] == (0.0, 0.99) and opt["critic"].defaults["lr"] == 1e-3
    assert PGGAN.graph_capturable is False


def test_real_batches_are_padded_and_decodings_cropped_back_to_the_data_shape():
    model = tiny().eval()
    batch = torch.rand(3, 1, 28, 28)
    set_seen(model, 10**6)  # the full resolution
    real = model.real_images(batch, model.stage())
    assert model.side == 32 and real.shape == (3, 1, 32, 32)
    assert float(real[..., :2, :].max()) == -1.0 and float(real[..., -2:].max()) == -1.0  # black border
    torch.testing.assert_close(real[..., 2:30, 2:30], batch * 2 - 1)
    # at 4x4 D sees box-filtered reals, and while fading a blend with the level below
    set_seen(model, 0)
    assert model.real_images(batch, model.stage()).shape == (3, 1, 4, 4)
    x32 = real
    x8 = F.avg_pool2d(x32, 4)
    torch.testing.assert_close(model.real_images(batch, Stage(1, 0.0)), F.interpolate(F.avg_pool2d(x8, 2), scale_factor=2))
    torch.testing.assert_close(model.real_images(batch, Stage(1, 1.0)), x8)


def test_decode_renders_the_current_stage_at_the_final_size():
    torch.manual_seed(0)
    model = tiny().eval()
    z = model.sample_latents(4, torch.Generator().manual_seed(0))
    set_seen(model, 128)  # 8x8, stable
    assert model.stage().describe() == "8x8"
    with torch.no_grad():
        y = model.decode(z)
        assert y.shape == (4, 1, 28, 28) and 0 <= float(y.min()) and float(y.max()) <= 1
        at8 = model.sampling_generator(z, 1, 1.0)
        expected = ((F.interpolate(at8, scale_factor=4, mode="nearest")[..., 2:30, 2:30] + 1) / 2).clamp(0, 1)
        torch.testing.assert_close(y, expected)
        set_seen(model, 96)  # 8x8 half faded in: between the 4x4 and the 8x8 renderings
        assert model.stage().describe() == "8x8, fading in 50 %"
        assert not torch.allclose(model.decode(z), y)
    for shape in [(3, 64, 64), (1, 48, 48)]:  # RGB at 64; 48 resized to 32 inside and back
        m = tiny(image_shape=shape).eval()
        set_seen(m, 10**6)
        with torch.no_grad():
            assert m.decode(m.sample_latents(2)).shape == (2, *shape)


def test_training_steps_report_the_stage_and_reset_adam_between_phases():
    torch.manual_seed(0)
    model = tiny(images_per_fade=32, images_per_stable=32)
    opts = model.configure_optimizers()
    batch = digits().train.batch(torch.arange(16))
    seen = []
    for _ in range(6):
        t = model.training_step(batch, opts)
        model.on_train_step_end()
        assert {"critic_loss", "wasserstein", "gradient_penalty", "drift", "g_loss", "resolution", "fade"} <= set(t)
        assert all(torch.isfinite(v) for v in t.values())
        seen.append((float(t["resolution"]), float(t["fade"])))
        steps = {int(s["step"]) for s in opts["generator"].state.values()}
        if len(seen) == 3:  # the first step of the 8x8 fade: Adam's moments started afresh
            assert steps == {1}
    assert seen == [(4, 1.0), (4, 1.0), (8, 0.0), (8, 0.5), (8, 1.0), (8, 1.0)]
    assert model.images_seen == 96 and int(model.generator.images_seen) == 96
    assert int(model.generator_ema.module.images_seen) == 96  # the weight average carries the stage too


def test_a_training_step_reads_nothing_on_the_host(host_read_spy):
    model = tiny(images_per_fade=12, images_per_stable=12)
    opts = model.configure_optimizers()
    for opt in opts.values():  # torch's CPU Adam reads its step count on the host; CUDA's fused one does not
        original = opt.step

        def step(*a, _original=original, **k):
            with host_read_spy.paused():
                return _original(*a, **k)

        opt.step = step
    batch = torch.rand(12, 1, 28, 28)
    for _ in range(3):  # across a phase change (an optimizer reset) and into a fade
        with host_read_spy:
            model.training_step(batch, opts)
            model.on_train_step_end()
        assert host_read_spy.host_reads == []
    assert host_read_spy.ops


def test_a_checkpoint_mid_fade_resumes_there(tmp_path):
    torch.manual_seed(0)
    data = digits()
    cfg = TrainConfig(steps=6, batch_size=16, log_every=1, snapshot_every=4, checkpoint_every=6, device="cpu",
                      validation_size=16)
    run = RunDir(tmp_path / "run")
    logs = list(train(tiny(), data, cfg, run=run))
    assert [(m.terms["resolution"], m.terms["fade"]) for m in logs[:6]] == [(4, 1.0)] * 4 + [(8, 0.0), (8, 0.25)]

    ck = load_checkpoint(run.latest)  # 96 images: the 8x8 fade half done
    model = ck.model
    assert model.images_seen == 96 and model.stage() == Stage(1, 0.5)
    assert model.stage().describe() == "8x8, fading in 50 %"
    more = TrainConfig(steps=8, batch_size=16, log_every=1, snapshot_every=0, device="cpu", validation_size=16)
    logs = list(train(model, data, more, run=run, start_step=6, optimizer_state=ck.optimizer_state))
    stages = [(m.terms["resolution"], m.terms["fade"]) for m in logs[:8]]
    assert stages == [(8, 0.5), (8, 0.75), (8, 1.0), (8, 1.0), (8, 1.0), (8, 1.0), (16, 0.0), (16, 0.25)]
    assert load_checkpoint(run.latest).model.images_seen == 96 + 8 * 16

    # the timeline's decode-only snapshots carry the stage: the growth shows frame by frame
    index = list_snapshots(run.path)
    by_step = {s.step: load_snapshot(s.path).model for s in index.snapshots}
    # (each is taken after its step: 2 steps of 16 = 32 images, 4 steps = 64, the start of the fade)
    assert by_step[2].stage() == Stage(0, 1.0) and by_step[4].stage() == Stage(1, 0.0)
    assert by_step[6].stage() == Stage(1, 0.5)
    with torch.no_grad():
        z = by_step[6].sample_latents(2)
        assert by_step[6].decode(z).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("bad", [-5, 2**63 - 1])
def test_a_checkpoint_whose_progress_count_is_out_of_range_is_refused_by_name(tmp_path, bad):
    """A tampered count would otherwise grow the nets from a stage it does not describe."""
    from models.families.registry import build_model
    from models.runs.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    model = build_model("pggan", {"z_dim": 8, "fmap_base": 16, "fmap_max": 4})
    for name, buf in model.named_buffers():
        if name.endswith("images_seen"):
            buf.fill_(bad)
    path = save_checkpoint(tmp_path / "pg.safetensors", model, {"step": 1})
    with pytest.raises(CheckpointError, match="images_seen must count 0 to 2\\*\\*62 images"):
        load_checkpoint(path)
