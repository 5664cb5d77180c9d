"""The open model's test data, and a VAE's per-dimension KL.

Once a model is open (or a training run ends), Encode, the latent map, Compare and the
projection targets need the test images of the dataset it was trained on. ``ModelData``
loads that dataset in a worker (never downloading) into ``DataState``, then, for a VAE,
computes the KL of each latent dimension into ``ModelState``. Both are best effort: when
the files are not here the window says so and those features stay off.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from models.data.base import Dataset

from ..datasets import DatasetFactory
from ..jobs import JobRunner
from ..model_access import snapshot_model
from ..state import DataState, ModelState


class ModelData(QObject):
    status = Signal(str, int)  # a short status-bar message, its timeout in ms
    report = Signal(str, int)  # a message that may be long: fitted to the status bar, whole text in its tooltip

    def __init__(self, model_state: ModelState, data_state: DataState, jobs: JobRunner,
                 dataset_factory: DatasetFactory, chosen_data_dir: Callable[[str], str | None],
                 parent: QObject | None = None) -> None:
        """``chosen_data_dir(name)``: the folder chosen in Model & data for dataset ``name``, or None."""
        super().__init__(parent)
        self.model_state, self.data_state, self.jobs = model_state, data_state, jobs
        self.dataset_factory = dataset_factory
        self.chosen_data_dir = chosen_data_dir

    def load_for_model(self, dataset_name: str | None, data_dir: str | None = None) -> None:
        """Load the dataset the model was trained on (no download), then compute its KL.
        ``data_dir``: the folder the run recorded, tried after the folder chosen in Model &
        data for this dataset."""
        model = self.model_state.model
        if model is None:
            return
        shape = tuple(model.config.image_shape)
        if self.data_state.fits(shape):
            self.compute_kl()
            return
        if not dataset_name:
            return
        generation = self.model_state.generation
        c, size = shape[0], shape[-1]
        folders = [d for d in dict.fromkeys((self.chosen_data_dir(dataset_name), data_dir)) if d] or [None]
        off = "Encode and test images are" if model.latent_spec.has_encoder else "Test images (projection targets) are"
        factory = self.dataset_factory

        def load() -> Dataset:
            error: BaseException | None = None
            for folder in folders:
                try:
                    return factory(dataset_name, folder, download=False,
                                   image_size=size if dataset_name in ("shapes", "folder") else None, channels=c)
                except Exception as e:  # noqa: BLE001 - try the next folder; report the last failure
                    error = e
            raise error  # type: ignore[misc]

        def loaded(dataset: Dataset) -> None:
            if generation != self.model_state.generation:
                return
            if tuple(dataset.image_shape) != shape:
                self.report.emit(f"The {dataset_name} images are {tuple(dataset.image_shape)}, the model's are {shape}: "
                                 f"{off} off.", 10000)
                return
            self.data_state.set_dataset(dataset)
            self.compute_kl()

        def failed(e: BaseException) -> None:  # not fatal: Encode, KL and test images just stay unavailable
            self.report.emit(f"{off} off: the {dataset_name} files are not here "
                             f"(choose their folder in Model & data, then open the model again). {e}", 10000)

        self.jobs.submit(lambda _ctx: load(), loaded, failed)

    def compute_kl(self) -> None:
        """A VAE's KL per latent dimension on the test images, in a worker, into ModelState."""
        from models.families.vae import VAE
        from models.metrics.report import kl_per_dimension

        model, dataset = self.model_state.model, self.data_state.dataset
        if not isinstance(model, VAE) or dataset is None:
            return
        generation = self.model_state.generation
        clone = snapshot_model(self.model_state)  # the worker reads its own copy; the GUI keeps decoding

        def compute() -> np.ndarray:
            return kl_per_dimension(clone, dataset.test, n=1000).numpy()

        self.jobs.submit(lambda _ctx: compute(), lambda kl: self.model_state.set_kl(kl, generation),
                         lambda e: self.status.emit(f"Could not compute per-dimension KL: {e}", 8000))
