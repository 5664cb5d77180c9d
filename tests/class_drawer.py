"""A stand-in class-conditional model for the tests of class control (the class buttons,
traversal rows = classes, sessions): its latent spec declares a class label and its decoder
draws that label where a test can read it back. One copy for every test folder (tests/ is on
sys.path through its root conftest).

The image (1, 16, 16): pixel row ``c`` holds the weight of class ``c`` in the one-hot block
(a clean one-hot lights exactly one row, so :func:`drawn_class` reads the class back), and
the bottom two rows hold sigmoid(z0), so a sweep of z0 changes every image of a row.
"""
from __future__ import annotations

import torch
from torch import nn

from models.families.base import LatentModel, ModelConfig
from models.latent import LatentSpec

DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SHAPES = ("square", "ellipse", "heart")
#: the image side: room for up to 14 classes' rows above the z0 rows
SIDE = 16


class ClassDrawer(LatentModel):
    """Decoder-only and class-conditional: categorical code 0 is the class (``names``);
    ``extra_codes`` adds InfoGAN-style categorical codes after it."""

    family = "class-drawer"

    def __init__(self, names: tuple[str, ...] = DIGITS, z_dim: int = 4, extra_codes: tuple[int, ...] = (),
                 has_encoder: bool = False) -> None:
        super().__init__(ModelConfig(image_shape=(1, SIDE, SIDE)))
        if len(names) > SIDE - 2:
            raise ValueError(f"the stand-in draws at most {SIDE - 2} classes")
        self._spec = LatentSpec(z_dim=z_dim, categorical=(len(names), *extra_codes), class_names=tuple(names),
                                has_encoder=has_encoder)
        self.gain = nn.Parameter(torch.ones(()))  # a parameter, so the model has a device like any other

    @property
    def latent_spec(self) -> LatentSpec:
        return self._spec

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        spec = self._spec
        z, blocks, _ = spec.split(latent)
        image = latent.new_zeros(latent.shape[0], 1, SIDE, SIDE)
        image[:, 0, : spec.categorical[0], :] = (blocks[0] * self.gain)[:, :, None].clamp(0, 1)
        image[:, 0, SIDE - 2 :, :] = torch.sigmoid(z[:, :1])[:, :, None]
        return image

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Reads the drawn class back (for the encoder variant): z = 0, the brightest row's class."""
        if not self._spec.has_encoder:
            return super().encode(x)
        rows = x[:, 0, : self._spec.categorical[0], :].mean(2)
        cats = torch.zeros(x.shape[0], len(self._spec.categorical), dtype=torch.long)
        cats[:, 0] = rows.argmax(1)
        return self._spec.compose(x.new_zeros(x.shape[0], self._spec.z_dim), cats)


def drawn_class(image) -> int:
    """The class a ClassDrawer image shows: its brightest class row (image (H, W) or (1, H, W),
    float in [0, 1] or uint8)."""
    import numpy as np

    a = np.asarray(image, np.float32).reshape(SIDE, SIDE)
    return int(a[: SIDE - 2].mean(1).argmax())
