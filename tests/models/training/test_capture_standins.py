"""The captured step's warm-up, restore and fallback logic, run on the CPU with stand-ins for
CUDA's streams and graphs (the real capture is tested in test_steps_cuda.py on a GPU).

The stand-in capture records the step instead of running it, as a real capture records
kernels without running them, and its replay runs the step: a stand-in "captured" run must
therefore train exactly like an eager one. The optimizers are fused, as ``adam()`` builds
them on CUDA: fused Adam ignores the ``capturable`` flag the captured path switches on (a
non-fused capturable Adam refuses CPU tensors)."""
from __future__ import annotations

import contextlib
import copy

import pytest
import torch

from models.data.base import TensorSplit
from models.families.base import adam
from models.families.registry import FAMILIES, build_model, model_class
from models.training import capture
from models.training.capture import CaptureFallbackWarning, GraphStep, capture_or_eager
from models.training.loop import TrainConfig
from models.training.steps import EagerStep, make_step, set_group_lr


def _cpu_has_fused_adam() -> bool:
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:
        return False
    return "cpu" in _get_fused_kernels_supported_devices()


needs_fused_cpu_adam = pytest.mark.skipif(not _cpu_has_fused_adam(), reason="this torch has no fused Adam on the CPU")

TINY = {
    "vae": {"latent_dim": 4, "hidden": 32},
    "gan": {"z_dim": 8, "g_hidden": (32, 64), "d_hidden": (32,)},  # batch norm in G, a weight average
}
#: every family, small, and the variants whose step differs: case -> (family, config)
CASES = {
    "ae": ("ae", {"latent_dim": 4, "hidden": 32}),
    "vae": ("vae", TINY["vae"]),
    "beta-vae-capacity": ("beta-vae", {"latent_dim": 4, "hidden": 32, "capacity": True, "capacity_steps": 10}),
    "aae": ("aae", {"latent_dim": 4, "hidden": 32, "disc_hidden": (32, 32)}),
    "aae-phased": ("aae", {"latent_dim": 4, "hidden": 32, "disc_hidden": (32, 32), "adv_weight": 0.0}),
    "gan": ("gan", TINY["gan"]),
    "dcgan": ("dcgan", {"z_dim": 8, "g_channels": 4, "d_channels": 4, "fc_hidden": 32}),
    "wgan-gp": ("wgan-gp", {"z_dim": 8, "g_channels": 4, "d_channels": 4, "fc_hidden": 32, "n_critic": 2}),
    "infogan": ("infogan", {"z_dim": 8, "fc_hidden": 32, "q_hidden": 8, "channels": 4}),
    # class-conditional: the labels are gathered inside the captured step (tiny_dataset: 10 classes)
    "cvae": ("cvae", {"arch": "mlp", "latent_dim": 4, "hidden": 32}),
    "cgan": ("cgan", {"z_dim": 8, "g_channels": 4, "d_channels": 4, "fc_hidden": 32}),
}
BATCH = 16


class FakeStream:
    def wait_stream(self, other: FakeStream) -> None:
        pass


class FakeGraph:
    def __init__(self, fn) -> None:
        self.fn = fn

    def replay(self) -> None:
        self.fn()


class FakeBackend:
    """A CaptureBackend on the CPU. ``on_capture()`` runs when capture begins; ``fail`` is
    raised there, after making the capture stream current without restoring it (what
    torch.cuda.graph does when ending a capture throws). The device RNG is the CPU's here,
    which GraphStep saves and restores itself."""

    def __init__(self, on_capture=None, fail: BaseException | None = None) -> None:
        self.on_capture, self.fail = on_capture, fail
        self.main = FakeStream()
        self.current = self.main
        self.entered = self.exited = self.captures = self.syncs = 0

    def new_stream(self) -> FakeStream:
        return FakeStream()

    def current_stream(self) -> FakeStream:
        return self.current

    @contextlib.contextmanager
    def use_stream(self, stream: FakeStream):
        previous, self.current = self.current, stream
        self.entered += 1
        try:
            yield
        finally:
            self.current = previous
            self.exited += 1

    def capture(self, fn, stream: FakeStream) -> FakeGraph:
        assert self.current is stream and stream is not self.main, "captured off the side stream"
        self.captures += 1
        if self.on_capture is not None:
            self.on_capture()
        if self.fail is not None:
            self.current = stream
            raise self.fail
        return FakeGraph(fn)

    def synchronize(self) -> None:
        self.syncs += 1

    def get_rng_state(self) -> torch.Tensor:
        return torch.zeros(1, dtype=torch.uint8)

    def set_rng_state(self, state: torch.Tensor) -> None:
        pass


