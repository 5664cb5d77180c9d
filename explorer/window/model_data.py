"""The open model's test data, and its per-dimension KL.

Once a model is open (or a training run ends), Encode, the latent map, Compare and the
projection targets need the test images of the dataset it was trained on. ``ModelData``
loads that dataset in a worker (never downloading) into ``DataState``, in the model's own
image size and colour (``models.runs.opening``: the data ``eval``, ``traverse`` and
``train --resume`` read too), then, for a model with a Gaussian posterior
(``models.metrics.kl.has_kl``), computes the KL of each latent dimension into
``ModelState``. Both are best effort: when the files are not here the window says so and
those features stay off.

A model made elsewhere records no dataset: the one chosen in Model & data gives its test
images (when they are the model's size), and choosing another there loads that one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from models.data.base import Dataset
from models.foreign.protocol import ForeignModel
from models.metrics.kl import has_kl, kl_per_dimension
from models.runs.opening import DatasetRequest, ShapeMismatch, dataset_request, load_model_dataset

from ..datasets import DatasetFactory
from ..jobs import JobRunner
from ..model_access import snapshot_model
from ..state import DataState, ModelState


class ModelData(QObject):
    status = Signal(str, int)  # a short status-bar message, its timeout in ms
    report = Signal(str, int)  # a message that may be long: fitted to the status bar, whole text in its tooltip

    def __init__(self, model_state: ModelState, data_state: DataState, jobs: JobRunner,
                 dataset_factory: DatasetFactory, chosen_data_dir: Callable[[str], str | None],
                 parent: QObject | None = None, chosen_dataset: Callable[[], str | None] | None = None) -> None:
        """``chosen_data_dir(name)``: the folder chosen in Model & data for dataset ``name``, or None;
        ``chosen_dataset()``: the dataset chosen there (a model made elsewhere reads its test images)."""
        super().__init__(parent)
        self.model_state, self.data_state, self.jobs = model_state, data_state, jobs
        self.dataset_factory = dataset_factory
        self.chosen_data_dir = chosen_data_dir
        self.chosen_dataset = chosen_dataset or (lambda: None)

    def requests(self) -> list[DatasetRequest]:
        """The open model's data, in the folders to try: the one chosen in Model & data for
        its dataset, then the one its checkpoint records (or the dataset's default place when
        neither says one). Empty when no model is open or it records no dataset."""
        model, train_state = self.model_state.model, self.model_state.train_state
        if model is None:
            return []
        default = self.chosen_dataset() if isinstance(model, ForeignModel) else None
        try:
            recorded = dataset_request(model, train_state, default=default)
        except ValueError:  # no dataset recorded: nothing to load
            return []
        chosen = self.chosen_data_dir(recorded.name)
        folders = dict.fromkeys(Path(d).expanduser() for d in (chosen, recorded.data_dir) if d)
        return [recorded.with_data_dir(folder) for folder in folders] or [recorded]

    def dataset_choice_changed(self) -> None:
        """Another dataset was chosen in Model & data: a model made elsewhere reads that one now."""
        if isinstance(self.model_state.model, ForeignModel):
            self.load_for_model(again=True)

    def load_for_model(self, again: bool = False) -> None:
        """Load the dataset the open model was trained on (no download), then compute its KL.
        ``again``: even when the dataset at hand fits the model."""
        model = self.model_state.model
        if model is None:
            return
        if not again and self.data_state.fits(tuple(model.config.image_shape)):
            self.compute_kl()
            return
        requests = self.requests()
        if not requests:
            return
        name = requests[0].name
        generation = self.model_state.generation
        off = "Encode and test images are" if model.latent_spec.has_encoder else "Test images (projection targets) are"
        factory = self.dataset_factory

        def load() -> Dataset:
            error: BaseException | None = None
            for request in requests:
                try:
                    return load_model_dataset(model, request, download=False, loader=factory)
                except ShapeMismatch:  # the files are here, but not in the model's shape
                    raise
                except Exception as e:  # noqa: BLE001 - try the next folder; report the last failure
                    error = e
            raise error  # type: ignore[misc]

        def loaded(dataset: Dataset) -> None:
            if generation == self.model_state.generation:
                self.data_state.set_dataset(dataset)
                if isinstance(model, ForeignModel):
                    self.report.emit(f"Test images: the {dataset.name} test set chosen in Model & data "
                                     "(a model made elsewhere comes with no dataset).", 8000)
                self.compute_kl()

        def failed(e: BaseException) -> None:  # not fatal: Encode, KL and test images just stay unavailable
            if isinstance(e, ShapeMismatch):
                other = " (choose a dataset of its size in Model & data)" if isinstance(model, ForeignModel) else ""
                self.report.emit(f"{off} off: {e}{other}.", 10000)
            else:
                self.report.emit(f"{off} off: the {name} files are not here "
                                 f"(choose their folder in Model & data, then open the model again). {e}", 10000)

        self.jobs.submit(lambda _ctx: load(), loaded, failed)

    def compute_kl(self) -> None:
        """The KL per latent dimension on the test images, in a worker, into ModelState
        (for models that have one: ``has_kl``)."""
        model, dataset = self.model_state.model, self.data_state.dataset
        if not has_kl(model) or dataset is None:
            return
        generation = self.model_state.generation
        clone = snapshot_model(self.model_state)  # the worker reads its own copy; the GUI keeps decoding

        def compute() -> np.ndarray:
            return kl_per_dimension(clone, dataset.test).numpy()

        self.jobs.submit(lambda _ctx: compute(), lambda kl: self.model_state.set_kl(kl, generation),
                         lambda e: self.status.emit(f"Could not compute per-dimension KL: {e}", 8000))
