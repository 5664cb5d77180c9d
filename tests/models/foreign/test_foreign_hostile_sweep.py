"""A hostile sweep of the state-dict and array readers (``.pth``, ``.safetensors``, ``.npy``):
every crafted file gets one message naming it and the problem, runs nothing, and takes
bounded time and memory. The ONNX, manifest, adapter and notebook half is
test_foreign_hostile_sweep_graphs.py.

Files are small: what claims to be huge does so in a header, a sparse file, a stride-0 view
or a zip directory, never with gigabytes on disk.
"""
from __future__ import annotations

import importlib.util
import io
import itertools
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from models.foreign import onnx_graph, pth, state_dicts
from models.foreign.arrays import read_npy
from models.foreign.errors import ForeignModelError
from models.foreign.open import open_model
from models.io.files import FileRefused


def _vae_dict(d_img=16, h=4, d=2, h_dec=None, fill=0.01):
    h_dec = h_dec or h
    shapes = {"fc1.weight": (h, d_img), "fc1.bias": (h,), "fc21.weight": (d, h), "fc21.bias": (d,),
              "fc22.weight": (d, h), "fc22.bias": (d,), "fc3.weight": (h_dec, d), "fc3.bias": (h_dec,),
              "fc4.weight": (d_img, h_dec), "fc4.bias": (d_img,)}
    return {k: torch.full(s, fill) for k, s in shapes.items()}


# --------------------------------------------------------------------------------------
# .pth: torch's zip archives and legacy pickles
# --------------------------------------------------------------------------------------
def _archive(path, data_pkl=None, records=None, extra=(), compress=()):
    """A torch.save zip archive of ``{"w": arange(4)}`` with its data.pkl or records swapped."""
    buf = io.BytesIO()
    torch.save({"w": torch.arange(4.0)}, buf)
    with zipfile.ZipFile(buf) as z:
        recs = {n: z.read(n) for n in z.namelist()}
    prefix = next(n for n in recs if n.endswith("data.pkl"))[: -len("data.pkl")]
    if data_pkl is not None:
        recs[prefix + "data.pkl"] = data_pkl
    recs.update({prefix + k: v for k, v in (records or {}).items()})
    with zipfile.ZipFile(path, "w") as out:
        for name, data in [*recs.items(), *((prefix + k, v) for k, v in extra)]:
            kind = zipfile.ZIP_DEFLATED if any(name.endswith(c) for c in compress) else zipfile.ZIP_STORED
            out.writestr(zipfile.ZipInfo(name), data, compress_type=kind)
    return path


def _reduce_pickle(module, name, arg: bytes) -> bytes:
    """Protocol-2 pickle of ``module.name(arg)``: GLOBAL, a tuple of one bytes/str, REDUCE."""
    body = b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    if isinstance(arg, bytes):
        body += b"C" + bytes([len(arg)]) + arg if len(arg) < 256 else b"B" + struct.pack("<i", len(arg)) + arg
    else:
        body += b"V" + arg.encode() + b"\n"
    return b"\x80\x02" + body + b"\x85R."


def _globals(marker):
    cmd = f"touch {marker}"
    nested = _reduce_pickle("os", "system", cmd)
    return [("os", "system", cmd), ("posix", "system", cmd), ("builtins", "eval", f"__import__('os').system({cmd!r})"),
            ("builtins", "exec", f"import os; os.system({cmd!r})"), ("subprocess", "getoutput", cmd),
            ("torch.storage", "_load_from_bytes", nested),  # a nested pickle, loaded without weights_only
            ("torch.serialization", "load", str(marker)), ("torch._utils", "_rebuild_device_tensor_from_numpy", cmd),
            ("torch", "load", str(marker))]


@pytest.mark.parametrize("legacy", [False, True])
def test_globals_in_a_pth_never_run_even_with_the_allow(tmp_path, legacy, finishes, refused):
    marker = tmp_path / "PWNED"
    for i, (module, name, arg) in enumerate(_globals(marker)):
        payload = _reduce_pickle(module, name, arg)
        path = tmp_path / f"evil{i}.pth"
        if legacy:
            path.write_bytes(payload)
        else:
            _archive(path, data_pkl=payload)
        for allow in (False, True):
            refused(path, "", finishes, allow_pickle=allow)
    assert not marker.exists()