def fused(optimizers: dict, lr: float | None = None) -> dict:
    return {name: torch.optim.Adam([{"params": g["params"], "lr": lr or g["lr"], "betas": g["betas"]}
                                    for g in opt.param_groups], fused=True)
            for name, opt in optimizers.items()}


def setup(case: str, lr: float | None = None):
    family, config = CASES[case]
    model = build_model(family, **config).train()
    return model, fused(model.configure_optimizers(), lr)


def batches(n: int, seed: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randperm(200, generator=g)[:BATCH] for _ in range(n)]


def eager_steps(model, optimizers, split, n: int) -> None:
    step = EagerStep(model, optimizers, split)
    for idx in batches(n, seed=11):
        step.run(idx)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def optimizer_state(optimizers: dict) -> dict:
    return {name: copy.deepcopy(opt.state_dict()["state"]) for name, opt in optimizers.items()}


def assert_same(a, b, where: str = "") -> None:
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}/{k}")
    else:
        assert a == b, where


@needs_fused_cpu_adam
@pytest.mark.parametrize("family", sorted(TINY))
def test_a_resumed_runs_adam_state_reaches_the_capture_intact(family, tiny_dataset):
    model, opts = setup(family)
    split = tiny_dataset.train
    eager_steps(model, opts, split, 3)  # a resumed run: moments and step counts of 3 steps
    before_w, before_opt = weights(model), optimizer_state(opts)
    assert all(float(st["step"]) == 3 for o in before_opt.values() for st in o.values())
    seen = {}

    def inspect():
        seen["w"], seen["opt"] = weights(model), optimizer_state(opts)
        seen["capturable"] = [g["capturable"] for o in opts.values() for g in o.param_groups]

    GraphStep(model, opts, split, BATCH, backend=FakeBackend(on_capture=inspect))
    assert_same(seen["w"], before_w, "weights")
    assert_same(seen["opt"], before_opt, "optimizer state")
    assert all(seen["capturable"])  # switched on for the captured optimizers only


@needs_fused_cpu_adam
@pytest.mark.parametrize("family", sorted(TINY))
def test_a_fresh_runs_warm_up_state_is_zero_when_capture_begins(family, tiny_dataset):
    model, opts = setup(family)
    before_w = weights(model)
    seen = {}

    def inspect():
        seen["w"] = weights(model)
        seen["state"] = [(p, dict(st)) for o in opts.values() for p, st in o.state.items()]

    GraphStep(model, opts, tiny_dataset.train, BATCH, backend=FakeBackend(on_capture=inspect))
    assert_same(seen["w"], before_w, "weights")
    trained = [p for o in opts.values() for g in o.param_groups for p in g["params"]]
    assert {id(p) for p, _ in seen["state"]} == {id(p) for p in trained}  # allocated before capture...
    for _, st in seen["state"]:
        assert all(not v.any() for v in st.values())  # ...and as a fresh Adam's: all zeros


