"""Hostile latent path files and outsized renders: one ValueError naming the file and the
field, loading linear in the keyframes, outputs bounded before anything is decoded."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from models.explore import latent_paths as paths
from models.explore import render
from models.families.registry import build_model


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return build_model("vae", latent_dim=3, hidden=8).eval()


def _path(**changes):
    d = {"version": 1, "model": {"family": "vae", "fingerprint": "x", "checkpoint": None},
         "keyframes": [{"z": [0.0, 0.5, 1.0], "categories": [], "codes": []},
                       {"z": [1.0, 0.5, 0.0], "categories": [], "codes": []}],
         "kinds": ["slerp"], "fps": 12.0, "loop": True, "pingpong": False}
    d.update(changes)
    return json.dumps(d)


KF = {"categories": [], "codes": []}
HOSTILE = [
    ("top-list", "[1]", "is not a latent path"),
    ("version-string", _path(version="1"), "version"),
    ("keyframes-object", _path(keyframes={"z": [1]}), "has no keyframes"),
    ("keyframes-empty", _path(keyframes=[]), "has no keyframes"),
    ("keyframe-list", _path(keyframes=[[0, 0, 0], [1, 1, 1]]), "keyframe 0 must be an object"),
    ("z-strings", _path(keyframes=[{**KF, "z": ["a", "b", "c"]}] * 2), "keyframe 0: z must be a list of numbers"),
    ("z-object", _path(keyframes=[{**KF, "z": {"a": 1}}] * 2), "keyframe 0: z must be a list of numbers"),
    ("z-nested", _path(keyframes=[{**KF, "z": [[1, 2, 3]]}] * 2), "keyframe 0 has 3 z values but this vae model has z_dim 3"),
    ("z-short", _path(keyframes=[{**KF, "z": [1]}] * 2), "keyframe 0 has 1 z values"),
    ("z-null", _path(keyframes=[{**KF, "z": [None, 1, 2]}] * 2), "non-finite"),
    ("z-nan", _path().replace("0.5, 1.0]", "NaN, 1.0]", 1), "keyframes[0].z[1] must be a finite number, got NaN"),
    ("z-overflow", _path().replace("0.5, 1.0]", "1e400, 1.0]", 1), "keyframes[0].z[1] must be a finite number, got 1e400"),
    ("categories-string", _path(keyframes=[{"z": [0, 0, 0], "categories": "3", "codes": []}] * 2), "categories must be a list"),
    ("codes-object", _path(keyframes=[{"z": [0, 0, 0], "categories": [], "codes": {}}] * 2), "codes must be a list of numbers"),
    ("kinds-string", _path(kinds="slerp"), "kinds must be a list"),
    ("kinds-unknown", _path(kinds=["cubic"]), "kinds[0] must be one of 'linear', 'slerp', got 'cubic'"),
    ("kinds-count", _path(kinds=["slerp", "slerp"]), "2 keyframes need 1 kinds, got 2"),
    ("fps-string", _path(fps="fast"), "fps must be a finite positive number, got 'fast'"),
    ("fps-zero", _path(fps=0), "fps must be a finite positive number, got 0"),
    ("fps-negative", _path(fps=-12), "fps must be a finite positive number, got -12"),
    ("fps-overflow", _path().replace('"fps": 12.0', '"fps": 1e999'), "fps must be a finite number, got 1e999"),
    ("loop-string", _path(loop="yes"), "loop must be true or false, got 'yes'"),
    ("pingpong-number", _path(pingpong=1), "pingpong must be true or false, got 1"),
    ("model-list", _path(model=[1]), "model must be an object or null, got a list"),
    ("fingerprint-number", _path(model={"fingerprint": 5}), "model.fingerprint must be a string"),
    ("checkpoint-object", _path(model={"checkpoint": {}}), "model.checkpoint must be a string or null, got an object"),
    ("deep", '{"version": 1, "x": ' + "[" * 500 + "]" * 500 + "}", "nests 501 levels deep"),
    ("not-json", "{", "not valid JSON"),
    ("binary", "\udcff\udcfe", "not a text file"),
]


@pytest.mark.parametrize("text,message", [(t, m) for _, t, m in HOSTILE], ids=[i for i, _, _ in HOSTILE])
def test_a_hostile_path_file_is_one_clear_error(vae, tmp_path, text, message):
    file = tmp_path / "p.json"
    file.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError) as err:
        paths.load_path(file, vae)
    assert message in str(err.value) and "p.json" in str(err.value), str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_a_fifo_named_like_a_path_file_is_refused_at_once(vae, tmp_path, finishes):
    fifo = tmp_path / "p.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="p.json: is not a regular file"):
        finishes(lambda: paths.load_path(fifo, vae))


def test_a_path_file_over_its_size_cap_is_refused_before_reading(vae, tmp_path, monkeypatch):
    import models.explore.latent_paths as module

    file = tmp_path / "p.json"
    file.write_text(_path())
    monkeypatch.setattr(module, "MAX_PATH_FILE_BYTES", 100)
    with pytest.raises(ValueError, match="p.json: is .* over 100 bytes"):
        paths.load_path(file, vae)


def test_more_keyframes_than_the_cap_are_refused(vae, tmp_path, monkeypatch):
    import models.explore.latent_paths as module

    monkeypatch.setattr(module, "_PATH_FIELDS", module.Obj({**module._PATH_FIELDS.fields,
                                                             "keyframes": module.ListOf(min_len=1, max_len=5)}))
    file = tmp_path / "p.json"
    file.write_text(_path(keyframes=[{**KF, "z": [0, 0, i]} for i in range(6)], kinds=["linear"] * 5))
    with pytest.raises(ValueError, match="keyframes must be a list of at most 5 values, got a list of 6 values"):
        paths.load_path(file, vae)
    assert paths.MAX_KEYFRAMES == 100_000


def test_100000_keyframes_load_and_play_in_linear_time(vae, tmp_path):
    n = paths.MAX_KEYFRAMES
    rng = np.random.default_rng(0)
    keyframes = [{"z": [float(v) for v in row], "categories": [], "codes": []} for row in rng.standard_normal((n, 3))]
    file = tmp_path / "long.json"
    file.write_text(json.dumps({"version": 1, "keyframes": keyframes, "kinds": ["slerp", "linear"] * (n // 2 - 1) + ["slerp"]}))
    t0 = time.perf_counter()
    path = paths.load_path(file, vae)
    loaded = time.perf_counter() - t0
    frames = path.frames(2 * n)
    played = time.perf_counter() - t0 - loaded
    assert len(path.keyframes) == n and frames.shape == (2 * n, 3)
    assert loaded < 4.0 and played < 2.0, (loaded, played)
    assert np.array_equal(path.frames(2 * (n - 1) + 1)[2 * 7], path.keyframes[7])  # keyframes hit exactly


def test_vectorised_frames_match_the_segment_by_segment_maths():
    from models.explore.interpolation import lerp, slerp

    rng = np.random.default_rng(3)
    k = [rng.standard_normal(4).astype(np.float32) for _ in range(4)]
    k[2] = 2 * k[1]  # parallel: slerp falls back to the line
    path = paths.LatentPath(k, ["slerp", "slerp", "linear"])
    f = path.frames(13)  # 3 segments, 4 frames each + the end
    for i in range(3):
        t = np.linspace(0, 1, 5)[:-1]
        want = (slerp if path.kinds[i] == "slerp" else lerp)(k[i], k[i + 1], t)
        np.testing.assert_allclose(f[4 * i: 4 * i + 4], want, rtol=1e-5, atol=1e-6)
    assert np.array_equal(f[-1], k[-1])


@pytest.mark.parametrize("n", [render.MAX_IMAGES + 1, 10**9])
def test_a_render_over_the_bounds_is_refused_before_decoding(vae, n, monkeypatch):
    path = paths.random_path(vae, 3, seed=0)
    monkeypatch.setattr(paths.LatentPath, "frames", lambda *a: pytest.fail("frames were computed"))
    t0 = time.perf_counter()
    with pytest.raises(render.OutputTooLarge, match="too many"):
        render.render_frames(vae, path, n)
    assert time.perf_counter() - t0 < 1.0


def test_output_bounds_count_bytes_too():
    render.check_output_size(1000, (1, 28, 28))
    with pytest.raises(render.OutputTooLarge, match=r"would take 1.\d GB; at most [\d,]+ fit"):
        render.check_output_size(30_000, (3, 64, 64), "samples")
    with pytest.raises(render.OutputTooLarge):
        render.save_gif([np.zeros((2, 2, 1), np.uint8)] * (render.MAX_IMAGES // 2 + 2), "/nonexistent/x.gif",
                        pingpong=True)  # pingpong doubles the frames: checked after doubling, before writing
