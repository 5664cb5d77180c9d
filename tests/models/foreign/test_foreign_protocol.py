"""A foreign model works wherever the app's own do (the engine's explore functions, copies,
configs), and says in one line what it cannot do."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from models.explore.latent_map import encode_dataset
from models.explore.latent_paths import model_fingerprint, random_path
from models.explore.projection import project
from models.explore.render import render_frames
from models.explore.traversal import traversal_grid
from models.families.registry import build_model
from models.foreign.open import open_foreign
from models.foreign.protocol import FEATURES, is_trainable, unavailable
from models.metrics.kl import kl_per_dimension


@pytest.fixture
def vae(examples_vae, tmp_path):
    torch.save(examples_vae.state_dict(), tmp_path / "vae.pth")
    return open_foreign(tmp_path / "vae.pth", allow_pickle=True)


@pytest.fixture
def gan(small_generator, tmp_path):
    torch.save(small_generator.state_dict(), tmp_path / "netG.pth")
    return open_foreign(tmp_path / "netG.pth", allow_pickle=True)


def test_the_engines_explore_functions_take_a_foreign_vae(vae, tiny_dataset):
    assert traversal_grid(vae, dims=[0, 1], steps=3).dtype == np.uint8
    frames = render_frames(vae, random_path(vae, 3, seed=0), 4)
    assert len(frames) == 4 and frames[0].shape[:2] == (28, 28)
    codes, *_ = encode_dataset(vae, tiny_dataset.test, n=10)
    assert codes.shape == (10, 20)
    assert kl_per_dimension(vae, tiny_dataset.test).shape == (20,)
    result = project(vae, tiny_dataset.test.batch(torch.arange(1))[0], steps=3, restarts=1)
    assert result.latent.shape[-1] == 20


def test_copies_configs_and_fingerprints_work(vae, gan):
    for model in (vae, gan):
        clone = copy.deepcopy(model)  # what the window does for every background job
        z = model.sample_latents(2, torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert torch.equal(clone.decode(z), model.decode(z))
        info = json.loads(model.config.to_json())
        assert info["kind"].startswith("pytorch-examples") and info["source"].endswith(".pth")
        assert len(model_fingerprint(model)) == 16
        assert model.family == "foreign" and model.device == torch.device("cpu")
        assert model.preview_latents(torch.Generator().manual_seed(0)).shape == (64, model.latent_spec.input_dim)


def test_an_onnx_model_copies_without_copying_its_session(gan, tmp_path):
    pytest.importorskip("onnxruntime")
    from models.foreign.export import export_onnx

    export_onnx(gan, tmp_path / "g")
    model = open_foreign(tmp_path / "g")
    clone = copy.deepcopy(model)
    assert clone.decoder_net is model.decoder_net
    assert unavailable(model, "project") is not None and "gradients" in unavailable(model, "project")


def test_what_a_foreign_model_cannot_do_is_said(vae, gan):
    family_model = build_model("vae", {"latent_dim": 2, "hidden": 8})
    assert is_trainable(family_model) and not is_trainable(vae) and not is_trainable(None)
    assert all(unavailable(family_model, f) is None for f in FEATURES)
    assert "no KL" in unavailable(build_model("ae", {"latent_dim": 2, "hidden": 8}), "kl")
    assert unavailable(vae, "encode") is None and unavailable(vae, "kl") is None and unavailable(vae, "project") is None
    encode = unavailable(gan, "encode")
    assert "no encoder" in encode and "DCGAN generator" in encode and "netG.pth" in encode
    assert "own model families" in unavailable(vae, "train")
    assert "export" in unavailable(vae, "save_checkpoint")
    assert unavailable(None, "decode") == "Open or train a model first."
    with pytest.raises(NotImplementedError, match="own model families"):
        vae.loss(torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match="unknown feature"):
        unavailable(vae, "fly")
