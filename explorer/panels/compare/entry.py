"""One model in the Compare panel's list: its name and the panel's private copy of it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models.data.base import Dataset
from models.families.base import LatentModel

#: the current dataset, or None before one is loaded (the Compare tabs read their test images from it)
DatasetProvider = Callable[[], "Dataset | None"]


@dataclass
class CompareEntry:
    name: str
    model: LatentModel  # a private CPU eval copy
    source: Path | None = None

    @property
    def description(self) -> str:
        spec = self.model.latent_spec
        return f"{self.name}  ·  {self.model.family}, latent {spec.input_dim}"
