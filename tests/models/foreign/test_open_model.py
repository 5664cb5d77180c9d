"""``open_model`` opens the app's own checkpoints as before and sends the rest to the importers;
``.npy`` latents and images go in and out checked."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.families.registry import build_model
from models.foreign.arrays import (
    ArrayRefused,
    check_images,
    decode_array,
    encode_array,
    read_npy,
    write_npy,
)
from models.foreign.errors import ForeignModelError
from models.foreign.open import (
    OPENABLE_SUFFIXES,
    open_foreign,
    open_model,
    trust_needed,
)
from models.io.files import FileRefused
from models.runs.checkpoint import save_checkpoint


@pytest.fixture
def vae():
    return build_model("vae", {"latent_dim": 3, "hidden": 16}).eval()


def test_own_checkpoints_and_run_folders_open_as_before(vae, tmp_path):
    run = tmp_path / "run"
    saved = save_checkpoint(run / "checkpoints" / "best.safetensors", vae, {"step": 7, "dataset": "mnist"})
    for path in (saved, run):
        ckpt = open_model(path)
        assert ckpt.model.family == "vae" and ckpt.train_state["step"] == 7 and ckpt.path == saved


def test_own_pickle_checkpoints_open_with_the_allow(vae, tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"family": "vae", "model_config": vae.config.to_dict(), "state_dict": vae.state_dict()}, path)
    with pytest.raises(ForeignModelError, match="--allow-pickle"):
        open_model(path)
    assert open_model(path, allow_pickle=True).model.family == "vae"
    assert open_foreign(path, allow_pickle=True).family == "vae"


def test_what_needs_trust_is_known_from_the_path():
    assert trust_needed("a/netG.pth") == "pickle" and trust_needed("m.PT") == "pickle"
    assert trust_needed("my_model.py") == "code"
    assert all(trust_needed(f"x{s}") is None for s in (".safetensors", ".onnx", ".json")) and trust_needed("run") is None
    assert {".pth", ".onnx", ".py", ".json", ".safetensors"} <= set(OPENABLE_SUFFIXES)


def test_other_files_and_folders_are_refused_by_name(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ForeignModelError, match="^notes.txt: is not a kind of file this app opens"):
        open_model(tmp_path / "notes.txt")
    with pytest.raises(ForeignModelError, match="^missing.onnx: no such file"):
        open_model(tmp_path / "missing.onnx")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="holds no checkpoint"):
        open_model(empty)


def test_npy_round_trip_and_refusals(vae, tmp_path):
    z = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    write_npy(tmp_path / "z.npy", z)
    x = decode_array(vae, read_npy(tmp_path / "z.npy", "latents"))
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    codes = encode_array(vae, x)
    with torch.no_grad():
        assert torch.allclose(codes, vae.encode(x), atol=1e-6)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileRefused, match="holds object values"):
        read_npy(tmp_path / "objects.npy", "latents")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(FileRefused, match="is not a .npy file"):
        read_npy(tmp_path / "junk.npy")
    full = tmp_path / "cut.npy"
    np.save(full, np.zeros((100, 3), np.float32))
    full.write_bytes(full.read_bytes()[:300])
    with pytest.raises(FileRefused, match="truncated"):
        read_npy(full)


def test_array_checks_say_what_was_expected(vae):
    with pytest.raises(ArrayRefused, match=r"N x 1 x 28 x 28 .*got 2 x 28 x 28 x 1"):
        check_images(vae, np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(ArrayRefused, match="must be numbers"):
        decode_array(vae, np.array([["a", "b", "c"]]))
    with pytest.raises(ArrayRefused, match="infinite"):
        decode_array(vae, np.array([[0.0, np.inf, 1.0]]))
    assert decode_array(vae, np.zeros((0, 3))).shape == (0, 1, 28, 28)
