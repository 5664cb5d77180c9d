"""One ONNX graph, parsed and run by onnxruntime on the CPU: no Python code runs.

:class:`OnnxGraph` reads the graph's bytes (bounded), refuses what is not an ONNX model
(random bytes parse as an empty protobuf more often than not: a graph must have an opset,
nodes, inputs and outputs), graphs that keep any tensor in external files (initializers,
constants and subgraphs alike: an external path could read any file on the machine) and
graphs of more than :data:`MAX_NODES` nodes, and then calls like a module: a torch tensor
in (any device), torch tensors out on that device. It is not an ``nn.Module`` and holds no
parameters; copying it (the window copies a model for each background job) shares the
session, whose ``run`` is thread-safe.

Running is bounded too. Every session allocates its working memory from one shared
onnxruntime arena capped at :func:`run_memory_bytes` (a graph that builds a 100 GB constant
fails to allocate instead of exhausting the machine; a batch too large for the cap is run
in halves), returned to the system after each run; a run given a ``timeout`` is stopped
between two ops once it is over (a Loop of 2**62 iterations). What neither bounds is one
op that computes for long on tensors within the cap.

:func:`output_range_of` reads a graph output's range from the op that makes it: Sigmoid
[0, 1], Tanh [-1, 1], through ops that only move values around (Reshape, Flatten, Clip...).
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.foreign.errors import ForeignModelError, require_onnx
from models.io.files import FileRefused, check_regular_file, read_bytes
from models.runs.model_budget import available_memory

#: protobuf cannot hold more than 2 GB in one message, so no ONNX file without external data is larger
MAX_ONNX_BYTES = 2 * 2**30
#: nodes in all of a graph's (sub)graphs; an exported decoder has hundreds to a few thousand
MAX_NODES = 100_000
#: a graph exported for a fixed batch is run chunk by chunk, padded to it; larger is refused
MAX_FIXED_BATCH = 4096
#: how long the trial run when a graph is opened may take
TRIAL_SECONDS = 60.0
#: the cap on what runs may allocate (all sessions together); None: half the memory available
#: when the first graph opens, from 1 GB to 32 GB. onnxruntime takes it once per process.
RUN_MEMORY_BYTES: int | None = None
#: ops a graph output may pass through after its last activation without changing its range
PASS_THROUGH = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose", "Cast", "Expand", "Slice"}
#: an activation -> the range of what it gives
ACTIVATION_RANGES = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0)}
#: onnxruntime's type names of the float inputs a graph may take
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}
_OUT_OF_MEMORY = ("Failed to allocate memory", "Available memory of", "bad_alloc", "can't allocate memory")

Dim = int | str | None

_arena_lock = threading.Lock()
_arena_bytes: int | None = None  # the cap the shared arena was made with; 0 when onnxruntime refused one


class GraphRunError(RuntimeError):
    """A run that was stopped (too long) or could not allocate; the message names the file."""

    def __init__(self, path: Path, reason: str, out_of_memory: bool = False) -> None:
        super().__init__(f"{path.name}: {reason}")
        self.path, self.reason, self.out_of_memory = path, reason, out_of_memory


def run_memory_bytes() -> int:
    """The cap for the shared arena: :data:`RUN_MEMORY_BYTES`, else half the memory available."""
    if RUN_MEMORY_BYTES is not None:
        return int(RUN_MEMORY_BYTES)
    free = available_memory()
    return int(min(max(free // 2, 2**30), 32 * 2**30)) if free else 8 * 2**30


def _shared_arena(ort: Any) -> int:
    """Register the capped arena once; its cap in bytes, or 0 when this onnxruntime has none."""
    global _arena_bytes
    with _arena_lock:
        if _arena_bytes is None:
            cap = run_memory_bytes()
            try:
                info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
                # extend by what is asked (1), not to the next power of two: the cap is then what is used
                ort.create_and_register_allocator(info, ort.OrtArenaCfg(cap, 1, -1, -1))
                _arena_bytes = cap
            except Exception:  # an onnxruntime without shared allocators: runs are bounded by the machine
                _arena_bytes = 0
        return _arena_bytes


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB"


class OnnxGraph:
    """A parsed ONNX graph and its onnxruntime session (see the module docstring).

    ``inputs``/``outputs``: (name, shape) per real input (initializers excluded) and output;
    each dim an int (static), a str (symbolic) or None (unknown)."""

    def __init__(self, path: str | Path, data: bytes | None = None) -> None:
        self.path = Path(path)
        onnx, ort = require_onnx(self.path)
        self._ort = ort
        if data is None:
            data = _read(self.path)
        self.sha256 = hashlib.sha256(data).hexdigest()
        proto = _parse(onnx, data, self.path)
        options = ort.SessionOptions()
        options.log_severity_level = 4  # fatal only: a refused file is said once, by the exception
        options.inter_op_num_threads = 1
        self._arena = _shared_arena(ort)
        if self._arena:
            options.add_session_config_entry("session.use_env_allocators", "1")
        try:
            self.session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail / InvalidGraph / NotImplemented kinds
            raise ForeignModelError(self.path, f"is not a graph onnxruntime can run: {_first_line(e)}") from None
        self.inputs = [(a.name, list(a.shape or [])) for a in self.session.get_inputs()]
        # onnxruntime's inference first (exporters name dims they did not work out, "Reshapeoutput_dim_1"),
        # the graph's declaration where it infers nothing
        declared = {vi.name: _declared_shape(vi) for vi in proto.graph.output}
        self.outputs = [(a.name, _merge(declared.get(a.name), a.shape)) for a in self.session.get_outputs()]
        self._input_types = [a.type for a in self.session.get_inputs()]
        self.output_names = [name for name, _ in self.outputs]
        # read now, so the parsed proto (a second copy of the weights) is not kept
        producers = _producers(proto)
        self._ranges = [output_range_of(proto, name, producers) for name in self.output_names]
        batch = self.inputs[0][1][0] if self.inputs and self.inputs[0][1] else None
        if isinstance(batch, int) and batch > MAX_FIXED_BATCH:
            raise ForeignModelError(self.path, f"takes a fixed batch of {batch:,} inputs; a graph is run on at most "
                                               f"{MAX_FIXED_BATCH:,} at once (export it with a dynamic batch axis)")

    def __deepcopy__(self, memo: dict[int, Any]) -> OnnxGraph:
        return self  # the session is read-only and thread-safe; a copy would double its memory

    def input_dtype(self) -> type:
        kind = self._input_types[0]
        if kind not in _FLOAT_TYPES:
            raise ForeignModelError(self.path, f"takes {kind} input; a decoder or encoder must take float values")
        return _FLOAT_TYPES[kind]

    def __call__(self, x: torch.Tensor, timeout: float | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The graph on ``x``; GraphRunError when a run is over ``timeout`` seconds or
        cannot allocate even for one row."""
        name, shape = self.inputs[0]
        arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy(), dtype=self.input_dtype())
        batch = shape[0] if shape and isinstance(shape[0], int) else None
        outs = self._run_batched(name, arr, batch, timeout)
        tensors = tuple(torch.from_numpy(np.ascontiguousarray(o, dtype=np.float32)).to(x.device) for o in outs)
        return tensors[0] if len(tensors) == 1 else tensors

    def _run(self, feed: dict[str, np.ndarray], timeout: float | None) -> list[np.ndarray]:
        options = self._ort.RunOptions()
        options.log_severity_level = 4
        if self._arena:  # give the arena's memory back after each run: the cap is then what one run takes
            options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        timer = threading.Timer(timeout, lambda: setattr(options, "terminate", True)) if timeout else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            return self.session.run(self.output_names, feed, options)
        except Exception as e:
            if timer is not None and options.terminate:
                raise GraphRunError(self.path, f"ran longer than {timeout:g} s on a single input, so it was "
                                               "stopped") from None
            if any(s in str(e) for s in _OUT_OF_MEMORY):
                cap = f"the {_gb(self._arena)} that graph runs may use" if self._arena else "this machine's memory"
                raise GraphRunError(self.path, f"needs more memory than {cap} to run on {len(next(iter(feed.values())))}"
                                               " input(s)", out_of_memory=True) from None
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _run_split(self, name: str, arr: np.ndarray, timeout: float | None) -> list[np.ndarray]:
        """Run on ``arr``, in halves (recursively) when the whole does not fit the memory cap."""
        try:
            return self._run({name: arr}, timeout)
        except GraphRunError as e:
            if not e.out_of_memory or len(arr) < 2:
                raise
        half = len(arr) // 2
        first, second = self._run_split(name, arr[:half], timeout), self._run_split(name, arr[half:], timeout)
        return [np.concatenate([a, b]) for a, b in zip(first, second)]

    def _run_batched(self, name: str, arr: np.ndarray, batch: int | None, timeout: float | None) -> list[np.ndarray]:
        """Run on all of ``arr``; a graph exported for a fixed batch runs chunk by chunk (the
        last padded with zeros, the padding cut off again)."""
        if batch is None:
            return self._run_split(name, arr, timeout)
        if batch == arr.shape[0]:
            return self._run({name: arr}, timeout)
        chunks: list[list[np.ndarray]] = []
        for at in range(0, arr.shape[0], batch):
            part = arr[at:at + batch]
            n = part.shape[0]
            if n < batch:
                part = np.concatenate([part, np.zeros((batch - n, *part.shape[1:]), part.dtype)])
            chunks.append([o[:n] for o in self._run({name: part}, timeout)])
        return [np.concatenate([c[i] for c in chunks]) for i in range(len(self.output_names))]

    def output_range(self, index: int = 0) -> tuple[float, float] | None:
        return self._ranges[index]


