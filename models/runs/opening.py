"""Opening a model with its data: which dataset a checkpoint's model was trained on, and
loading that dataset in the model's own image shape.

A checkpoint's training state records the dataset's name and, for data read from files,
the folder it came from (``data_dir``); the model's ``image_shape`` says the size and the
channels. :func:`dataset_request` turns the two into a :class:`DatasetRequest`, the one
description of "this model's data" that ``eval``, ``traverse``, ``train --resume`` and the
window's Continue training, Encode and KL all load:

* the name: the one asked for, else the recorded one;
* the folder: the one given, else the recorded one when the dataset is the recorded one
  (another dataset's files are elsewhere);
* the image size: the model's side for the datasets that come in several sizes (shapes,
  image folders), none for the fixed-size ones (MNIST variants are 28x28 whatever is asked);
* the channels: the model's for an image folder (an RGB model reads the folder as RGB),
  1 for the built-in greyscale sets.

:func:`load_model_dataset` loads a request and checks the images fit the model, with one
message when they do not (:class:`ShapeMismatch`).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from models.data import load_dataset
from models.data.base import Dataset
from models.data.download import Progress
from models.families.base import LatentModel

#: datasets that come in several image sizes (the others have one, and refuse any other)
RESIZABLE = ("shapes", "folder")
#: datasets whose images may have 3 channels (the built-in sets are greyscale)
COLOUR = ("folder",)
#: set to 1 (offline machines, CI): never download, so a missing file is a clear error
NO_DOWNLOAD_ENV = "LATENT_EXPLORER_NO_DOWNLOAD"

#: ``loader(name, data_dir, *, download, progress, image_size, channels) -> Dataset``, the
#: signature of :func:`models.data.load_dataset` (the window passes its own in tests)
DatasetLoader = Callable[..., Dataset]


class ShapeMismatch(ValueError):
    """The dataset's images are not the shape the model works on."""


@dataclass(frozen=True)
class DatasetRequest:
    """What to pass to :func:`models.data.load_dataset` to get a model's data."""

    name: str
    #: the files' folder (MNIST files, the image folder); None: the dataset's default place
    data_dir: Path | None = None
    #: image side for the datasets that come in several sizes; None: the dataset's own
    image_size: int | None = None
    #: 1 (grey) or 3 (RGB); only image folders take 3
    channels: int = 1

    def with_data_dir(self, data_dir: str | Path | None) -> "DatasetRequest":
        """The same request with the files looked for in ``data_dir``."""
        return dataclasses.replace(self, data_dir=Path(data_dir).expanduser() if data_dir else None)


def recorded_data_dir(train_state: Mapping[str, Any]) -> Path | None:
    """The folder a run's data came from, where its checkpoint records one."""
    recorded = train_state.get("data_dir")
    return Path(recorded) if isinstance(recorded, str) and recorded else None


def dataset_request(model: LatentModel, train_state: Mapping[str, Any], name: str | None = None,
                    data_dir: str | Path | None = None, default: str | None = None) -> DatasetRequest:
    """The data ``model`` (of a checkpoint whose training state is ``train_state``) works on.

    ``name``: a dataset asked for instead of the recorded one; ``data_dir``: a folder given
    instead of the recorded one; ``default``: the dataset when neither ``name`` nor the
    checkpoint says one. Raises ValueError when no dataset is known at all.
    See the module docstring for how size and channels follow the model.
    """
    recorded = train_state.get("dataset")
    recorded = recorded if isinstance(recorded, str) and recorded else None
    chosen = name or recorded or default
    if not chosen:
        raise ValueError("this checkpoint does not record its dataset")
    folder = Path(data_dir).expanduser() if data_dir else (recorded_data_dir(train_state) if chosen == recorded else None)
    c, h, _ = model.config.image_shape
    return DatasetRequest(name=chosen, data_dir=folder, image_size=int(h) if chosen in RESIZABLE else None,
                          channels=int(c) if chosen in COLOUR else 1)


def downloads_allowed(download: bool = True) -> bool:
    """``download``, unless the environment forbids downloads (``LATENT_EXPLORER_NO_DOWNLOAD=1``)."""
    return download and os.environ.get(NO_DOWNLOAD_ENV) != "1"


def check_fits(model: LatentModel, dataset: Dataset) -> None:
    """Raise :class:`ShapeMismatch` unless ``dataset``'s images are the model's shape."""
    want, have = tuple(model.config.image_shape), tuple(dataset.image_shape)
    if want != have:
        raise ShapeMismatch(f"the model works on {want} images but {dataset.name} has {have}")


def load_model_dataset(model: LatentModel, request: DatasetRequest, *, download: bool = True,
                       progress: Progress | None = None, loader: DatasetLoader | None = None) -> Dataset:
    """Load ``request`` (downloading only when ``download`` and the environment allow it,
    with ``progress(done, total)`` in bytes) and check its images fit ``model``.

    Raises the loader's DataError when the files are missing, and :class:`ShapeMismatch`
    (a ValueError) when the images are not the model's shape.
    """
    load = loader or load_dataset
    dataset = load(request.name, request.data_dir, download=downloads_allowed(download), progress=progress,
                   image_size=request.image_size, channels=request.channels)
    check_fits(model, dataset)
    return dataset
