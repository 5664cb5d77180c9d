"""One model in the Compare panel's list: its name and the panel's private copy of it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.families.base import LatentModel

from ...model_access import model_name


@dataclass
class CompareEntry:
    name: str
    model: LatentModel  # a private CPU eval copy
    source: Path | None = None

    @property
    def description(self) -> str:
        spec = self.model.latent_spec
        return f"{self.name}  ·  {model_name(self.model)}, latent {spec.input_dim}"
