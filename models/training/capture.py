"""The whole training step captured once in a CUDA graph and replayed: the same maths as the
eager step with one launch instead of hundreds.

The graph holds the batch gather (from a static index tensor; a conditional family's
labels too), the family's
``training_step`` - every optimizer's ``zero_grad`` and fused ``step``, several backward
passes for the adversarial families, WGAN-GP's critic loop unrolled - its
``on_train_step_end`` (the GANs' weight average) and the loss accumulation. Outside it: the
copy of each step's indices into the static index, and everything the loop does between steps.

Before capturing, :class:`GraphStep` runs a few eager warm-up steps on a side stream, so
that optimizer state, autograd buffers and cuBLAS workspaces are allocated outside the
graph's memory pool (allocated during capture, they would be re-initialised at every
replay). It then puts back exactly what those steps changed - parameters, buffers, every
optimizer's state (a resumed run's Adam moments and step counts included; state the
warm-up created is zeroed in place, which is what a fresh Adam state holds) and the random
number generators, so the captured run draws the numbers an eager run from the same seed
would.

Optimizers are built non-capturable (an eager run with ``capturable=True`` warns and runs
slower); the captured path switches ``capturable`` on for every param group, and with a
decaying learning rate turns each group's ``lr`` into a 0-d float32 device tensor that the
fused Adam kernel reads at every replay (:func:`models.training.steps.set_group_lr` fills it).

When warm-up or capture fails, :func:`capture_or_eager` gets everything back as it was,
warns (:class:`CaptureFallbackWarning`) with the original error, and returns an eager step
whose ``name`` says why. The CUDA calls go through a backend object (:class:`CudaBackend`),
so tests run this logic on the CPU with stand-ins for streams and graphs.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import torch

from models.families.base import LatentModel
from models.training.steps import EagerStep, gather

#: eager steps before the capture: the first allocates the optimizers' state and autograd's
#: buffers, the next let cuBLAS/cuDNN settle their workspaces (PyTorch's CUDA graph notes
#: warm up for three)
WARMUP_STEPS = 3


class CaptureFallbackWarning(RuntimeWarning):
    """The step could not be captured in a CUDA graph: training runs eagerly (the same maths,
    more kernel launches)."""


class CaptureBackend(Protocol):
    """The device calls the captured step makes (:class:`CudaBackend` on a GPU)."""

    def new_stream(self) -> Any: ...
    def current_stream(self) -> Any: ...
    def use_stream(self, stream: Any) -> AbstractContextManager: ...
    def capture(self, fn: Callable[[], None], stream: Any) -> Any: ...
    def synchronize(self) -> None: ...
    def get_rng_state(self) -> torch.Tensor: ...
    def set_rng_state(self, state: torch.Tensor) -> None: ...


class CudaBackend:
    """:class:`CaptureBackend` on a CUDA device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def new_stream(self) -> torch.cuda.Stream:
        return torch.cuda.Stream(device=self.device)

    def current_stream(self) -> torch.cuda.Stream:
        return torch.cuda.current_stream(self.device)

    def use_stream(self, stream: torch.cuda.Stream) -> AbstractContextManager:
        return torch.cuda.stream(stream)

    def capture(self, fn: Callable[[], None], stream: torch.cuda.Stream) -> torch.cuda.CUDAGraph:
        """``fn``'s kernels recorded (not run) into a graph. "thread_local": another thread
        (the window's) may use CUDA meanwhile without invalidating the capture."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
            fn()
        return graph

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def get_rng_state(self) -> torch.Tensor:
        return torch.cuda.get_rng_state(self.device)

    def set_rng_state(self, state: torch.Tensor) -> None:
        torch.cuda.set_rng_state(state, self.device)


def _copy(value: Any) -> Any:
    return value.detach().clone() if torch.is_tensor(value) else copy.deepcopy(value)


class TrainingState:
    """A copy of what training steps change: the model's parameters and buffers, every
    optimizer's state and the random number generators (the CPU's and the backend's)."""

    def __init__(self, model: LatentModel, optimizers: dict[str, torch.optim.Optimizer], backend: CaptureBackend) -> None:
        self._tensors = [(t, t.detach().clone()) for t in (*model.parameters(), *model.buffers())]
        self._optimizers = [(opt, {p: {k: _copy(v) for k, v in st.items()} for p, st in opt.state.items()})
                            for opt in optimizers.values()]
        self._backend = backend
        self._cpu_rng = torch.get_rng_state()
        self._device_rng = backend.get_rng_state()

    @torch.no_grad()
    def restore(self, keep_new_state: bool) -> None:
        """Put every saved value back in place (the same tensors, so a graph captured after
        this reads and writes them). Optimizer state created since the copy is zeroed in
        place when ``keep_new_state`` (a fresh Adam state is all zeros, and these tensors
        were allocated outside any graph pool), else dropped."""
        for t, saved in self._tensors:
            t.copy_(saved)
        for opt, saved_state in self._optimizers:
            for p in list(opt.state):
                state, saved = opt.state[p], saved_state.get(p)
                if saved is None:
                    if keep_new_state:
                        _zero_tensors(state)
                    else:
                        del opt.state[p]
                    continue
                for k in [k for k in state if k not in saved]:
                    if keep_new_state and torch.is_tensor(state[k]):
                        state[k].zero_()
                    else:
                        del state[k]
                _put_back(state, saved)
            for p, saved in saved_state.items():
                if p not in opt.state:
                    opt.state[p] = {k: _copy(v) for k, v in saved.items()}
        torch.set_rng_state(self._cpu_rng)
        self._backend.set_rng_state(self._device_rng)