def _stride0(*shape):
    return torch.zeros(1).as_strided(shape, (0,) * len(shape))


@pytest.mark.parametrize("side", [4096, 10**6])
def test_a_stride_0_tensor_claiming_more_values_than_stored_is_refused(tmp_path, side, finishes, refused,
                                                                      reset_peak, peak_mb):
    """A 4-byte storage viewed as side x side: building the model from it would allocate
    side**2 values (4 TB for 10**6) from a file of a few kilobytes."""
    d = _vae_dict()
    d.update({"fc1.weight": _stride0(side, 16), "fc1.bias": _stride0(side), "fc21.weight": _stride0(2, side),
              "fc22.weight": _stride0(2, side)})
    path = tmp_path / "vae.pth"
    torch.save(d, path)
    assert path.stat().st_size < 10_000
    before = reset_peak()
    refused(path, r"fc1.weight .*claims .* values but the file holds", finishes, allow_pickle=True)
    assert peak_mb() - before < 200


def test_meta_and_sparse_tensors_are_refused(tmp_path, finishes, refused):
    for kind, make in (("meta", lambda t: torch.empty(t.shape, device="meta")), ("sparse", lambda t: t.to_sparse())):
        path = tmp_path / f"{kind}.pth"
        d = _vae_dict()
        d["fc1.weight"] = make(d["fc1.weight"])
        torch.save(d, path)
        refused(path, r"fc1.weight is a (meta|sparse).* tensor", finishes, allow_pickle=True)
    huge_meta = tmp_path / "huge_meta.pth"
    torch.save({k: torch.empty((10**6,) * v.dim(), device="meta") for k, v in _vae_dict().items()}, huge_meta)
    refused(huge_meta, "meta", finishes, allow_pickle=True)


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path, finishes, refused, reset_peak, peak_mb):
    """128 MB of zeros deflated to ~128 kB: refused before anything is unpacked."""
    path = _archive(tmp_path / "bomb.pth", records={"data/0": b"\0" * (128 * 2**20)}, compress=("data/0",))
    assert path.stat().st_size < 1 * 2**20
    before = reset_peak()
    refused(path, r"unpack", finishes, allow_pickle=True)
    assert peak_mb() - before < 100


def test_a_zip_directory_claiming_huge_sizes_is_refused(tmp_path, finishes, refused):
    path = _archive(tmp_path / "claim.pth")
    data = bytearray(path.read_bytes())
    cd = data.rindex(b"PK\x01\x02")  # the last central-directory entry: patch its uncompressed size
    data[cd + 24:cd + 28] = struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    refused(path, r"unpack|could not be read", finishes, allow_pickle=True)


def test_an_archive_of_many_entries_is_refused_quickly(tmp_path, finishes, refused):
    path = _archive(tmp_path / "many.pth", extra=[(f"junk/{i}", b"") for i in range(state_dicts.MAX_TENSORS + 50)])
    refused(path, r"entries", lambda f: finishes(f, 5), allow_pickle=True)


def test_a_large_pickle_is_refused_before_it_is_built(tmp_path, monkeypatch, finishes, refused):
    monkeypatch.setattr(pth, "MAX_PICKLE_BYTES", 4096)
    zipped = _archive(tmp_path / "bigpkl.pth", data_pkl=pickle.dumps({"w": list(range(5000))}, protocol=2))
    refused(zipped, r"pickle.* over", finishes, allow_pickle=True)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(list(range(5000)), protocol=2))
    refused(raw, r"pickle.* over", finishes, allow_pickle=True)


def test_a_legacy_torch_save_still_opens(tmp_path, examples_vae):
    path = tmp_path / "old.pth"
    torch.save(examples_vae.state_dict(), path, _use_new_zipfile_serialization=False)
    model = open_model(path, allow_pickle=True).model
    z = torch.randn(3, 20)
    with torch.no_grad():
        assert (model.decode(z).flatten(1) - examples_vae.decode(z)).abs().max() <= 1e-5


