"""One ONNX graph, parsed and run by onnxruntime on the CPU: no Python code runs.

:class:`OnnxGraph` reads the graph's bytes (bounded), refuses what is not an ONNX model
(random bytes parse as an empty protobuf more often than not: a graph must have an opset,
nodes, inputs and outputs) and graphs that keep their weights in external files, and
then calls like a module: a torch tensor in (any device), torch tensors out on that
device. It is not an ``nn.Module`` and holds no parameters; copying it (the window copies
a model for each background job) shares the session, whose ``run`` is thread-safe.

:func:`output_range_of` reads a graph output's range from the op that makes it: Sigmoid
[0, 1], Tanh [-1, 1], through ops that only move values around (Reshape, Flatten, Clip...).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.foreign.errors import ForeignModelError, require_onnx
from models.io.files import FileRefused, read_bytes

#: protobuf cannot hold more than 2 GB in one message, so no ONNX file without external data is larger
MAX_ONNX_BYTES = 2 * 2**30
#: ops a graph output may pass through after its last activation without changing its range
PASS_THROUGH = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose", "Cast", "Expand", "Slice"}
#: an activation -> the range of what it gives
ACTIVATION_RANGES = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0)}
#: onnxruntime's type names of the float inputs a graph may take
_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}

Dim = int | str | None


class OnnxGraph:
    """A parsed ONNX graph and its onnxruntime session (see the module docstring).

    ``inputs``/``outputs``: (name, shape) per real input (initializers excluded) and output;
    each dim an int (static), a str (symbolic) or None (unknown)."""

    def __init__(self, path: str | Path, data: bytes | None = None) -> None:
        self.path = Path(path)
        onnx, ort = require_onnx(self.path)
        if data is None:
            try:
                data = read_bytes(self.path, "ONNX model", MAX_ONNX_BYTES)
            except FileRefused as e:
                raise ForeignModelError(self.path, e.reason) from None
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.proto = _parse(onnx, data, self.path)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are about optimisations, not the user's file
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail / InvalidGraph / NotImplemented kinds
            raise ForeignModelError(self.path, f"is not a graph onnxruntime can run: {_first_line(e)}") from None
        self.inputs = [(a.name, list(a.shape or [])) for a in self.session.get_inputs()]
        # onnxruntime's inference first (exporters name dims they did not work out, "Reshapeoutput_dim_1"),
        # the graph's declaration where it infers nothing
        declared = {vi.name: _declared_shape(vi) for vi in self.proto.graph.output}
        self.outputs = [(a.name, _merge(declared.get(a.name), a.shape)) for a in self.session.get_outputs()]
        self._input_types = [a.type for a in self.session.get_inputs()]
        self.output_names = [name for name, _ in self.outputs]

    def __deepcopy__(self, memo: dict[int, Any]) -> OnnxGraph:
        return self  # the session is read-only and thread-safe; a copy would double its memory

    def input_dtype(self) -> type:
        kind = self._input_types[0]
        if kind not in _FLOAT_TYPES:
            raise ForeignModelError(self.path, f"takes {kind} input; a decoder or encoder must take float values")
        return _FLOAT_TYPES[kind]

    def __call__(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        name, shape = self.inputs[0]
        arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy(), dtype=self.input_dtype())
        batch = shape[0] if shape and isinstance(shape[0], int) else None
        outs = self._run_batched(name, arr, batch)
        tensors = tuple(torch.from_numpy(np.ascontiguousarray(o, dtype=np.float32)).to(x.device) for o in outs)
        return tensors[0] if len(tensors) == 1 else tensors

    def _run_batched(self, name: str, arr: np.ndarray, batch: int | None) -> list[np.ndarray]:
        """Run on all of ``arr``; a graph exported for a fixed batch runs chunk by chunk (the
        last padded with zeros, the padding cut off again)."""
        if batch is None or batch == arr.shape[0]:
            return self.session.run(self.output_names, {name: arr})
        chunks: list[list[np.ndarray]] = []
        for at in range(0, arr.shape[0], batch):
            part = arr[at:at + batch]
            n = part.shape[0]
            if n < batch:
                part = np.concatenate([part, np.zeros((batch - n, *part.shape[1:]), part.dtype)])
            chunks.append([o[:n] for o in self.session.run(self.output_names, {name: part})])
        return [np.concatenate([c[i] for c in chunks]) for i in range(len(self.output_names))]

    def output_range(self, index: int = 0) -> tuple[float, float] | None:
        return output_range_of(self.proto, self.output_names[index])


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
    except Exception as e:  # protobuf's DecodeError, and onnx's own
        raise ForeignModelError(path, f"is not an ONNX model (it does not parse: {_first_line(e)})") from None
    graph = proto.graph
    if proto.ir_version <= 0 or not proto.opset_import or not graph.node or not graph.input or not graph.output:
        raise ForeignModelError(path, "is not an ONNX model (no graph with an opset, nodes, inputs and outputs in it)")
    external = onnx.TensorProto.EXTERNAL
    if any(t.data_location == external for t in graph.initializer):
        raise ForeignModelError(path, "keeps its weights in external data files, which are not read; save it with "
                                      "the weights inside (onnx.save(model, path, save_as_external_data=False))")
    return proto


def _constant(proto: Any, name: str) -> float | None:
    """The scalar value of ``name`` when an initializer or a Constant node holds it."""
    from onnx import numpy_helper

    for init in proto.graph.initializer:
        if init.name == name:
            value = numpy_helper.to_array(init)
            return float(value.reshape(-1)[0]) if value.size == 1 else None
    for node in proto.graph.node:
        if node.op_type == "Constant" and name in node.output:
            for attr in node.attribute:
                if attr.name == "value":
                    value = numpy_helper.to_array(attr.t)
                    return float(value.reshape(-1)[0]) if value.size == 1 else None
    return None


def _clip_bounds(proto: Any, node: Any) -> tuple[float, float] | None:
    attrs = {a.name: a.f for a in node.attribute if a.name in ("min", "max")}
    lo = attrs.get("min", _constant(proto, node.input[1]) if len(node.input) > 1 and node.input[1] else None)
    hi = attrs.get("max", _constant(proto, node.input[2]) if len(node.input) > 2 and node.input[2] else None)
    return (lo, hi) if lo is not None and hi is not None and lo < hi else None


def output_range_of(proto: Any, name: str) -> tuple[float, float] | None:
    """The range of the graph value ``name``, from the op that makes it (see the module
    docstring); None when the op does not tell."""
    producers = {out: node for node in proto.graph.node for out in node.output}
    for _ in range(len(proto.graph.node) + 1):
        node = producers.get(name)
        if node is None:
            return None
        if node.op_type in ACTIVATION_RANGES:
            return ACTIVATION_RANGES[node.op_type]
        if node.op_type == "Clip":
            upstream = output_range_of(proto, node.input[0])
            return upstream if upstream is not None else _clip_bounds(proto, node)
        if node.op_type not in PASS_THROUGH or not node.input:
            return None
        name = node.input[0]
    return None


def static_dims(shape: Sequence[Dim] | None) -> tuple[int, ...] | None:
    """``shape`` as ints when every dim is static, else None."""
    if shape is None or not all(isinstance(d, int) and d > 0 for d in shape):
        return None
    return tuple(int(d) for d in shape)