def _zero_tensors(state: dict) -> None:
    for v in state.values():
        if torch.is_tensor(v):
            v.zero_()


def _put_back(state: dict, saved: dict) -> None:
    for k, v in saved.items():
        cur = state.get(k)
        if (torch.is_tensor(v) and torch.is_tensor(cur) and cur.shape == v.shape and cur.dtype == v.dtype
                and cur.device == v.device):
            cur.copy_(v)
        else:
            state[k] = _copy(v)


class CaptureSettings:
    """Switches every param group to what a captured optimizer step needs - ``capturable``,
    and with ``tensor_lr`` a 0-d float32 ``lr`` tensor on ``device`` - and back."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], tensor_lr: bool, device: torch.device) -> None:
        self._groups = [(g, g.get("capturable", False), g["lr"]) for opt in optimizers.values() for g in opt.param_groups]
        for opt in optimizers.values():
            # torch warns once when a capturable optimizer steps outside a capture; the
            # warm-up steps do so on purpose
            opt._warned_capturable_if_run_uncaptured = True
        for g, _, lr in self._groups:
            g["capturable"] = True
            if tensor_lr and not torch.is_tensor(lr):
                g["lr"] = torch.tensor(float(lr), dtype=torch.float32, device=device)

    def revert(self) -> None:
        for g, capturable, lr in self._groups:
            g["capturable"], g["lr"] = capturable, lr


class GraphStep(EagerStep):
    """The whole step in one CUDA graph, starting exactly where the eager step would (see
    the module docstring). Raises what warm-up or capture raised, after putting the model,
    the optimizers and the random number generators back as they were."""

    def __init__(self, model: LatentModel, optimizers: dict[str, torch.optim.Optimizer], split, batch_size: int,
                 tensor_lr: bool = False, backend: CaptureBackend | None = None) -> None:
        super().__init__(model, optimizers, split, name="cuda graph")
        device = model.device
        self.backend = backend if backend is not None else CudaBackend(device)
        # warm-up on distinct images (a batch of one image repeated could leave batch norm
        # with a zero variance); the split holds at least one batch
        self.static_idx = torch.arange(batch_size, device=device)
        saved = TrainingState(model, optimizers, self.backend)
        settings = CaptureSettings(optimizers, tensor_lr, device)
        try:
            self.graph = self._warm_up_and_capture(saved)
        except BaseException:
            self.backend.synchronize()  # let the side stream finish before writing over its tensors
            saved.restore(keep_new_state=False)
            settings.revert()
            self._drop_grads()
            raise

    def _warm_up_and_capture(self, saved: TrainingState) -> Any:
        backend = self.backend
        side = backend.new_stream()
        side.wait_stream(backend.current_stream())
        # warm-up and capture inside one stream context: torch.cuda.graph's exit restores
        # the stream only after ending the capture, so a capture that fails there would
        # leave the side stream current; this context's exit restores it whatever happens
        with backend.use_stream(side):
            terms: dict[str, torch.Tensor] = {}
            for _ in range(WARMUP_STEPS):
                terms = self._step()
            saved.restore(keep_new_state=True)
            # accumulators allocated outside the graph's pool and only added to inside it
            self.acc = {k: torch.zeros((), dtype=torch.float32, device=self.static_idx.device) for k in terms}
            self._drop_grads()  # backward inside the capture allocates them from the graph's pool
            graph = backend.capture(self._captured_step, side)
        backend.current_stream().wait_stream(side)
        return graph

    def _step(self) -> dict[str, torch.Tensor]:
        terms = self.model.training_step(gather(self.model, self.split, self.static_idx), self.optimizers)
        self.model.on_train_step_end()
        return terms

    def _captured_step(self) -> None:
        for k, v in self._step().items():
            self.acc[k].add_(v.detach().float())

    def _drop_grads(self) -> None:
        for p in self.model.parameters():
            p.grad = None

    def run(self, idx: torch.Tensor) -> None:
        self.static_idx.copy_(idx, non_blocking=True)
        self.graph.replay()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def capture_or_eager(model: LatentModel, optimizers: dict[str, torch.optim.Optimizer], split, batch_size: int,
                     tensor_lr: bool = False, backend: CaptureBackend | None = None) -> EagerStep:
    """A :class:`GraphStep`, or, when warm-up or capture fails, an eager step starting from
    the same weights, optimizer state and random numbers, after a
    :class:`CaptureFallbackWarning` quoting the error; its ``name`` says the capture failed."""
    try:
        return GraphStep(model, optimizers, split, batch_size, tensor_lr, backend)
    except Exception as e:  # noqa: BLE001 - whatever the graph cannot hold, the eager step runs the same maths
        why = f"{type(e).__name__}: {_first_line(e)}"
        warnings.warn(f"the training step could not be captured in a CUDA graph, so it runs eagerly "
                      f"(the same maths, slower): {type(e).__name__}: {e}", CaptureFallbackWarning, stacklevel=2)
        return EagerStep(model, optimizers, split, name=f"eager (CUDA graph capture failed: {why})")
