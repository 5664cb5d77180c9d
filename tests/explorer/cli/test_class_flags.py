"""The class flags of the CLI: ``sample --class``, ``decode --class`` and ``encode --labels /
--class`` for the class-conditional families, by class number or name, refused in one line
where they do not apply; and ``train``'s flags for them, generated from their configs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.cli import main
from models.families.registry import build_model
from models.runs.checkpoint import save_checkpoint

NAMES = ("T-shirt/top", "Trouser", "Pullover")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A small untrained cvae and cgan of three named classes, saved as checkpoints. Their
    weights are spread wide (DCGAN's N(0, 0.02) makes every class decode to nearly the same
    grey), so that the class shows in what they decode."""
    folder = tmp_path_factory.mktemp("conditional")
    torch.manual_seed(0)
    out = {}
    for family, kw in (("cvae", dict(arch="mlp", hidden=16, latent_dim=3)), ("cgan", dict(z_dim=6, g_channels=4, d_channels=4,
                                                                            fc_hidden=16, ema=0.0))):
        model = build_model(family, {**kw, "num_classes": 3, "class_names": NAMES}).eval()
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() > 1:
                    p.normal_(0, 0.3)
        out[family] = (save_checkpoint(folder / f"{family}.safetensors", model, {"step": 0}), model)
    out["vae"] = (save_checkpoint(folder / "vae.safetensors", build_model("vae", hidden=8, latent_dim=2).eval(),
                                  {"step": 0}), None)
    return out


@pytest.mark.parametrize("family", ["cvae", "cgan"])
@pytest.mark.parametrize("given", ["1", "Trouser", "trouser"])
def test_sample_class_decodes_every_sample_as_that_class(family, given, checkpoints, tmp_path):
    path, model = checkpoints[family]
    out = tmp_path / "s.npy"
    assert main(["sample", str(path), "--n", "5", "--seed", "3", "--class", given, "--out", str(out)]) == 0
    spec = model.latent_spec
    z = spec.split(model.sample_latents(5, generator=torch.Generator().manual_seed(3)))[0]
    with torch.no_grad():
        want = model.decode(spec.compose(z, torch.ones(5, 1, dtype=torch.long))).numpy()
    np.testing.assert_allclose(np.load(out), want, atol=1e-6)
    # and not what another class looks like
    assert main(["sample", str(path), "--n", "5", "--seed", "3", "--class", "0", "--out", str(out)]) == 0
    assert np.abs(np.load(out) - want).max() > 0.01


@pytest.mark.parametrize("argv,needle", [
    (["--class", "Sandal"], "--class 'Sandal': cvae has 3 classes: 0 'T-shirt/top', 1 'Trouser', 2 'Pullover'"),
    (["--class", "3"], "cvae has 3 classes"),
    (["--class", "1", "--categorical", "1"], "give --class or --categorical, not both"),
])
def test_sample_refuses_a_class_the_model_lacks_in_one_line(argv, needle, checkpoints, tmp_path, capsys):
    path, _ = checkpoints["cvae"]
    assert main(["sample", str(path), "--out", str(tmp_path / "s.npy"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s.npy").exists()


def test_class_flags_on_a_model_without_classes_say_so(checkpoints, tmp_path, capsys):
    path, _ = checkpoints["vae"]
    assert main(["sample", str(path), "--class", "1", "--out", str(tmp_path / "s.npy")]) == 2
    assert "--class is for class-conditional models (cvae, cgan); vae has no class label" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 28, 28), np.float32))
    assert main(["encode", str(path), "--images", str(tmp_path / "x.npy"), "--class", "1",
                 "--out", str(tmp_path / "z.npy")]) == 2
    assert "vae has no class label" in capsys.readouterr().err


def test_decode_class_overrides_code_0_of_every_latent(checkpoints, tmp_path):
    path, model = checkpoints["cgan"]
    spec = model.latent_spec
    flat = spec.compose(torch.randn(4, spec.z_dim), torch.tensor([[0], [1], [2], [0]]))
    np.save(tmp_path / "z.npy", flat.numpy())
    assert main(["decode", str(path), "--z", str(tmp_path / "z.npy"), "--class", "Pullover",
                 "--out", str(tmp_path / "x.npy")]) == 0
    with torch.no_grad():
        want = model.decode(spec.compose(flat[:, :spec.z_dim], torch.full((4, 1), 2))).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "x.npy"), want, atol=1e-6)


def test_encode_takes_the_cvaes_labels_from_a_file_or_a_flag(checkpoints, tmp_path, capsys):
    path, model = checkpoints["cvae"]
    x = torch.rand(5, 1, 28, 28)
    labels = np.array([2, 0, 1, 1, 0])
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "y.npy", labels)
    z_dim = model.latent_spec.z_dim

    assert main(["encode", str(path), "--images", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--out", str(tmp_path / "z.npy")]) == 0
    codes = np.load(tmp_path / "z.npy")
    with torch.no_grad():
        want = model.encode(x, torch.from_numpy(labels)).numpy()
    np.testing.assert_allclose(codes, want, atol=1e-6)
    assert (codes[:, z_dim:].argmax(1) == labels).all()

    assert main(["encode", str(path), "--images", str(tmp_path / "x.npy"), "--class", "Trouser",
                 "--out", str(tmp_path / "z.npy")]) == 0
    assert (np.load(tmp_path / "z.npy")[:, z_dim:].argmax(1) == 1).all()

    # without labels: each image's class of highest ELBO
    assert main(["encode", str(path), "--images", str(tmp_path / "x.npy"), "--out", str(tmp_path / "z.npy")]) == 0
    with torch.no_grad():
        best = model.class_elbo(x).argmax(1).numpy()
    assert (np.load(tmp_path / "z.npy")[:, z_dim:].argmax(1) == best).all()
    capsys.readouterr()


@pytest.mark.parametrize("labels,needle", [
    (np.array([0, 1]), "must be 5 integers, one per image"),
    (np.array([0, 1, 2, 3, 0]), "run from 0 to 3; this cvae has classes 0 to 2"),
    (np.array([0, 1.5, 2, 0, 0]), "must be whole numbers"),
])
def test_encode_refuses_labels_that_do_not_fit(labels, needle, checkpoints, tmp_path, capsys):
    path, _ = checkpoints["cvae"]
    np.save(tmp_path / "x.npy", np.zeros((5, 1, 28, 28), np.float32))
    np.save(tmp_path / "y.npy", labels)
    assert main(["encode", str(path), "--images", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--out", str(tmp_path / "z.npy")]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "z.npy").exists()


def test_train_help_lists_the_conditional_families_without_their_data_fields(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "cvae" in text and "cgan" in text
    # the classes come from the data: no flag a user would have to type a tuple into
    assert "--num-classes" not in text and "--class-names" not in text
