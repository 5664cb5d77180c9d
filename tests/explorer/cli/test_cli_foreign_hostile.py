"""Bad inputs to ``decode``, ``encode`` and ``export``, and hostile model files, through the
CLI's main(): one line on stderr naming the problem, a non-zero exit, no traceback, no code
run, and no output file."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from explorer.cli import main


def refused(argv, capsys, out, code=2) -> str:
    """Run ``argv``; assert it failed in one line and wrote nothing at ``out``; the line."""
    assert main([str(a) for a in argv]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    return err


def _save(tmp_path, name, array):
    np.save(tmp_path / name, array)
    return tmp_path / name


@pytest.fixture
def images(tmp_path):
    return _save(tmp_path, "x.npy", np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32))


def test_nan_in_the_latents(vae_pth, tmp_path, capsys):
    z = np.zeros((4, 20), np.float32)
    z[2, 5] = np.nan
    out = tmp_path / "x.npy"
    err = refused(["decode", vae_pth, "--allow-pickle", "--z", _save(tmp_path, "z.npy", z), "--out", out], capsys, out)
    assert "NaN or infinite values (first in row 2)" in err


def test_a_latent_size_that_does_not_match(netg_pth, tmp_path, capsys):
    out = tmp_path / "x.npy"
    z = _save(tmp_path, "z.npy", np.zeros((4, 20), np.float32))
    err = refused(["decode", netg_pth, "--allow-pickle", "--z", z, "--out", out], capsys, out)
    assert "must be N x 16 (this model's latent has 16 values); got 4 x 20" in err
    z3 = _save(tmp_path, "z3.npy", np.zeros((2, 16, 1), np.float32))  # not N x d at all
    assert "got 2 x 16 x 1" in refused(["decode", netg_pth, "--allow-pickle", "--z", z3, "--out", out], capsys, out)


def test_wrong_images_for_encode(vae_pth, tmp_path, capsys):
    out = tmp_path / "z.npy"
    flags = ["--allow-pickle", "--out", out]
    small = _save(tmp_path, "small.npy", np.zeros((2, 1, 14, 14), np.float32))
    assert "must be N x 1 x 28 x 28" in refused(["encode", vae_pth, "--images", small, *flags], capsys, out)
    bytes_ = _save(tmp_path, "u8.npy", np.full((2, 1, 28, 28), 200, np.uint8))
    assert "divide by 255" in refused(["encode", vae_pth, "--images", bytes_, *flags], capsys, out)
    nan = np.zeros((2, 1, 28, 28), np.float32)
    nan[1, 0, 3, 3] = np.nan
    assert "NaN" in refused(["encode", vae_pth, "--images", _save(tmp_path, "nan.npy", nan), *flags], capsys, out)


def test_encode_on_a_gan_is_refused(netg_pth, images, tmp_path, capsys):
    out = tmp_path / "z.npy"
    err = refused(["encode", netg_pth, "--allow-pickle", "--images", images, "--out", out], capsys, out)
    assert "has no encoder" in err and "DCGAN generator" in err


def test_an_input_that_is_not_a_numeric_npy(vae_pth, tmp_path, capsys):
    out = tmp_path / "x.npy"
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)  # np.load would unpickle it
    assert "objects.npy" in refused(["decode", vae_pth, "--allow-pickle", "--z", objects, "--out", out], capsys, out)
    text = tmp_path / "text.npy"
    text.write_text("0.1 0.2\n")
    assert "is not a .npy file" in refused(["decode", vae_pth, "--allow-pickle", "--z", text, "--out", out],
                                           capsys, out)
    assert "--out must end in .npy" in refused(["decode", vae_pth, "--z", text, "--out", tmp_path / "x.png"],
                                               capsys, tmp_path / "x.png")


class _Payload:
    """Unpickling this runs ``os.system``: what a malicious .pth carries."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("allow", [[], ["--allow-pickle"]], ids=["without-allow", "with-allow"])
