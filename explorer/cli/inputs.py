"""What the commands read: a run's checkpoint, a dataset, and the data folder a run recorded."""
from __future__ import annotations

import argparse
import os
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

    progress = None if quiet else download_progress()
    no_download = no_download or os.environ.get("LATENT_EXPLORER_NO_DOWNLOAD") == "1"
    return load_dataset(name, data_dir, download=not no_download, progress=progress, image_size=image_size, channels=channels)


def recorded_data_dir(train_state: dict) -> Path | None:
    """The folder a run's data came from, where its checkpoint records one."""
    recorded = train_state.get("data_dir")
    return Path(recorded) if recorded else None
