"""A hostile sweep of the ONNX, manifest and adapter readers and the notebook API: every
crafted input gets one message naming the file (or the argument) and the problem, runs
nothing it was not allowed to, and takes bounded time and memory. The state-dict and
``.npy`` half is test_foreign_hostile_sweep.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import models
from models.foreign import onnx_graph
from models.foreign.arrays import ArrayRefused, BadOutput
from models.foreign.errors import ForeignModelError
from models.foreign.export import export_onnx
from models.foreign.notebook import LoadedModel
from models.foreign.open import open_model
from models.foreign.protocol import ForeignConfig, ForeignModel
from models.latent import LatentSpec
from models.runs.checkpoint import Checkpoint

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper


# --------------------------------------------------------------------------------------
# ONNX graphs
# --------------------------------------------------------------------------------------
def _vi(name, shape, kind=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, kind, shape)


def _onnx(path, nodes, inputs=None, outputs=None, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs or [_vi("z", ["N", 4])], outputs or [_vi("y", ["N", 1, 2, 2])],
                              list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, str(path))
    return path


def _tail(src="z"):
    """Sigmoid then reshape to (N, 1, 2, 2): a decoder's last two ops."""
    return [helper.make_node("Sigmoid", [src], ["s"]), helper.make_node("Reshape", ["s", "shape"], ["y"])], \
        [numpy_helper.from_array(np.array([-1, 1, 2, 2], np.int64), "shape")]


def _external(name, location):
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    t.external_data.add(key="location", value=location)
    return t


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "weights.bin"])
def test_external_data_anywhere_in_a_graph_is_refused(tmp_path, location, refused):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    tail, inits = _tail("a")
    const = helper.make_node("Constant", [], ["c"])
    const.attribute.add(name="value", type=onnx.AttributeProto.TENSOR).t.CopyFrom(_external("", location))
    _onnx(tmp_path / "const.onnx", [const, helper.make_node("Add", ["z", "c"], ["a"]), *tail], inits=inits)
    refused(tmp_path / "const.onnx", "external data")
    branch = helper.make_graph([helper.make_node("Identity", ["w"], ["o"])], "then", [], [_vi("o", [4])],
                               [_external("w", location)])
    other = helper.make_graph([helper.make_node("Identity", ["z1"], ["o2"])], "else", [], [_vi("o2", [4])],
                              [numpy_helper.from_array(np.zeros(4, np.float32), "z1")])
    cond = numpy_helper.from_array(np.array(True), "cond")
    nodes = [helper.make_node("If", ["cond"], ["c"], then_branch=branch, else_branch=other),
             helper.make_node("Add", ["z", "c"], ["a"]), *tail]
    _onnx(tmp_path / "branch.onnx", nodes, inits=[cond, *inits])
    refused(tmp_path / "branch.onnx", "external data")