def _read(path: Path) -> bytes:
    """The file's bytes, when it and the copies opening it makes fit the machine's memory."""
    try:
        st = check_regular_file(path, "ONNX model")
        if st.st_size == 0:
            raise ForeignModelError(path, "is empty (0 bytes)")
        free = available_memory()
        # the bytes, the parsed proto and onnxruntime's copy of the weights
        if free is not None and st.st_size <= MAX_ONNX_BYTES and 3 * st.st_size > free:
            raise ForeignModelError(path, f"needs about {_gb(3 * st.st_size)} of memory to open and this machine has "
                                          f"{_gb(free)} available; not read")
        return read_bytes(path, "ONNX model", MAX_ONNX_BYTES)
    except FileRefused as e:
        raise ForeignModelError(path, e.reason) from None


def _declared_shape(value_info: Any) -> list[Dim] | None:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) if d.HasField("dim_param") else None
            for d in tensor.shape.dim]


def _merge(declared: list[Dim] | None, inferred: list[Dim] | None) -> list[Dim] | None:
    """Each dim as onnxruntime infers it where that is a size, else as the graph declares it."""
    if inferred is None or declared is None or len(inferred) != len(declared):
        return list(inferred) if inferred is not None else declared
    return [i if isinstance(i, int) else (d if d is not None else i) for d, i in zip(declared, inferred)]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