@needs_fused_cpu_adam
@pytest.mark.parametrize("family", sorted(CASES))
@pytest.mark.parametrize("decay", [False, True])
def test_a_standin_captured_run_trains_exactly_like_an_eager_one(family, decay, tiny_dataset):
    """Same seed, same batches: identical weights, optimizer state and logged terms. Also
    proves the random number generators were put back after warm-up (the VAE's epsilon, the
    GAN's z) and that a decayed rate reaches the captured optimizer step through set_group_lr."""
    split = tiny_dataset.train
    lr = 2.0 ** -10  # times 3/4, 1/2, 1/4: exact in float32, so a tensor rate equals the float one
    torch.manual_seed(5)
    model_a, opts_a = setup(family, lr)
    model_b = copy.deepcopy(model_a)
    opts_b = fused(model_b.configure_optimizers(), lr)
    idx = batches(4)

    def train(step, opts) -> dict[str, float]:
        for i, ix in enumerate(idx):
            step.run(ix)
            if decay:
                for o in opts.values():
                    for g in o.param_groups:
                        set_group_lr(g, lr * (len(idx) - 1 - i) / len(idx))
        return step.read_and_reset(len(idx))

    torch.manual_seed(1)
    eager_terms = train(EagerStep(model_a, opts_a, split), opts_a)
    torch.manual_seed(1)
    graphed = GraphStep(model_b, opts_b, split, BATCH, tensor_lr=decay, backend=FakeBackend())
    assert all(torch.is_tensor(g["lr"]) == decay for o in opts_b.values() for g in o.param_groups)
    graph_terms = train(graphed, opts_b)
    assert graph_terms == eager_terms
    assert_same(weights(model_b), weights(model_a), "weights")
    assert_same(optimizer_state(opts_b), optimizer_state(opts_a), "optimizer state")


@needs_fused_cpu_adam
@pytest.mark.parametrize("family", sorted(TINY))
def test_a_failed_capture_falls_back_to_eager_with_everything_untouched(family, tiny_dataset):
    model, opts = setup(family)
    split = tiny_dataset.train
    eager_steps(model, opts, split, 2)
    before_w, before_opt, before_rng = weights(model), optimizer_state(opts), torch.get_rng_state()
    lrs = [g["lr"] for o in opts.values() for g in o.param_groups]
    fake = FakeBackend(fail=RuntimeError("operation not permitted when stream is capturing\n(more detail)"))
    with pytest.warns(CaptureFallbackWarning, match="operation not permitted when stream is capturing"):
        step = capture_or_eager(model, opts, split, BATCH, tensor_lr=True, backend=fake)
    assert type(step) is EagerStep
    assert step.name == "eager (CUDA graph capture failed: RuntimeError: operation not permitted when stream is capturing)"
    assert_same(weights(model), before_w, "weights and buffers")
    assert_same(optimizer_state(opts), before_opt, "optimizer state")
    assert torch.equal(torch.get_rng_state(), before_rng)
    groups = [g for o in opts.values() for g in o.param_groups]
    assert not any(g["capturable"] for g in groups)
    assert [g["lr"] for g in groups] == lrs and all(isinstance(g["lr"], float) for g in groups)
    assert fake.entered == fake.exited == 1 and fake.current is fake.main  # the stream was restored
    assert fake.syncs >= 1
    step.run(batches(1)[0])  # and the eager fallback trains


@needs_fused_cpu_adam
@pytest.mark.parametrize("resumed", [False, True])
def test_a_warm_up_failure_leaves_everything_untouched(resumed, tiny_dataset, monkeypatch):
    model, opts = setup("gan")
    split = tiny_dataset.train
    if resumed:
        eager_steps(model, opts, split, 2)
    before_w, before_opt, before_rng = weights(model), optimizer_state(opts), torch.get_rng_state()
    real_step, calls = model.training_step, []

    def flaky(batch, optimizers):
        calls.append(1)
        if len(calls) == 2:  # the second warm-up step, after the first changed everything
            raise RuntimeError("CUDA error: out of memory")
        return real_step(batch, optimizers)

    monkeypatch.setattr(model, "training_step", flaky)
    fake = FakeBackend()
    with pytest.warns(CaptureFallbackWarning, match="CUDA error: out of memory"):
        step = capture_or_eager(model, opts, split, BATCH, backend=fake)
    assert step.name == "eager (CUDA graph capture failed: RuntimeError: CUDA error: out of memory)"
    assert fake.captures == 0 and fake.entered == fake.exited == 1 and fake.current is fake.main
    assert_same(weights(model), before_w, "weights and buffers")
    assert_same(optimizer_state(opts), before_opt, "optimizer state")  # a fresh run's: still empty
    assert torch.equal(torch.get_rng_state(), before_rng)
    assert all(p.grad is None for p in model.parameters())
    assert not any(g["capturable"] for o in opts.values() for g in o.param_groups)


