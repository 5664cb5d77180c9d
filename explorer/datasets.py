"""How the window gets a dataset by name: the factory the training run and the open model's
test data go through, replaceable so tests can feed a tiny dataset instead.

A factory has the signature of ``models.data.load_dataset``, so it is also the ``loader``
of ``models.runs.opening.load_model_dataset`` (a model's own data: Continue training, the
open model's test images). A fresh run passes the form's image size and channels."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from models.data.base import Dataset


class DatasetFactory(Protocol):
    def __call__(self, name: str, data_dir: str | Path | None = None, *, download: bool = True,
                 progress: Callable[[int, int], None] | None = None, image_size: int | None = None,
                 channels: int = 1) -> Dataset: ...


def default_dataset_factory(name: str, data_dir: str | Path | None = None, *, download: bool = True,
                            progress: Callable[[int, int], None] | None = None,
                            image_size: int | None = None, channels: int = 1) -> Dataset:
    """``models.data.load_dataset``."""
    from models.data import load_dataset  # imported late: the data module is optional at import time

    return load_dataset(name, data_dir, download=download, progress=progress, image_size=image_size,
                        channels=channels)
