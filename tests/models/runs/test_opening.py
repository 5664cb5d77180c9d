"""Opening a model with its data (models.runs.opening): the request a checkpoint implies,
and loading it in the model's shape."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.data.base import DataError
from models.families.registry import build_model
from models.runs.opening import (DatasetRequest, ShapeMismatch, dataset_request, load_model_dataset,
                                 recorded_data_dir)


def _rgb_folder(root: Path, n: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def test_an_rgb_folder_model_gets_its_folder_in_rgb_at_its_size(tmp_path):
    """The window's Continue training loaded an RGB model's folder as greyscale: "the model
    works on (3, 16, 16) images but folder has (1, 16, 16)". The request follows the model."""
    folder = _rgb_folder(tmp_path / "imgs")
    model = build_model("vae", latent_dim=2, hidden=8, image_shape=(3, 16, 16))
    state = {"dataset": "folder", "data_dir": str(folder)}
    request = dataset_request(model, state)
    assert request == DatasetRequest("folder", folder, 16, 3)
    dataset = load_model_dataset(model, request)
    assert tuple(dataset.image_shape) == (3, 16, 16)


def test_the_recorded_folder_serves_only_the_recorded_dataset(tmp_path):
    model = build_model("vae", latent_dim=2, hidden=8)
    state = {"dataset": "mnist", "data_dir": str(tmp_path / "mnist")}
    assert recorded_data_dir(state) == tmp_path / "mnist"
    assert recorded_data_dir({"data_dir": None}) is None and recorded_data_dir({}) is None
    assert dataset_request(model, state) == DatasetRequest("mnist", tmp_path / "mnist", None, 1)
    assert dataset_request(model, state, name="shapes") == DatasetRequest("shapes", None, 28, 1)
    assert dataset_request(model, state, data_dir=tmp_path / "x").data_dir == tmp_path / "x"
    assert dataset_request(model, state).with_data_dir(str(tmp_path / "y")).data_dir == tmp_path / "y"
    with pytest.raises(ValueError, match="does not record its dataset"):
        dataset_request(model, {})
    assert dataset_request(model, {}, default="shapes").name == "shapes"


def test_a_dataset_of_another_shape_is_one_clear_error(tmp_path):
    folder = _rgb_folder(tmp_path / "imgs")
    model = build_model("vae", latent_dim=2, hidden=8, image_shape=(3, 16, 16))
    grey = DatasetRequest("folder", folder, 16, 1)
    with pytest.raises(ShapeMismatch, match=r"the model works on \(3, 16, 16\) images but folder has \(1, 16, 16\)"):
        load_model_dataset(model, grey)


def test_no_download_when_the_environment_forbids_it(tmp_path, monkeypatch):
    seen = {}

    def loader(name, data_dir, *, download, progress, image_size, channels):
        seen.update(name=name, download=download, image_size=image_size, channels=channels)
        raise DataError("not here")

    model = build_model("vae", latent_dim=2, hidden=8)
    monkeypatch.setenv("LATENT_EXPLORER_NO_DOWNLOAD", "1")
    with pytest.raises(DataError):
        load_model_dataset(model, DatasetRequest("mnist"), download=True, loader=loader)
    assert seen == {"name": "mnist", "download": False, "image_size": None, "channels": 1}
    monkeypatch.setenv("LATENT_EXPLORER_NO_DOWNLOAD", "0")
    with pytest.raises(DataError):
        load_model_dataset(model, DatasetRequest("mnist"), loader=loader)
    assert seen["download"] is True
