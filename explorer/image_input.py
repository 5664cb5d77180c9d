"""Images into the latent space: reading an image file as the model sees it, and encoding it.

What the Encode buttons, dropped image files and the projection and compare panels use.
"""
from __future__ import annotations

import numpy as np
import torch

from models.foreign.protocol import unavailable

from models.io.images import IMAGE_SUFFIXES, read_image_tensor

from .state import ModelState

#: the file dialogs' filter for the images the app reads
IMAGE_FILTER = "Images (" + " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES) + ")"


def encode_images(model_state: ModelState, x: torch.Tensor, labels: torch.Tensor | None = None) -> np.ndarray:
    """(1, C, H, W) in [0, 1] -> the model's flat latent (its mean for a VAE), float32. A
    class-conditional encoder takes the image's ``labels`` when they are known (a test
    image's), else picks the class itself."""
    with model_state.lock, torch.no_grad():
        model = model_state.model
        if model is None:
            raise ValueError("no model is loaded")
        if not model.latent_spec.has_encoder:
            raise ValueError(unavailable(model, "encode") or f"{model.family} has no encoder: it cannot map images to its latent space")
        shape = tuple(model.config.image_shape)
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"the image is {tuple(x.shape[1:])} but the model reads {shape}")
        given = {"labels": labels.long()} if labels is not None and getattr(model, "conditional", False) else {}
        return model.encode(x.float(), **given)[0].numpy().astype(np.float32)


def load_image_file(path: str, image_shape: tuple[int, int, int], invert_light: bool = True) -> tuple[torch.Tensor, bool]:
    """An image file as the model sees it, (1, C, H, W) in [0, 1]; ``ValueError`` with the reason if unreadable.

    Prepared as the folder dataset prepares its images (:func:`models.io.images.read_image`);
    a mostly-light greyscale image is inverted, since the built-in datasets are light on black."""
    return read_image_tensor(path, image_shape, invert_light=invert_light)
