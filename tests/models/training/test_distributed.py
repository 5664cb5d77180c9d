"""Data-parallel training as torchrun runs it, on the CPU: two gloo processes.

A VAE (one optimizer) trains under DistributedDataParallel; a DCGAN and an AAE (several
optimizers) average each optimizer's gradients over the ranks. Either way the ranks must
end with identical weights that moved, having started from different random ones (rank 0's
are broadcast), and must not all draw the same noise.
"""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from models.families.registry import build_model
from models.training.distributed import shutdown
from models.training.loop import TrainConfig, train

FAMILIES = {
    "vae": dict(latent_dim=3, hidden=16),
    "dcgan": dict(z_dim=8, g_channels=4, d_channels=4, fc_hidden=32),
    "aae": dict(latent_dim=3, hidden=16, disc_hidden=(16,)),
}


def _blobs(n: int = 256):
    from models.data.base import Dataset, TensorSplit

    g = torch.Generator().manual_seed(0)
    imgs = (torch.rand(n, 1, 28, 28, generator=g) > 0.8).to(torch.uint8) * 255
    return Dataset("blobs", TensorSplit(imgs[: n - 32]), TensorSplit(imgs[n - 32 :]))


def _worker(rank: int, world: int, rendezvous: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        for family, kw in FAMILIES.items():
            torch.manual_seed(100 + rank)  # different initial weights on each rank, on purpose
            model = build_model(family, image_shape=(1, 28, 28), **kw)
            before = {k: v.clone() for k, v in model.state_dict().items()}
            cfg = TrainConfig(steps=4, batch_size=16, device="cpu", log_every=2, snapshot_every=0, validation_size=0)
            list(train(model, _blobs(), cfg))
            noise = torch.randn(4)  # what this rank's RNG draws next
            state = {k: v.contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}
            save_file({**state, "__noise__": noise}, f"{out}/{family}-{rank}.safetensors")
            save_file({k: v.contiguous() for k, v in before.items() if v.is_floating_point()},
                      f"{out}/{family}-{rank}-init.safetensors")
        shutdown(synchronize=True)
    finally:
        shutdown()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_ranks_train_in_lockstep(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    for family in FAMILIES:
        r0, r1 = (load_file(tmp_path / f"{family}-{r}.safetensors") for r in (0, 1))
        init0, init1 = (load_file(tmp_path / f"{family}-{r}-init.safetensors") for r in (0, 1))
        weights = [k for k in r0 if k != "__noise__" and "running" not in k]  # BN statistics stay per rank
        assert any(not torch.equal(init0[k], init1[k]) for k in weights), family  # they did start apart
        for k in weights:
            torch.testing.assert_close(r0[k], r1[k], rtol=1e-5, atol=1e-6, msg=f"{family}: {k} differs across ranks")
        assert any(not torch.allclose(r0[k], init0[k]) for k in weights), family  # and trained
        assert not torch.equal(r0["__noise__"], r1["__noise__"]), family  # each rank its own noise


def _stopping_worker(rank: int, world: int, rendezvous: str, out: str, stop_on: dict) -> None:
    """Trains a long run; ``stop_on[rank]`` is the log step at which this rank's own control
    stops (as torchrun's SIGTERM would, reaching the ranks at different moments), None: never."""
    from datetime import timedelta

    from models.runs.run_dir import RunDir
    from models.training.loop import TrainControl

    torch.set_num_threads(1)
    # a short timeout: a rank left waiting for a stopped one fails the test instead of hanging it
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=30))
    try:
        torch.manual_seed(rank)
        model = build_model("vae", image_shape=(1, 28, 28), **FAMILIES["vae"])
        control = TrainControl()
        cfg = TrainConfig(steps=10**6, batch_size=16, device="cpu", log_every=2, snapshot_every=0, validation_size=0)
        for m in train(model, _blobs(), cfg, control, RunDir(f"{out}/run")):
            if stop_on[rank] is not None and m.event == "log" and m.step >= stop_on[rank]:
                control.stop()
        with open(f"{out}/final-{rank}.txt", "w") as f:
            f.write(f"{m.event} {m.step} {m.checkpoint}")
        shutdown(synchronize=True)
    finally:
        shutdown()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize("stop_on", [{0: None, 1: 4}, {0: 2, 1: 6}], ids=["rank 1 alone", "rank 0 first"])
def test_a_stop_on_any_rank_stops_every_rank_at_one_step_and_rank_0_checkpoints(tmp_path, stop_on):
    from models.runs.checkpoint import checkpoint_state

    mp.spawn(_stopping_worker, args=(2, str(tmp_path / "rendezvous"), str(tmp_path), stop_on), nprocs=2, join=True)
    finals = [(tmp_path / f"final-{r}.txt").read_text().split() for r in (0, 1)]
    first = min(s for s in stop_on.values() if s is not None)
    assert [f[:2] for f in finals] == [["stopped", str(first)]] * 2  # together, at the first stop's log step
    assert finals[0][2].endswith("latest.safetensors") and finals[1][2] == "None"  # rank 0 writes the run
    assert checkpoint_state(tmp_path / "run" / "checkpoints" / "latest.safetensors")["step"] == first


def _diverging_worker(rank: int, world: int, rendezvous: str, out: str) -> None:
    """Rank 1's loss turns NaN at step 6, a log step; rank 0's is still finite there (its
    weights go NaN only through that step's averaged gradients)."""
    from datetime import timedelta

    from models.runs.run_dir import RunDir
    from models.training.loop import TrainingDiverged

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=30))  # a rank left waiting fails instead of hanging
    try:
        torch.manual_seed(rank)
        model = build_model("vae", image_shape=(1, 28, 28), **FAMILIES["vae"])
        if rank == 1:
            real_loss, calls = model.loss, [0]

            def loss(batch):
                calls[0] += 1
                terms = real_loss(batch)
                if calls[0] >= 6:
                    terms["kl"] = terms["kl"] * float("nan")
                    terms["total"] = terms["recon"] + terms["kl"]
                return terms

            model.loss = loss
        cfg = TrainConfig(steps=40, batch_size=16, device="cpu", log_every=2, snapshot_every=0, checkpoint_every=2,
                          validation_size=0)
        try:
            for m in train(model, _blobs(), cfg, run=RunDir(f"{out}/run")):
                pass
            outcome = f"finished at step {m.step}"
        except TrainingDiverged as e:
            outcome = str(e)
        with open(f"{out}/outcome-{rank}.txt", "w") as f:
            f.write(outcome)
        shutdown(synchronize=True)
    finally:
        shutdown()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_a_loss_that_diverges_on_one_rank_stops_every_rank_at_that_step(tmp_path):
    from models.runs.checkpoint import checkpoint_state

    mp.spawn(_diverging_worker, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    outcomes = [(tmp_path / f"outcome-{r}.txt").read_text() for r in (0, 1)]
    assert outcomes[0] == outcomes[1]  # one message on every rank
    latest = tmp_path / "run" / "checkpoints" / "latest.safetensors"
    assert outcomes[0] == ("training diverged: loss term 'kl' became nan on rank 1 at step 6; the run was stopped."
                           f" The last good checkpoint is {latest}. Try a lower learning rate.")
    assert checkpoint_state(latest)["step"] == 4  # rank 0's, on disk