def test_a_pickle_payload_never_runs(allow, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    zipped = tmp_path / "netG.pth"
    torch.save({"main.0.weight": torch.zeros(4, 4, 4, 4), "evil": _Payload(marker)}, zipped)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    z = _save(tmp_path, "z.npy", np.zeros((1, 4), np.float32))
    out = tmp_path / "x.npy"
    for path in (zipped, raw):
        for argv in (["decode", path, "--z", z, "--out", out], ["export", path, "--out", tmp_path / "exp"],
                     ["sample", path, "--out", out]):
            err = refused([*argv, *allow], capsys, out)
            assert err.startswith(f"latent-explorer: error: {path.name}: ")
            # without the allow: how to give it; with it: the tensors-only reader refused the payload
            assert ("--allow-pickle" in err) if not allow else ("refuse" in err and "may hold code" in err
                                                                or "could run code" in err)
    assert not marker.exists() and not (tmp_path / "exp").exists()


def test_an_adapter_without_allow_code_does_not_run(tmp_path, capsys):
    marker = tmp_path / "RAN"
    adapter = tmp_path / "my_model.py"
    adapter.write_text(f"open({str(marker)!r}, 'w').close()\ndef load():\n    return {{}}\n")
    z = _save(tmp_path, "z.npy", np.zeros((1, 3), np.float32))
    out = tmp_path / "x.png"
    for argv in (["decode", adapter, "--z", z, "--out", tmp_path / "x.npy"], ["sample", adapter, "--out", out],
                 ["traverse", adapter, "--out", out], ["render-path", adapter, "--random", "2", "--out", tmp_path / "p.gif"],
                 ["export", adapter, "--out", tmp_path / "exp"], ["eval", adapter]):
        err = refused(argv, capsys, tmp_path / "x.npy")
        assert "my_model.py" in err and "run its code" in err and "--allow-code" in err
    assert not marker.exists() and not out.exists()


def test_a_file_named_onnx_that_is_not_onnx(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    path = tmp_path / "decoder.onnx"
    path.write_bytes(b"\x00not a graph" * 100)
    out = tmp_path / "x.npy"
    z = _save(tmp_path, "z.npy", np.zeros((1, 4), np.float32))
    assert "decoder.onnx: is not an ONNX model" in refused(["decode", path, "--z", z, "--out", out], capsys, out)


def test_flags_that_do_not_apply_are_refused_not_ignored(vae_pth, vae_onnx_folder, tmp_path, capsys):
    out = tmp_path / "x.npy"
    z = _save(tmp_path, "z.npy", np.zeros((1, 20), np.float32))
    base = ["decode", "--z", z, "--out", out]
    cases = [
        ([vae_pth, "--allow-pickle", "--output-range", "-1", "1"], "--output-range is for ONNX models"),
        ([vae_onnx_folder, "--family", "vae"], "--family opens a bare state dict"),
        ([vae_pth, "--allow-pickle", "--config", '{"latent_dim": 3}'], "--config goes with --family"),
        ([vae_onnx_folder, "--image-shape", "1,28,28"], "--image-shape is for a state dict opened without --config"),
        ([vae_pth, "--allow-pickle", "--family", "vae", "--config", '{"latent_dim": 3}', "--image-shape", "1,28,28"],
         "with --config, give image_shape in it"),
        ([vae_pth, "--allow-pickle", "--family", "vae"], "does not hold the weights of a vae model"),
        ([vae_pth, "--allow-pickle", "--family", "nope"], "nope"),
    ]
    for extra, message in cases:
        argv = [base[0], extra[0], *base[1:], *extra[1:]]
        assert message in refused(argv, capsys, out), argv


@pytest.mark.parametrize("flags, message", [
    (["--output-range", "1", "0"], "argument --output-range: must be LO HI with LO below HI"),
    (["--output-range", "0", "nan"], "argument --output-range: must be a finite number"),
    (["--config", "{not json"], "argument --config: --config: is not valid JSON"),
    (["--config", "missing.json"], "argument --config: missing.json: no such config file"),
    (["--config", "list.json"], "argument --config: must be a JSON object of config fields, got a list"),
    (["--image-shape", "2,28,28"], "argument --image-shape: must be C,H,W"),
])
def test_bad_open_flags_are_a_usage_error(flags, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(SystemExit) as exit_:
        main(["decode", "m.pth", "--z", "z.npy", "--out", str(tmp_path / "x.npy"), *flags])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_export_without_onnx_says_how_to_install(vae_pth, tmp_path, capsys, monkeypatch):
    from models.foreign import errors

    monkeypatch.setattr(errors, "onnx_available", lambda: False)
    err = refused(["export", vae_pth, "--allow-pickle", "--out", tmp_path / "exp"], capsys, tmp_path / "exp")
    assert errors.ONNX_INSTALL_HINT in err


def test_more_images_than_one_output_holds_are_refused_before_decoding(adapter, tmp_path, capsys):
    out = tmp_path / "x.npy"
    z = _save(tmp_path, "z.npy", np.zeros((100_001, 3), np.float32))
    err = refused(["decode", adapter, "--allow-code", "--z", z, "--out", out], capsys, out)
    assert "100,001 images is too many" in err