def test_graphs_claiming_huge_sizes_are_refused_before_running(tmp_path, finishes, refused, reset_peak, peak_mb):
    tail, inits = _tail()
    claimed = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[100000, 100000])
    _onnx(tmp_path / "init.onnx", [helper.make_node("MatMul", ["z", "W"], ["m"]), *tail], inits=[claimed, *inits])
    refused(tmp_path / "init.onnx", "", finishes)
    big = numpy_helper.from_array(np.array([-1, 3, 100000, 100000], np.int64), "shape")
    _onnx(tmp_path / "declared.onnx", tail[:1] + [helper.make_node("Reshape", ["s", "shape"], ["y"])],
          outputs=[_vi("y", ["N", 3, 100000, 100000])], inits=[big])
    before = reset_peak()
    refused(tmp_path / "declared.onnx", r"images", finishes)
    _onnx(tmp_path / "wide.onnx", tail, inputs=[_vi("z", ["N", 10**9])], inits=inits)
    refused(tmp_path / "wide.onnx", r"latent", finishes)
    _onnx(tmp_path / "batch.onnx", tail, inputs=[_vi("z", [10**9, 4])], outputs=[_vi("y", [10**9, 1, 2, 2])],
          inits=inits)
    refused(tmp_path / "batch.onnx", r"batch", finishes)
    assert peak_mb() - before < 200


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
def test_a_graph_allocating_past_the_run_memory_cap_is_refused(tmp_path):
    """A constant of 1.7 GB inside the graph: the capped arena refuses it, the process stays
    small. A subprocess, because onnxruntime takes the cap once per process."""
    shape = numpy_helper.from_array(np.array([1, 3, 12000, 12000], np.int64), "big")
    nodes = [helper.make_node("ConstantOfShape", ["big"], ["c"], value=numpy_helper.from_array(np.ones(1, np.float32))),
             helper.make_node("ReduceMean", ["c"], ["m"], keepdims=0), helper.make_node("Add", ["z", "m"], ["a"]),
             *_tail("a")[0]]
    path = _onnx(tmp_path / "hog.onnx", nodes, inits=[shape, *_tail()[1]])
    script = textwrap.dedent(f"""
        from models.foreign import onnx_graph
        from models.foreign.errors import ForeignModelError
        from models.foreign.open import open_model
        onnx_graph.RUN_MEMORY_BYTES = 256 * 2**20
        try:
            open_model({str(path)!r})
            print("OPENED")
        except ForeignModelError as e:
            print("REFUSED", e)
        # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into a child's ru_maxrss
        hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
        print("PEAK", int(hwm.split()[1]) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         check=False).stdout
    assert "REFUSED hog.onnx: " in out and "memory" in out, out
    assert int(out.split("PEAK")[1]) < 1200, out


def _loop_graph(path):
    body = helper.make_graph([helper.make_node("Add", ["v_in", "one"], ["v_out"]),
                              helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
                             [_vi("i", [], TensorProto.INT64), _vi("cond_in", [], TensorProto.BOOL), _vi("v_in", [1])],
                             [_vi("cond_out", [], TensorProto.BOOL), _vi("v_out", [1])],
                             [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    inits = [numpy_helper.from_array(np.array(2**62, np.int64), "M"), numpy_helper.from_array(np.array(True), "C"),
             numpy_helper.from_array(np.zeros(1, np.float32), "V0")]
    tail, more = _tail("a")
    nodes = [helper.make_node("Loop", ["M", "C", "V0"], ["v"], body=body), helper.make_node("Mul", ["z", "v"], ["a"]),
             *tail]
    return _onnx(path, nodes, inits=[*inits, *more])


def test_a_graph_that_loops_forever_is_stopped(tmp_path, monkeypatch, finishes, refused):
    monkeypatch.setattr(onnx_graph, "TRIAL_SECONDS", 1.0)
    refused(_loop_graph(tmp_path / "loop.onnx"), r"longer than", lambda f: finishes(f, 10))


def test_a_long_chain_of_clips_does_not_recurse(tmp_path, finishes):
    n = 3000
    nodes = [helper.make_node("Sigmoid", ["z"], ["c0"])] + \
        [helper.make_node("Clip", [f"c{i}"], [f"c{i + 1}"]) for i in range(n)] + \
        [helper.make_node("Reshape", [f"c{n}", "shape"], ["y"])]
    path = _onnx(tmp_path / "clips.onnx", nodes, inits=_tail()[1])
    assert finishes(lambda: open_model(path), 10).model.config.output_range == (0.0, 1.0)


def test_node_count_nan_outputs_and_custom_ops_are_refused(tmp_path, monkeypatch, finishes, refused):
    tail, inits = _tail("a")
    log = [helper.make_node("Log", ["z"], ["l"]), helper.make_node("Sub", ["l", "l"], ["a"])]  # log 0 - log 0: NaN
    refused(_onnx(tmp_path / "nan.onnx", log + tail, inits=inits), r"NaN", finishes)
    custom = helper.make_node("Evil", ["z"], ["a"], domain="com.evil")
    path = _onnx(tmp_path / "custom.onnx", [custom, *tail], inits=inits)
    refused(path, r"onnxruntime can run", finishes)
    monkeypatch.setattr(onnx_graph, "MAX_NODES", 10)
    chain = [helper.make_node("Identity", ["z" if i == 0 else f"i{i}"], [f"i{i + 1}"]) for i in range(20)]
    refused(_onnx(tmp_path / "long.onnx", chain + _tail("i20")[0], inits=inits), r"nodes", finishes)


# --------------------------------------------------------------------------------------
# manifest.json
# --------------------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path):
    tail, inits = _tail()
    _onnx(tmp_path / "decoder.onnx", tail, inits=inits)
    return tmp_path


def _manifest(folder, value):
    (folder / "manifest.json").write_text(value if isinstance(value, str) else json.dumps(value))
    return folder


BASE = {"version": 1, "decoder": "decoder.onnx", "latent_dim": 4}


def test_manifest_attacks_are_refused(folder, finishes):
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "out.onnx").symlink_to(folder.parent / "elsewhere.onnx")
    cases = {
        '{"version": 1, "decoder": "decoder.onnx", "latent_dim": 4, "latent_dim": 8}': r"latent_dim.* twice",
        '{"version": 1, "decoder": "decoder.onnx", "latent_dim": 4, "z_range": [NaN, 1]}': r"finite",
        json.dumps({**BASE, "decoder": "dec\u0000oder.onnx"}): r"NUL",
        json.dumps({**BASE, "decoder": "loop"}): r"loop|cannot",
        json.dumps({**BASE, "decoder": "out.onnx"}): r"leaves the manifest's folder",
        json.dumps({**BASE, "decoder": "/etc/passwd"}): r"relative",
        json.dumps({**BASE, "encoder": "manifest.json"}): r"not an ONNX model",
        json.dumps({**BASE, "encoder": "decoder.onnx"}): r"takes input",
        json.dumps({**BASE, "version": 2}): r"version 2",
        json.dumps({**BASE, "latent_dim": 10**12}): r"latent_dim",
        json.dumps({**BASE, "image_shape": [1, 0, 4]}): r"image_shape",
        json.dumps({**BASE, "image_shape": [1, -4, 4]}): r"image_shape",
        json.dumps({**BASE, "image_shape": [3, 65536, 65536]}): r"image_shape .*values",
        json.dumps({**BASE, "output_range": [-1e308, 1e308]}): r"output_range",
        json.dumps({**BASE, "output_range": [0, 1e-300]}): r"output_range",
        json.dumps({**BASE, "z_range": [-1e300, 1e300]}): r"z_range",
        json.dumps({**BASE, "name": "a\nb\u202e"}): r"name",
        '{"version": 1, "decoder": "decoder.onnx", "latent_dim": 4, "name": ' + "[" * 10**5 + "]" * 10**5 + "}":
            r"nests",
        json.dumps({**BASE, "name": "a" * (2 * 2**20)}): r"is not read",
    }
    for text, match in cases.items():
        _manifest(folder, text)
        for path in (folder, folder / "manifest.json"):
            with pytest.raises(ForeignModelError, match=match) as info:
                finishes(lambda p=path: open_model(p))
            assert "\n" not in str(info.value) and str(info.value).split(": ")[0] in ("manifest.json", "decoder.onnx")


# --------------------------------------------------------------------------------------
# adapter files (the user allowed their code to run: a clear message is what is owed)
# --------------------------------------------------------------------------------------
DEC = """
import torch
from torch import nn
class D(nn.Module):
    def forward(self, z):
        return torch.sigmoid(z.new_zeros(z.shape[0], 1, 4, 4) + z.sum())
"""
GOOD = "{'decoder': D(), 'latent_dim': 4, 'image_shape': (1, 4, 4)"


@pytest.mark.parametrize("body, match", [
    ("def load(): return 5", r"load\(\) returned int"),
    ("def load(): return None", r"load\(\) returned None"),
    ("import sys\ndef load(): sys.exit(3)", r"exit"),
    ("raise SystemExit(1)", r"exit"),
    ("def load(:", r"SyntaxError"),
    (("class R:\n    decoder = D()\n    latent_dim = 4\n    @property\n    def image_shape(self): raise OSError('x')\n"
      "def load(): return R()"), r"OSError"),
    (f"def load(): return {GOOD}, 'continuous': 'abc'}}", r"continuous"),
    (f"def load(): return {GOOD}, 'continuous': -3}}", r"continuous"),
    ("class N:\n    def __str__(self): raise ValueError('no')\n" + f"def load(): return {GOOD}, 'name': N()}}",
     r"ValueError"),
    ("def g():\n    yield 1\n    raise KeyError('x')\n" + "def load(): return {'decoder': D(), 'latent_dim': 4, "
     "'image_shape': g()}", r"KeyError"),
    ("def load(): return {'decoder': D(), 'latent_dim': 10**12, 'image_shape': (1, 4, 4)}", r"latent"),
    ("def load(): return {'decoder': D(), 'latent_shape': (10**5, 10**5), 'image_shape': (1, 4, 4)}", r"latent"),
    ("def load(): return {'decoder': D(), 'latent_dim': 4, 'image_shape': (3, 10**5, 10**5)}", r"image"),
    (f"def load(): return {GOOD}, 'output_range': (-1e308, 1e308)}}", r"output_range"),
    (("class E(nn.Module):\n    def forward(self, z): return z.new_full((z.shape[0], 1, 4, 4), float('nan'))\n"
      "def load(): return {'decoder': E(), 'latent_dim': 4, 'image_shape': (1, 4, 4)}"), r"NaN"),
    (("class E(nn.Module):\n    def forward(self, x): return x.new_full((x.shape[0], 4), float('nan'))\n"
      f"def load(): return {GOOD}, 'encoder': E()}}"), r"NaN"),
])
def test_adapters_that_misbehave_get_one_line(tmp_path, body, match, finishes, refused):
    path = tmp_path / "my_model.py"
    path.write_text(DEC + body + "\n")
    refused(path, match, finishes, allow_code=True)
    assert not [m for m in sys.modules if m.startswith("latent_explorer_adapter_")
                and getattr(sys.modules[m], "__file__", None) == str(path)]


# --------------------------------------------------------------------------------------
# the notebook API and .npy files
# --------------------------------------------------------------------------------------
@pytest.fixture
def loaded(folder):
    return models.load(folder / "decoder.onnx")


def test_notebook_inputs_of_the_wrong_kind_are_refused(loaded, finishes):
    bad = [[[1, 2, 3, 4], [1, 2]], np.array([[1, 2, 3, None]], dtype=object), torch.empty(1, 4, device="meta"),
           torch.zeros(1, 4).to_sparse(), np.full((1, 4), np.nan), np.zeros((1, 4), complex),
           np.broadcast_to(np.zeros(4, np.float32), (10**9, 4))]
    for z in bad:
        with pytest.raises(ArrayRefused):
            finishes(lambda z=z: loaded.decode(z), 5)
    for kwargs in ({"n": 10**12}, {"n": 2, "seed": "x"}, {"n": 2, "seed": 2**80}, {"n": 2, "seed": True},
                   {"n": 2, "truncation": float("nan")}, {"n": 2, "truncation": -1.0}, {"n": 2, "truncation": "x"}):
        with pytest.raises(ArrayRefused):
            finishes(lambda kw=kwargs: loaded.sample_latents(**kw), 5)
    with pytest.raises(ArrayRefused):
        finishes(lambda: loaded.interpolate(np.zeros(4), np.ones(4), steps=10**10), 5)


class _NanAbove(torch.nn.Module):
    """Finite for small latents, NaN past 5: what a decoder that overflows does."""

    def forward(self, z):
        out = torch.sigmoid(z.sum(1, keepdim=True)).expand(-1, 16).reshape(-1, 1, 4, 4)
        return torch.where(z.abs().max(1).values[:, None, None, None] > 5, torch.nan, out)


def _foreign(decoder, encoder=None):
    config = ForeignConfig(image_shape=(1, 4, 4), kind="test", latent_shape=(4,), description="a test model")
    return ForeignModel(config, LatentSpec(z_dim=4, prior="normal"), decoder, encoder).eval()


def test_a_decoder_giving_nan_is_reported_not_returned(tmp_path):
    m = LoadedModel(Checkpoint(_foreign(_NanAbove()), {}, None))
    assert np.isfinite(m.decode(np.zeros((2, 4), np.float32))).all()
    with pytest.raises(BadOutput, match=r"NaN .*row 1"):
        m.decode(np.array([[0, 0, 0, 0], [9, 0, 0, 0]], np.float32))


def test_an_export_whose_encoder_gives_nan_is_refused(tmp_path):
    class NanEncoder(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :4] * torch.nan

    with pytest.raises(ForeignModelError, match=r"NaN"):
        export_onnx(_foreign(_NanAbove(), NanEncoder()), tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


