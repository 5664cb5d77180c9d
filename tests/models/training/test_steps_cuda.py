"""The CUDA fast path (whole step in a CUDA graph) against the eager path. Skipped without a GPU;
the CPU path is covered by test_training.py."""
import pytest
import torch

from models.families.registry import build_model
from models.training.loop import TrainConfig, train
from models.training.steps import GraphStep

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _run(tiny_dataset, fast: str):
    torch.manual_seed(0)
    m = build_model("vae", latent_dim=4, hidden=64)
    cfg = TrainConfig(steps=120, batch_size=32, log_every=20, snapshot_every=0, device="cuda", fast=fast)
    return [e.terms["total"] for e in train(m, tiny_dataset, cfg) if e.event == "log"], m


def test_graph_path_is_used_and_matches_eager(tiny_dataset, monkeypatch):
    used = []
    original = GraphStep.__init__

    def spy(self, *a, **k):
        used.append(True)
        original(self, *a, **k)

    monkeypatch.setattr(GraphStep, "__init__", spy)
    fast, _ = _run(tiny_dataset, "auto")
    eager, _ = _run(tiny_dataset, "off")
    assert used, "the CUDA graph path was not taken"
    assert fast[-1] < fast[0]
    # same maths: the curves agree closely (sampling noise differs between the two paths)
    assert fast[-1] == pytest.approx(eager[-1], rel=0.05)


def test_graph_step_accumulates_every_replay(tiny_dataset):
    m = build_model("vae", latent_dim=4, hidden=64).cuda()
    opts = m.configure_optimizers()
    split = tiny_dataset.to("cuda").train
    step = GraphStep(m, opts, split, 32)
    idx = torch.arange(32, device="cuda")
    for _ in range(4):
        step.run(idx)
    four = step.read_and_reset(1)  # the sum of four steps, as one "mean"
    step.run(idx)
    one = step.read_and_reset(1)
    assert four["total"] > 3 * one["total"]