def test_devices_pipes_folders_and_empty_files_are_refused_without_blocking(tmp_path, finishes, refused):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "fifo")
    for target in ("/dev/zero", str(tmp_path / "fifo")):
        for suffix in (".pth", ".py", ".onnx", ".safetensors", ".json"):
            link = tmp_path / f"model{suffix}"
            link.unlink(missing_ok=True)
            link.symlink_to(target)
            refused(link, "not a regular file", finishes, allow_pickle=True, allow_code=True)
    (tmp_path / "x.pth").mkdir()
    refused(tmp_path / "x.pth", "is a folder", finishes, allow_pickle=True)
    for suffix in (".pth", ".py", ".onnx", ".safetensors", ".json"):
        (tmp_path / f"empty{suffix}").write_bytes(b"")
        refused(tmp_path / f"empty{suffix}", "is empty", finishes, allow_pickle=True, allow_code=True)
    refused(tmp_path / "a\0b.pth", "NUL", finishes)
    with pytest.raises(ForeignModelError):
        open_model("~no_such_user_here/x.pth")


def test_sparse_files_claiming_huge_sizes_are_refused_unread(tmp_path, finishes, refused, reset_peak, peak_mb):
    from models.foreign.adapter import MAX_ADAPTER_BYTES
    from models.foreign.manifest import MAX_MANIFEST_BYTES

    sizes = {"big.safetensors": state_dicts.MAX_STATE_DICT_BYTES, "big.pth": state_dicts.MAX_STATE_DICT_BYTES,
             "big.py": MAX_ADAPTER_BYTES, "manifest.json": MAX_MANIFEST_BYTES}
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        sizes["big.onnx"] = onnx_graph.MAX_ONNX_BYTES
    before = reset_peak()
    for i, (name, most) in enumerate(sizes.items()):
        path = tmp_path / str(i) / name  # a folder each: a manifest.json beside big.onnx would be read first
        path.parent.mkdir()
        with open(path, "wb") as f:
            f.truncate(most + 1)  # no disk used, yet one byte too big
        refused(path, "is not read", finishes, allow_pickle=True, allow_code=True)
    assert peak_mb() - before < 100


# --------------------------------------------------------------------------------------
# safetensors headers, and what any state dict holds
# --------------------------------------------------------------------------------------
def _safetensors(path, header, body=b"", claim=None):
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h) if claim is None else claim) + h + body)
    return path


