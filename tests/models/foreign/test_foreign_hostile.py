"""Hostile and broken files are refused in one line naming the file, and run nothing."""
from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch
from safetensors.torch import save_file

import models
from models.foreign.errors import ForeignModelError
from models.foreign.open import open_model


class _Payload:
    """Unpickling this runs ``os.system``: what a malicious .pth carries."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _payload_files(tmp_path):
    marker = tmp_path / "PWNED"
    zipped = tmp_path / "netG.pth"
    torch.save({"main.0.weight": torch.zeros(4, 4, 4, 4), "evil": _Payload(marker)}, zipped)  # torch.save's zip format
    raw = tmp_path / "raw.pt"
    with open(raw, "wb") as f:  # a bare pickle, the legacy format torch.load also reads
        pickle.dump(_Payload(marker), f)
    assert zipfile.is_zipfile(zipped)
    return marker, [zipped, raw]


@pytest.mark.parametrize("allow", [False, True])
def test_a_pickle_payload_never_runs(tmp_path, allow):
    marker, files = _payload_files(tmp_path)
    for path in files:
        with pytest.raises(ForeignModelError) as info:
            open_model(path, allow_pickle=allow)
        assert str(info.value).startswith(f"{path.name}: ")
        with pytest.raises(ForeignModelError):
            models.load(path, allow_pickle=allow)
    assert not marker.exists()


def test_the_refusal_with_the_allow_says_what_the_file_holds(tmp_path):
    marker, (zipped, _) = _payload_files(tmp_path)
    with pytest.raises(ForeignModelError, match=r"Python objects besides tensors .*system.*refused even with"):
        open_model(zipped, allow_pickle=True)
    assert not marker.exists()


def test_a_whole_pickled_module_is_refused_with_the_way_out(tmp_path, ex):
    path = tmp_path / "vae.pth"
    torch.save(ex.VAE(), path)  # torch.save(model), not model.state_dict()
    with pytest.raises(ForeignModelError, match=r"state_dict\(\) instead"):
        open_model(path, allow_pickle=True)


def test_a_truncated_safetensors_file_is_refused(tmp_path, examples_vae):
    path = tmp_path / "vae.safetensors"
    save_file(examples_vae.state_dict(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ForeignModelError, match=r"^vae.safetensors: .*(corrupt or truncated)"):
        open_model(path)


def test_a_truncated_pth_is_refused(tmp_path, examples_vae):
    path = tmp_path / "vae.pth"
    torch.save(examples_vae.state_dict(), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ForeignModelError, match=r"^vae.pth: could not be read"):
        open_model(path, allow_pickle=True)


def test_an_onnx_file_of_random_bytes_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    g = torch.Generator().manual_seed(7)
    for i in range(5):
        path = tmp_path / f"model{i}.onnx"
        path.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=g, dtype=torch.uint8).tolist()))
        with pytest.raises(ForeignModelError, match=rf"^model{i}.onnx: is not an ONNX model"):
            open_model(path)


def test_a_text_file_named_onnx_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    path = tmp_path / "decoder.onnx"
    path.write_text("not a graph\n")
    with pytest.raises(ForeignModelError, match="is not an ONNX model"):
        open_model(path)


def test_an_adapter_without_the_code_allow_does_not_run(tmp_path):
    marker = tmp_path / "RAN"
    adapter = tmp_path / "my_model.py"
    adapter.write_text(f"open({str(marker)!r}, 'w').close()\ndef load():\n    return {{}}\n")
    with pytest.raises(ForeignModelError) as info:
        open_model(adapter)
    assert "--allow-code" in str(info.value) and str(info.value).startswith("my_model.py: ")
    with pytest.raises(ForeignModelError):
        models.load(adapter)
    assert not marker.exists()


def test_a_manifest_may_not_name_files_outside_its_folder(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"version": 1, "decoder": "../secret.onnx", "latent_dim": 4}')
    with pytest.raises(ForeignModelError, match="leaves the manifest's folder"):
        open_model(folder)


def test_a_pipe_is_refused_without_blocking(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    for name in ("model.onnx", "vae.safetensors", "manifest.json"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        with pytest.raises(ForeignModelError, match="not a regular file"):
            open_model(fifo)
