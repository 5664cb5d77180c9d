"""The GAN families' weight average: the same numbers and the same file layout as the
``torch.optim.swa_utils.AveragedModel`` it replaces, without reading the device."""
from __future__ import annotations

import functools

import pytest
import torch
from torch.optim.swa_utils import AveragedModel

from models.families.adversarial import ema_ramp_decay
from models.families.registry import build_model
from models.families.weight_average import WeightAverage
from models.nets.adversarial import DenseConvGenerator, dcgan_init


def averaged_model_ema(decay: float):
    """The AveragedModel ``multi_avg_fn`` the GAN families used: the ramped decay, floating
    tensors lerped, integer buffers copied."""

    @torch.no_grad()
    def update(averaged, current, n_averaged):
        weight = 1 - ema_ramp_decay(decay, n_averaged)
        for avg, cur in zip(averaged, current):
            if avg.is_floating_point():
                avg.lerp_(cur, weight.to(avg.dtype))
            else:
                avg.copy_(cur)

    return update


def generator() -> torch.nn.Module:
    """A small DCGAN generator: linear, conv-transpose and batch-norm layers (float
    parameters, float running statistics and an integer step counter)."""
    g = DenseConvGenerator((1, 28, 28), in_dim=6, fc_hidden=16, base=4)
    dcgan_init(g)
    return g


def train_a_little(g: torch.nn.Module, gen: torch.Generator) -> None:
    """Move G's weights and its batch-norm statistics, as a training step would."""
    g.train()
    with torch.no_grad():
        g(torch.randn(8, 6, generator=gen))  # running means/vars and num_batches_tracked
        for p in g.parameters():
            p.add_(torch.randn(p.shape, generator=gen), alpha=0.05)


def ours_and_torchs(decay: float) -> tuple[torch.nn.Module, WeightAverage, AveragedModel]:
    g = generator()
    ours = WeightAverage(g, functools.partial(ema_ramp_decay, decay))
    reference = AveragedModel(g, multi_avg_fn=averaged_model_ema(decay), use_buffers=True)
    return g, ours, reference


@pytest.mark.parametrize("decay", [0.6, 0.999])  # 0.6: the ramp reaches it after 13 updates
def test_equals_averaged_model_bit_for_bit(decay):
    g, ours, reference = ours_and_torchs(decay)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        train_a_little(g, gen)
        ours.update(g)
        reference.update_parameters(g)
        mine, theirs = ours.state_dict(), reference.state_dict()
        assert mine.keys() == theirs.keys()
        for k in mine:
            assert mine[k].dtype == theirs[k].dtype and torch.equal(mine[k], theirs[k]), k
    assert int(ours.n_averaged) == 20
    # the average is not G (a test of a copy would pass with any averaging)
    assert not torch.equal(ours.module.fc[0].weight, g.fc[0].weight)


def test_first_update_copies_the_network_exactly():
    g, ours, _ = ours_and_torchs(0.999)
    train_a_little(g, torch.Generator().manual_seed(1))
    ours.update(g)
    for (k, mine), theirs in zip(ours.module.state_dict().items(), g.state_dict().values()):
        assert torch.equal(mine, theirs), k


def test_state_dict_layout_is_averaged_models():
    _, ours, reference = ours_and_torchs(0.999)
    mine, theirs = ours.state_dict(), reference.state_dict()
    assert list(mine) == list(theirs)
    assert mine["n_averaged"].dtype == theirs["n_averaged"].dtype == torch.long
    assert mine["n_averaged"].shape == theirs["n_averaged"].shape == ()
    assert not any(p.requires_grad for p in ours.parameters())
    model = build_model("dcgan", image_shape=(1, 28, 28), z_dim=8, g_channels=4, d_channels=4, fc_hidden=16)
    keys = [k for k in model.state_dict() if k.startswith("generator_ema.")]
    assert "generator_ema.n_averaged" in keys
    assert {k.removeprefix("generator_ema.module.") for k in keys if k != "generator_ema.n_averaged"} == set(
        model.generator.state_dict())


def test_loads_what_averaged_model_saved_and_continues_alike():
    decay = 0.6
    g, ours, reference = ours_and_torchs(decay)
    gen = torch.Generator().manual_seed(2)
    for _ in range(5):
        train_a_little(g, gen)
        reference.update_parameters(g)
    ours.load_state_dict(reference.state_dict(), strict=True)
    assert int(ours.n_averaged) == 5
    for _ in range(5):
        train_a_little(g, gen)
        ours.update(g)
        reference.update_parameters(g)
    for k, v in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k


def test_update_reads_nothing_on_the_host(host_read_spy):
    g, ours, _ = ours_and_torchs(0.999)
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):  # the first update (a copy) and later ones take the same ops
        train_a_little(g, gen)
        with host_read_spy:
            ours.update(g)
    assert host_read_spy.host_reads == []
    # one multi-tensor lerp per update for every floating tensor, none one by one
    assert host_read_spy.ops.count("_foreach_lerp_") == 3 and "lerp_" not in host_read_spy.ops


def test_averaged_model_reads_the_host_where_ours_does_not(host_read_spy):
    """What the test above guards against: AveragedModel's update reads n_averaged."""
    g, _, reference = ours_and_torchs(0.999)
    with host_read_spy:
        reference.update_parameters(g)
    assert host_read_spy.host_reads