def test_lying_safetensors_headers_are_refused(tmp_path, finishes, refused):
    f32 = lambda shape, a, b: {"dtype": "F32", "shape": shape, "data_offsets": [a, b]}
    cases = {
        "claim": ({"w": f32([1], 0, 4)}, b"\0" * 4, 2**62),
        "overlap": ({"a": f32([2], 0, 8), "b": f32([2], 4, 12)}, b"\0" * 12, None),
        "dtype": ({"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, None),
        "overflow": ({"a": f32([2**40, 2**40], 0, 8)}, b"\0" * 8, None),
        "past_end": ({"a": f32([2**28], 0, 2**30)}, b"\0" * 8, None),
    }
    for name, (header, body, claim) in cases.items():
        refused(_safetensors(tmp_path / f"{name}.safetensors", header, body, claim), "safetensors file", finishes)
    many = {f"t{i}": f32([0], 0, 0) for i in range(state_dicts.MAX_TENSORS + 1)}
    refused(_safetensors(tmp_path / "many.safetensors", many), "tensors", lambda f: finishes(f, 5))


def test_nan_weights_are_refused_with_the_tensor_named(tmp_path, refused):
    d = _vae_dict()
    d["fc4.bias"][3] = float("nan")
    save_file(d, str(tmp_path / "nan.safetensors"))
    refused(tmp_path / "nan.safetensors", r"fc4.bias holds 1 NaN or infinite value")
    d = _vae_dict()
    d["fc1.weight"][0, 0] = float("inf")
    torch.save(d, tmp_path / "inf.pth")
    refused(tmp_path / "inf.pth", r"fc1.weight holds 1 NaN or infinite", allow_pickle=True)


def test_vae_names_with_the_wrong_layout_are_refused(tmp_path, refused):
    cases = {"one_dim": ("fc1.weight", torch.zeros(16)), "scalar": ("fc21.weight", torch.tensor(1.0)),
             "zero": ("fc1.weight", torch.zeros(0, 16)), "wrong_in": ("fc3.weight", torch.zeros(4, 3))}
    for name, (key, value) in cases.items():
        d = _vae_dict()
        d[key] = value
        if name == "zero":
            d["fc1.bias"] = torch.zeros(0)
        save_file(d, str(tmp_path / f"{name}.safetensors"))
        refused(tmp_path / f"{name}.safetensors", "VAE")
    d = _vae_dict()
    del d["fc1.bias"]
    save_file(d, str(tmp_path / "nobias.safetensors"))
    refused(tmp_path / "nobias.safetensors", r"fc1.bias")
    save_file(_vae_dict(h=4, h_dec=7), str(tmp_path / "ok.safetensors"))  # fc3 / fc4 of their own width open
    assert open_model(tmp_path / "ok.safetensors").model.latent_spec.input_dim == 2


def _dcgan_dict(channels):
    d = {}
    for i, (a, b) in enumerate(itertools.pairwise(channels)):
        d[f"main.{3 * i}.weight"] = torch.full((a, b, 4, 4), 0.01)
        if i < len(channels) - 2:
            for p, v in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
                d[f"main.{3 * i + 1}.{p}"] = torch.full((b,), v)
            d[f"main.{3 * i + 1}.num_batches_tracked"] = torch.tensor(0)
    return d


def test_dcgan_dicts_whose_model_would_be_huge_are_refused_before_building(tmp_path, monkeypatch, finishes, refused):
    deep = _dcgan_dict([4] + [1] * 15)  # 15 layers: 4 * 2**14 = 65536-pixel sides
    save_file(deep, str(tmp_path / "deep.safetensors"))
    refused(tmp_path / "deep.safetensors", r"images", finishes)
    wide = {k: (_stride0(*v.shape[:1], 10**5, *v.shape[2:]) if k == "main.0.weight" else v)
            for k, v in _dcgan_dict([8, 4, 1]).items()}
    torch.save(wide, tmp_path / "wide.pth")
    refused(tmp_path / "wide.pth", r"claims", finishes, allow_pickle=True)
    from models.runs import model_budget
    save_file(_dcgan_dict([8, 16, 8, 1]), str(tmp_path / "netG.safetensors"))
    monkeypatch.setattr(model_budget, "MAX_PARAMETERS", 1000)
    refused(tmp_path / "netG.safetensors", r"budget", finishes)



def _npy(path, header, body=b"", version=(1, 0)):
    h = repr(header).encode()
    h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
    size = struct.pack("<H", len(h)) if version == (1, 0) else struct.pack("<I", len(h))
    path.write_bytes(b"\x93NUMPY" + bytes(version) + size + h + body)
    return path


def test_hostile_npy_files_are_refused(tmp_path, finishes):
    marker = tmp_path / "PWNED"
    f4 = lambda shape, order=False: {"descr": "<f4", "fortran_order": order, "shape": shape}
    cases = {
        "overflow": (f4((2**32, 2**32)), b"\0" * 64, r"is truncated"),
        "huge": (f4((2**20, 2**20)), b"\0" * 64, r"is truncated"),
        "negative": (f4((-1, 4)), b"\0" * 16, r"is not a .npy file .*negative"),
        "object": ({"descr": "|O", "fortran_order": False, "shape": (1,)},
                   f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(), r"holds object values"),
        "code_in_shape": ({"descr": "<f4", "fortran_order": False, "shape": "__import__('os')"}, b"", r"is not a .npy"),
    }
    for name, (header, body, match) in cases.items():
        with pytest.raises(FileRefused, match=rf"^{name}.npy: {match}"):
            path = _npy(tmp_path / f"{name}.npy", header, body)
            finishes(lambda p=path: read_npy(p))
    assert not marker.exists()
    fortran = read_npy(_npy(tmp_path / "f.npy", f4((2, 3), True), np.arange(6, dtype="<f4").tobytes()))
    assert fortran.tolist() == [[0, 2, 4], [1, 3, 5]]
    sparse = tmp_path / "sparse.npy"
    with open(sparse, "wb") as f:
        f.truncate(8 * 2**30)
    with pytest.raises(FileRefused, match="is not read"):
        finishes(lambda: read_npy(sparse))

