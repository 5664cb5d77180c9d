import json
import os

import pytest
import torch
from safetensors.torch import save_file

from models.runs.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.families.registry import build_model


@pytest.mark.parametrize("family,kw", [("vae", dict(arch="conv", latent_dim=6, hidden=32)), ("ae", dict(latent_dim=3, hidden=16))])
def test_round_trip_gives_equal_weights_and_outputs(tmp_path, family, kw):
    m = build_model(family, **kw).eval()
    p = save_checkpoint(tmp_path / "m.safetensors", m, {"step": 7, "dataset": "mnist"})
    ck = load_checkpoint(p)
    assert ck.train_state == {"step": 7, "dataset": "mnist"}
    for (k, a), (k2, b) in zip(m.state_dict().items(), ck.model.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    z = torch.randn(5, kw["latent_dim"])
    assert torch.equal(m.decode(z), ck.model.decode(z))
    assert ck.model.config == m.config


def test_no_pickle_in_the_file(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", build_model("ae", latent_dim=2, hidden=8))
    header_len = int.from_bytes(p.read_bytes()[:8], "little")
    meta = json.loads(p.read_bytes()[8 : 8 + header_len])["__metadata__"]
    assert meta["family"] == "ae" and json.loads(meta["model_config"])["latent_dim"] == 2


def test_corrupt_truncated_and_foreign_files_are_refused_clearly(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", build_model("ae", latent_dim=2, hidden=8))
    data = p.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage" * 10)
    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    for name, pattern in [("trunc", "corrupt or truncated"), ("junk", "corrupt or truncated"), ("foreign", "not a Latent Explorer")]:
        with pytest.raises(CheckpointError, match=pattern):
            load_checkpoint(tmp_path / f"{name}.safetensors")


def test_pickle_files_refused_unless_allowed(tmp_path):
    m = build_model("ae", latent_dim=2, hidden=8)
    f = tmp_path / "m.pt"
    torch.save({"family": "ae", "model_config": m.config.to_dict(), "state_dict": m.state_dict()}, f)
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(f)
    ck = load_checkpoint(f, allow_pickle=True)
    assert torch.equal(ck.model.decode(torch.ones(1, 2)), m.eval().decode(torch.ones(1, 2)))
    # an arbitrary object is refused even when pickle is allowed (weights_only)
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    torch.save(Evil(), tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt", allow_pickle=True)


def test_failed_write_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    m = build_model("ae", latent_dim=2, hidden=8)
    p = save_checkpoint(tmp_path / "m.safetensors", m, {"step": 1})
    before = p.read_bytes()

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(CheckpointError, match="No space left"):
        save_checkpoint(p, m, {"step": 2})
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_wrong_shapes_are_a_clear_error(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", build_model("ae", latent_dim=2, hidden=8))
    # rewrite the config so the weights no longer fit
    from safetensors import safe_open
    from safetensors.torch import save

    with safe_open(str(p), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["model_config"] = meta["model_config"].replace('"latent_dim": 2', '"latent_dim": 3')
    p.write_bytes(save(tensors, metadata=meta))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(p)


def test_run_folder_resolves_to_best(tmp_path):
    from models.runs.run_dir import RunDir

    run = RunDir(tmp_path / "run").create()
    m = build_model("ae", latent_dim=2, hidden=8)
    run.save(m, {"step": 1}, score=5.0)
    run.save(m, {"step": 2}, score=9.0)
    assert load_checkpoint(run.path).train_state["step"] == 1
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)


def _adam_steps(optimizer_state: dict, name: str) -> set[float]:
    return {float(st["step"]) for st in optimizer_state[name]["state"].values()}


def test_optimizer_moments_round_trip_for_one_and_two_optimizers(tmp_path, tiny_dataset):
    """A run's latest checkpoint carries Adam's moments (tensors in the safetensors file,
    the rest as JSON), and restoring them into fresh optimizers gives the same state."""
    from models.runs.checkpoint import restore_optimizers

    for family, kw in [("vae", dict(latent_dim=3, hidden=16)), ("gan", dict(z_dim=4, g_hidden=(16,), d_hidden=(16,)))]:
        m = build_model(family, image_shape=(1, 28, 28), **kw)
        opts = m.configure_optimizers()
        for _ in range(3):
            m.training_step(tiny_dataset.train.batch(torch.arange(16)), opts)
        p = save_checkpoint(tmp_path / f"{family}.safetensors", m, {"step": 3}, optimizers=opts)
        ck = load_checkpoint(p)
        assert set(ck.optimizer_state) == set(opts)
        fresh = ck.model.configure_optimizers(lr=1e-5)
        assert restore_optimizers(fresh, ck.optimizer_state) == list(opts)
        for name, opt in opts.items():
            assert _adam_steps(ck.optimizer_state, name) == {3.0}
            for p_old, p_new in zip([p for g in opt.param_groups for p in g["params"]],
                                    [p for g in fresh[name].param_groups for p in g["params"]]):
                assert torch.equal(opt.state[p_old]["exp_avg"], fresh[name].state[p_new]["exp_avg"])
                assert torch.equal(opt.state[p_old]["exp_avg_sq"], fresh[name].state[p_new]["exp_avg_sq"])
            # the resumed run's own learning rate wins over the saved one
            assert fresh[name].param_groups[0]["lr"] == pytest.approx(1e-5)
        # weights-only checkpoints (best, Save model as) carry none
        assert load_checkpoint(save_checkpoint(tmp_path / "w.safetensors", m)).optimizer_state is None


def test_optimizer_state_of_another_model_is_ignored(tmp_path, tiny_dataset):
    from models.runs.checkpoint import restore_optimizers

    small = build_model("vae", image_shape=(1, 28, 28), latent_dim=3, hidden=16)
    opts = small.configure_optimizers()
    small.training_step(tiny_dataset.train.batch(torch.arange(8)), opts)
    saved = load_checkpoint(save_checkpoint(tmp_path / "s.safetensors", small, optimizers=opts)).optimizer_state
    big = build_model("vae", image_shape=(1, 28, 28), latent_dim=3, hidden=32)
    fresh = big.configure_optimizers()
    assert restore_optimizers(fresh, saved) == []
    assert not fresh["model"].state


@pytest.mark.parametrize("family", ["dcgan", "wgan-gp"])
def test_checkpoint_saved_before_arch_existed_loads_its_all_conv_net(tmp_path, family):
    """28x28 DCGAN / WGAN-GP files written before the ``arch`` field hold all-conv nets;
    new models of that size default to the dense arch, old files must still open as saved."""
    old = build_model(family, image_shape=(1, 28, 28), arch="conv", z_dim=8, g_channels=4, d_channels=4, ema=0.0).eval()
    p = save_checkpoint(tmp_path / "old.safetensors", old)
    _drop_config_fields(p, "arch", "fc_hidden", "g_lr", "ema")  # the fields that came later
    ck = load_checkpoint(p)
    assert ck.model.config.arch == "conv"
    assert ck.model.config.ema == 0.0 and ck.model.generator_ema is None
    z = torch.randn(3, 8)
    torch.testing.assert_close(ck.model.decode(z), old.decode(z), rtol=0, atol=0)
    assert build_model(family, image_shape=(1, 28, 28)).config.resolved_arch() == "dense"  # new models


@pytest.mark.parametrize("family", ["gan", "dcgan", "wgan-gp", "infogan"])
def test_gan_checkpoint_saved_before_ema_existed_opens_without_an_average(tmp_path, family):
    """New GANs sample from a weight average by default; files from before hold none."""
    # the MLP GAN's generator also changed then (it was ReLU without batch norm)
    older = {"g_batch_norm": False, "g_slope": 0.0} if family == "gan" else {}
    old = build_model(family, image_shape=(1, 28, 28), z_dim=8, ema=0.0, **older).eval()
    p = save_checkpoint(tmp_path / "old.safetensors", old)
    _drop_config_fields(p, "ema", *older)
    ck = load_checkpoint(p)
    assert ck.model.config.ema == 0.0 and ck.model.generator_ema is None
    z = ck.model.latent_spec.sample(3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ck.model.decode(z), old.decode(z), rtol=0, atol=0)
    assert build_model(family, image_shape=(1, 28, 28), z_dim=8).generator_ema is not None  # new models


def test_aae_saved_before_the_joint_update_keeps_its_separate_phase(tmp_path, tiny_dataset):
    """AAE files from before ``adv_weight`` trained the encoder's adversarial step apart (its
    own "generator" optimizer): resuming one continues that way, moments included."""
    old = build_model("aae", image_shape=(1, 28, 28), latent_dim=3, hidden=16, disc_hidden=(8,), adv_weight=0.0, adv_lr=0.0)
    opts = old.configure_optimizers()
    for _ in range(3):
        old.training_step(tiny_dataset.train.batch(torch.arange(16)), opts)
    p = save_checkpoint(tmp_path / "old.safetensors", old, {"step": 3}, optimizers=opts)
    _drop_config_fields(p, "adv_weight", "adv_lr")
    ck = load_checkpoint(p)
    assert (ck.model.config.adv_weight, ck.model.config.adv_lr) == (0.0, 0.0)
    assert set(ck.model.configure_optimizers()) == {"autoencoder", "discriminator", "generator"}
    assert set(ck.optimizer_state) == {"autoencoder", "discriminator", "generator"}
    assert build_model("aae", image_shape=(1, 28, 28)).config.adv_weight == 1.0  # new models: joint


def _drop_config_fields(path, *names: str) -> None:
    """Rewrite a checkpoint's model config without ``names``, as a file from before they existed."""
    data = path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    cfg = json.loads(header["__metadata__"]["model_config"])
    for name in names:
        del cfg[name]
    header["__metadata__"]["model_config"] = json.dumps(cfg)
    new_header = json.dumps(header).encode()
    new_header += b" " * (-len(new_header) % 8)
    path.write_bytes(len(new_header).to_bytes(8, "little") + new_header + data[8 + header_len :])