def _parse(onnx: Any, data: bytes, path: Path) -> Any:
    try:
        proto = onnx.load_from_string(data)
    except Exception as e:  # protobuf's DecodeError (its nesting limit too), and onnx's own
        raise ForeignModelError(path, f"is not an ONNX model (it does not parse: {_first_line(e)})") from None
    graph = proto.graph
    if proto.ir_version <= 0 or not proto.opset_import or not graph.node or not graph.input or not graph.output:
        raise ForeignModelError(path, "is not an ONNX model (no graph with an opset, nodes, inputs and outputs in it)")
    _check_contents(onnx, proto, path)
    return proto


def _attribute_tensors(attr: Any) -> list[Any]:
    tensors = [attr.t] if attr.HasField("t") else []
    tensors += list(attr.tensors)
    for sparse in ([attr.sparse_tensor] if attr.HasField("sparse_tensor") else []) + list(attr.sparse_tensors):
        tensors += [sparse.values, sparse.indices]
    return tensors


def _check_contents(onnx: Any, proto: Any, path: Path) -> None:
    """Refuse external data in any tensor of any (sub)graph or function, and more than
    :data:`MAX_NODES` nodes; iteratively, so no nesting makes it recurse."""
    external = onnx.TensorProto.EXTERNAL
    stack = [proto.graph, *proto.functions]
    nodes = 0
    while stack:
        graph = stack.pop()
        tensors = list(getattr(graph, "initializer", ()))
        for sparse in getattr(graph, "sparse_initializer", ()):
            tensors += [sparse.values, sparse.indices]
        for node in graph.node:
            nodes += 1
            if nodes > MAX_NODES:
                raise ForeignModelError(path, f"has more than {MAX_NODES:,} nodes (an exported decoder has a few "
                                              "thousand); not opened")
            for attr in node.attribute:
                tensors += _attribute_tensors(attr)
                if attr.HasField("g"):
                    stack.append(attr.g)
                stack.extend(attr.graphs)
        for t in tensors:
            if t.data_location == external or len(t.external_data):
                where = next((e.value for e in t.external_data if e.key == "location"), "?")
                raise ForeignModelError(path, f"keeps tensor {t.name or '(a constant)'} in external data ({where!r}), "
                                              "which is not read: an external path could name any file. Save it with "
                                              "the weights inside (onnx.save(model, path, save_as_external_data=False))")


