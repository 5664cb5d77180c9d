"""Interpolation, latent paths (JSON round trip, GIF/PNG export) and traversal grids."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from models.explore import interpolation
from models.explore import latent_paths as paths
from models.explore import render, traversal
from models.families.base import LatentModel, ModelConfig
from models.latent import LatentSpec
from models.families.registry import build_model


class RecordingModel(LatentModel):
    """Decodes by writing sigmoid(latent) into the first pixels; remembers every input."""

    family = "fake"

    def __init__(self, spec: LatentSpec, image_shape=(1, 4, 5)) -> None:
        super().__init__(ModelConfig(image_shape=image_shape))
        self.spec = spec
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[torch.Tensor] = []

    @property
    def latent_spec(self) -> LatentSpec:
        return self.spec

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self.seen.append(latent.detach().clone())
        c, h, w = self.config.image_shape
        img = torch.zeros(latent.shape[0], c * h * w)
        img[:, : latent.shape[1]] = torch.sigmoid(latent)
        return img.view(-1, c, h, w)


@pytest.fixture
def vae():
    torch.manual_seed(0)
    return build_model("vae", latent_dim=4, hidden=32).eval()


# -- lerp / slerp --------------------------------------------------------------------------
def test_slerp_endpoints_exact_and_norm_interpolated():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(8).astype(np.float32), 3 * rng.standard_normal(8).astype(np.float32)
    assert np.array_equal(interpolation.slerp(a, b, 0.0), a) and np.array_equal(interpolation.slerp(a, b, 1.0), b)
    out = interpolation.slerp(a, b, [0.0, 0.5, 1.0])
    assert out.dtype == np.float32 and np.array_equal(out[0], a) and np.array_equal(out[2], b)
    mid = interpolation.slerp(a, b, 0.5)
    assert np.linalg.norm(mid) == pytest.approx((np.linalg.norm(a) + np.linalg.norm(b)) / 2, rel=1e-5)
    # the direction is half way along the great circle: equal angles to a and b
    cos = lambda u, v: float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
    assert cos(mid, a) == pytest.approx(cos(mid, b), abs=1e-5)
    # torch in, torch out
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    assert torch.equal(interpolation.slerp(ta, tb, 0.0), ta)
    assert torch.allclose(interpolation.slerp(ta, tb, 0.5), torch.from_numpy(mid))


def test_slerp_degenerate_falls_back_to_line():
    a = np.array([1.0, 2.0, -1.0], np.float32)
    for b in (2 * a, -a, np.zeros(3, np.float32)):
        for t in (0.25, 0.5):
            np.testing.assert_allclose(interpolation.slerp(a, b, t), (1 - t) * a + t * b, rtol=1e-6, atol=1e-7)


def test_lerp():
    a, b = np.zeros(2, np.float32), np.ones(2, np.float32)
    np.testing.assert_allclose(interpolation.lerp(a, b, 0.25), [0.25, 0.25])
    assert interpolation.lerp(a, b, [0, 1]).shape == (2, 2)


# -- paths ---------------------------------------------------------------------------------
def test_frames_hit_keyframes_and_block_rules():
    spec = LatentSpec(z_dim=3, categorical=(4,), continuous=1)
    model = RecordingModel(spec)
    path = paths.random_path(model, 3, kind="slerp", seed=5)
    f = path.frames(9)  # 2 segments, (9 - 1) % 2 == 0: the middle keyframe is frame 4
    assert f.shape == (9, spec.input_dim) and f.dtype == np.float32
    assert np.array_equal(f[0], path.keyframes[0]) and np.array_equal(f[4], path.keyframes[1])
    assert np.array_equal(f[-1], path.keyframes[2])
    # code blocks are linear even on a slerp segment
    k0, k1 = path.keyframes[0], path.keyframes[1]
    np.testing.assert_allclose(f[2, 3:], 0.5 * (k0[3:] + k1[3:]), atol=1e-6)
    assert not np.allclose(f[2, :3], 0.5 * (k0[:3] + k1[:3]))  # z is slerped
    lin = path.with_kind("linear").frames(9)
    np.testing.assert_allclose(lin[2], 0.5 * (k0 + k1), atol=1e-6)
    assert path.kinds == ["slerp", "slerp"]  # with_kind copies
    assert path.frames(1).shape == (1, spec.input_dim)


def test_json_round_trip_gives_identical_frames(vae, tmp_path):
    path = paths.random_path(vae, 4, kind="slerp", seed=3)
    path.kinds[1] = "linear"
    file = paths.save_path(path, tmp_path / "p.json")
    d = json.loads(file.read_text())
    assert d["version"] == 1 and d["model"]["family"] == "vae" and d["kinds"] == ["slerp", "linear", "slerp"]
    assert len(d["keyframes"]) == 4 and len(d["keyframes"][0]["z"]) == 4
    back = paths.load_path(file, vae)
    assert back.notes == [] and back.kinds == path.kinds
    for a, b in zip(path.keyframes, back.keyframes):
        assert np.array_equal(a, b)
    assert np.array_equal(path.frames(17), back.frames(17))
    fa, fb = render.render_frames(vae, path, 10), render.render_frames(vae, back, 10)
    assert len(fa) == 10 and fa[0].shape == (28, 28, 1) and fa[0].dtype == np.uint8
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))


def test_json_round_trip_with_codes(tmp_path):
    spec = LatentSpec(z_dim=2, categorical=(3,), continuous=2)
    model = RecordingModel(spec)
    path = paths.random_path(model, 2, seed=0)
    soft = path.frames(5)[2]  # a blended one-hot is saved as weights
    path = paths.LatentPath([*path.keyframes, soft], ["slerp", "linear"], path.model)
    back = paths.load_path(paths.save_path(path, tmp_path / "c.json"), model)
    d = json.loads((tmp_path / "c.json").read_text())
    assert isinstance(d["keyframes"][0]["categories"][0], int) and isinstance(d["keyframes"][2]["categories"][0], list)
    assert all(np.array_equal(a, b) for a, b in zip(path.keyframes, back.keyframes))


def test_load_path_validates(vae, tmp_path):
    path = paths.random_path(vae, 2, seed=0)
    paths.save_path(path, tmp_path / "p.json")
    other = build_model("vae", latent_dim=6, hidden=32)
    with pytest.raises(ValueError, match="4 z values.*z_dim 6"):
        paths.load_path(tmp_path / "p.json", other)
    # same latent size, different model: loads with a note
    same_size = build_model("vae", latent_dim=4, hidden=16)
    back = paths.load_path(tmp_path / "p.json", same_size)
    assert back.notes and "different model" in back.notes[0]
    d = json.loads((tmp_path / "p.json").read_text())
    d["version"] = 2
    (tmp_path / "v.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="version"):
        paths.load_path(tmp_path / "v.json", vae)
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        paths.load_path(tmp_path / "bad.json", vae)


def test_gif_and_strip(vae, tmp_path):
    path = paths.random_path(vae, 2, seed=1)
    frames = render.render_frames(vae, path, 6)
    gif = render.save_gif(frames, tmp_path / "a.gif", fps=10)
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.size == (28, 28) and im.mode in ("L", "P")
        assert im.info.get("loop") == 0 and im.info.get("duration") == 100
    with Image.open(render.save_gif(frames, tmp_path / "b.gif", fps=10, pingpong=True)) as im:
        assert im.n_frames == 10
    png = render.save_strip(frames, tmp_path / "s.png")
    with Image.open(png) as im:
        assert im.size == (6 * (28 + 2) + 2, 28 + 4)


# -- traversals ----------------------------------------------------------------------------
def test_traversal_rows_vary_only_their_dim():
    spec = LatentSpec(z_dim=5)
    model = RecordingModel(spec)
    img = traversal.traversal_grid(model, dims=[3, 1], steps=7, value_range=2.0, seed=4)
    assert img.shape == (2 * (4 + 2) + 2, 7 * (5 + 2) + 2, 1)
    seen = torch.cat(model.seen)
    assert seen.shape == (14, 5)
    base = spec.sample(1, generator=torch.Generator().manual_seed(4))[0]
    for row, d in enumerate([3, 1]):
        block = seen[row * 7 : (row + 1) * 7]
        torch.testing.assert_close(block[:, d], torch.linspace(-2, 2, 7))
        others = [i for i in range(5) if i != d]
        assert torch.equal(block[:, others], base[others].expand(7, -1))
    model.seen.clear()
    traversal.traversal_grid(model, steps=3)  # default: every z dim around the origin
    seen = torch.cat(model.seen)
    assert seen.shape == (15, 5)
    for d in range(5):
        block = seen[d * 3 : (d + 1) * 3]
        torch.testing.assert_close(block[:, d], torch.tensor([-3.0, 0.0, 3.0]))
        assert torch.count_nonzero(block[:, [i for i in range(5) if i != d]]) == 0
    with pytest.raises(ValueError, match="out of range"):
        traversal.traversal_grid(model, dims=[5])


def test_dimension_influence_ranks_dims_by_how_much_the_image_changes():
    gains = torch.tensor([0.1, 0.0, 2.0, 0.5, 1.0])

    class Gained(RecordingModel):  # pixel d = sigmoid(gain_d * z_d)
        def decode(self, latent):
            out = super().decode(latent * gains)
            self.seen[-1] = latent.detach().clone()  # remember what was asked, not the gained values
            return out

    model = Gained(LatentSpec(z_dim=5))
    influence = traversal.dimension_influence(model, value_range=2.0)
    expected = (torch.sigmoid(2.0 * gains) - torch.sigmoid(-2.0 * gains)) / 20  # one pixel of 20 changes
    torch.testing.assert_close(influence, expected)
    assert torch.argsort(-influence).tolist() == [2, 4, 3, 0, 1]
    # around another point: the held values come from it, only the swept dim moves
    model.seen.clear()
    traversal.dimension_influence(model, value_range=1.0, around=np.arange(5, dtype=np.float32))
    seen = torch.cat(model.seen)
    assert seen.shape == (10, 5) and seen[0].tolist() == [-1.0, 1, 2, 3, 4] and seen[9].tolist() == [0.0, 1, 2, 3, 1]


def test_traversal_infogan_figure():
    spec = LatentSpec(z_dim=3, categorical=(4,), continuous=2, has_encoder=False)
    model = RecordingModel(spec, image_shape=(1, 3, 10))
    img = traversal.traversal_grid(model, steps=5)
    assert img.shape == (4 * (3 + 2) + 2, 5 * (10 + 2) + 2, 1)
    seen = torch.cat(model.seen)
    z, blocks, codes = spec.split(seen)
    assert torch.equal(z, z[:1].expand(20, -1))  # fixed noise
    assert torch.equal(blocks[0].argmax(1), torch.arange(4).repeat_interleave(5))
    torch.testing.assert_close(codes[:5, 0], torch.linspace(-2, 2, 5))
    assert codes[:, 1].eq(0).all()
    assert traversal.traversal_images(model, steps=5).shape == (20, 1, 3, 10)
    assert traversal.infogan_grid(model, code=1, steps=3).shape == (4 * 5 + 2, 3 * 12 + 2, 1)


def test_latent_arithmetic_moves_noise_and_codes_and_keeps_cs_category():
    from models.latent import LatentSpec
    from models.explore.interpolation import latent_arithmetic

    spec = LatentSpec(z_dim=2, categorical=(3,), continuous=1)
    a = np.array([1.0, 2.0, 1, 0, 0, 0.5], np.float32)  # "bold 0"
    b = np.array([0.0, 2.0, 1, 0, 0, -0.5], np.float32)  # "thin 0"
    c = np.array([0.5, -1.0, 0, 0, 1, -0.5], np.float32)  # "thin 2"
    out = latent_arithmetic(spec, a, b, c)
    assert out.tolist() == pytest.approx([1.5, -1.0, 0, 0, 1, 0.5])  # "bold 2": c's category kept
    assert latent_arithmetic(spec, a, b, c, scale=0.5).tolist() == pytest.approx([1.0, -1.0, 0, 0, 1, 0.0])
    with pytest.raises(ValueError, match="three points of 6 values"):
        latent_arithmetic(spec, a[:5], b, c)