def _pretend_cuda(monkeypatch, model) -> list[dict]:
    """make_step's choice as on a CUDA device: ``model.device`` says cuda, and the capture is
    replaced by a spy (nothing here can run on CUDA)."""
    monkeypatch.setattr(type(model), "device", property(lambda self: torch.device("cuda")))
    calls: list[dict] = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return EagerStep(model, args[1], args[2], name="cuda graph")

    monkeypatch.setattr(capture, "capture_or_eager", spy)
    return calls


def test_a_train_split_smaller_than_one_batch_trains_eagerly(tiny_dataset, monkeypatch):
    model = build_model("vae", **TINY["vae"])
    opts = model.configure_optimizers()
    calls = _pretend_cuda(monkeypatch, model)
    small = TensorSplit(tiny_dataset.train.images[:20])
    assert make_step(model, opts, small, TrainConfig(batch_size=32), world=1).name == "eager"
    assert not calls
    assert make_step(model, opts, small, TrainConfig(batch_size=20), world=1).name == "cuda graph"


@pytest.mark.parametrize("family", sorted(TINY))
@pytest.mark.parametrize("decay", ["none", "linear"])
def test_every_family_is_captured_on_cuda_with_its_rate_as_a_tensor_only_when_it_decays(family, decay, tiny_dataset,
                                                                                      monkeypatch):
    model = build_model(family, **TINY[family])
    opts = model.configure_optimizers()
    calls = _pretend_cuda(monkeypatch, model)
    cfg = TrainConfig(batch_size=BATCH, lr_decay=decay)
    assert make_step(model, opts, tiny_dataset.train, cfg, world=1).name == "cuda graph"
    assert calls == [{"tensor_lr": decay != "none"}]
    assert make_step(model, opts, tiny_dataset.train, TrainConfig(batch_size=BATCH, fast="off"), world=1).name == "eager"


def test_every_family_opts_in_to_capture():
    # the progressive GAN's path through its nets changes with the stage: a graph replays one path
    assert [f for f in FAMILIES if not model_class(f).graph_capturable] == ["pggan"]


@pytest.mark.parametrize("family", sorted(TINY))
def test_optimizers_are_never_built_capturable(family):
    model = build_model(family, **TINY[family])
    groups = [g for o in model.configure_optimizers().values() for g in o.param_groups]
    assert groups and not any(g["capturable"] for g in groups)
    assert adam(torch.nn.Linear(2, 2).parameters(), 1e-3).param_groups[0]["capturable"] is False


def test_set_group_lr_fills_a_tensor_rate_in_place_and_replaces_a_float():
    rate = torch.tensor(1e-3)
    tensor_group, float_group = {"lr": rate}, {"lr": 1e-3}
    set_group_lr(tensor_group, 0.25)
    set_group_lr(float_group, 0.25)
    assert tensor_group["lr"] is rate and float(rate) == 0.25  # the captured kernel reads this tensor
    assert float_group["lr"] == 0.25 and isinstance(float_group["lr"], float)


def test_the_ddp_and_eager_steppers_say_which_they_are(tiny_dataset):
    model = build_model("vae", **TINY["vae"])
    opts = model.configure_optimizers()
    assert make_step(model, opts, tiny_dataset.train, TrainConfig(batch_size=BATCH), world=1).name == "eager"
    assert EagerStep(model, opts, tiny_dataset.train, step_model=model).name == "eager (DDP)"