def _scalar(tensor: Any) -> float | None:
    """The value of a one-value TensorProto; None for any other (never converting a large one)."""
    from onnx import numpy_helper

    if math.prod(tensor.dims) != 1:
        return None
    try:
        return float(numpy_helper.to_array(tensor).reshape(-1)[0])
    except Exception:  # a tensor whose data does not match its type: no bound read from it
        return None


def _constants(proto: Any) -> dict[str, Any]:
    """Graph value name -> the TensorProto an initializer or a Constant node holds."""
    found = {init.name: init for init in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    found[node.output[0]] = attr.t
    return found


def _clip_bounds(node: Any, constants: dict[str, Any]) -> tuple[float, float] | None:
    attrs = {a.name: a.f for a in node.attribute if a.name in ("min", "max")}

    def bound(i: int) -> float | None:
        name = node.input[i] if len(node.input) > i else ""
        return _scalar(constants[name]) if name in constants else None

    lo = attrs.get("min", bound(1))
    hi = attrs.get("max", bound(2))
    return (lo, hi) if lo is not None and hi is not None and lo < hi else None


def _producers(proto: Any) -> dict[str, Any]:
    return {out: node for node in proto.graph.node for out in node.output}


def output_range_of(proto: Any, name: str, producers: dict[str, Any] | None = None) -> tuple[float, float] | None:
    """The range of the graph value ``name``, from the op that makes it (see the module
    docstring); None when the op does not tell. Walks up the producers (``_producers(proto)``,
    passed in when asked for several outputs) iteratively: the first activation found, else
    the bounds of the deepest Clip that has them."""
    producers = producers if producers is not None else _producers(proto)
    clips = []
    for _ in range(len(proto.graph.node) + 1):
        node = producers.get(name)
        if node is None:
            break
        if node.op_type in ACTIVATION_RANGES:
            return ACTIVATION_RANGES[node.op_type]
        if node.op_type == "Clip":
            clips.append(node)
        elif node.op_type not in PASS_THROUGH:
            break
        if not node.input:
            break
        name = node.input[0]
    if clips:
        constants = _constants(proto)
        for node in reversed(clips):
            bounds = _clip_bounds(node, constants)
            if bounds is not None:
                return bounds
    return None


def static_dims(shape: Sequence[Dim] | None) -> tuple[int, ...] | None:
    """``shape`` as ints when every dim is static, else None."""
    if shape is None or not all(isinstance(d, int) and d > 0 for d in shape):
        return None
    return tuple(int(d) for d in shape)
