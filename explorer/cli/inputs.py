"""What the commands read: a run's checkpoint, a dataset, and a model's own data."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .progress import download_progress


def load_run(args: argparse.Namespace, device: str = "cpu") -> Any:
    """The checkpoint named by ``args.run`` (a run folder or a file), on ``device``."""
    from models.runs.checkpoint import load_checkpoint
    from models.training.device import resolve_device

    return load_checkpoint(args.run, resolve_device(device), allow_pickle=getattr(args, "allow_pickle", False))


def load_data(name: str, data_dir: Path | None, image_size: int | None, channels: int, no_download: bool,
              quiet: bool) -> Any:
    """The dataset, with download progress on stderr unless ``quiet``; never downloads when
    ``no_download`` or the environment sets LATENT_EXPLORER_NO_DOWNLOAD=1."""
    from models.data import load_dataset
    from models.runs.opening import downloads_allowed

    progress = None if quiet else download_progress()
    return load_dataset(name, data_dir, download=downloads_allowed(not no_download), progress=progress,
                        image_size=image_size, channels=channels)


def load_model_data(model: Any, request: Any, no_download: bool, quiet: bool) -> Any:
    """The dataset of ``request`` (a models.runs.opening.DatasetRequest) checked to fit
    ``model``, with download progress on stderr unless ``quiet``."""
    from models.runs.opening import load_model_dataset

    return load_model_dataset(model, request, download=not no_download, progress=None if quiet else download_progress())
