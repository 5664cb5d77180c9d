"""The data interface every source implements.

A source yields a train and a test :class:`Split`. Splits hand out float32 batches in
[0, 1] of shape (B, C, H, W) *on the device of the index tensor*, so the training loop
draws batches on the GPU without a per-item Python DataLoader; labelled splits hand out
the class labels of the same indices alike (``batch_labels``: what the class-conditional
families train on).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


class DataError(RuntimeError):
    """A dataset could not be loaded; the message says what to do about it."""


class Split:
    """One split of a dataset: images addressed by integer index."""

    #: (C, H, W) of every image
    image_shape: tuple[int, int, int]
    #: (N,) int64 class labels, or None when the data has none
    labels: torch.Tensor | None = None
    #: (N, F) ground-truth factors (shapes only), or None
    factors: torch.Tensor | None = None
    #: names of the factor columns
    factor_names: tuple[str, ...] = ()

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Images at ``idx`` as float32 (B, C, H, W) in [0, 1] on ``idx.device``."""
        raise NotImplementedError  # pragma: no cover - interface

    def batch_labels(self, idx: torch.Tensor) -> torch.Tensor:
        """Class labels at ``idx`` as int64 (B,) on ``idx.device``: no host read, so a
        captured training step gathers them on the device. DataError when the split has none."""
        labels = self.labels
        if labels is None:
            raise DataError("these images have no class labels")
        return labels[idx.to(labels.device)].to(idx.device, non_blocking=True)

    def to(self, device: torch.device | str) -> "Split":
        """A split whose storage lives on ``device`` (a no-op when already there)."""
        raise NotImplementedError  # pragma: no cover - interface

    def all_images(self, limit: int | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
        """The first ``limit`` images (all when None) as one float tensor."""
        n = len(self) if limit is None else min(limit, len(self))
        return self.batch(torch.arange(n, device=device))


def split_labels(model: Any, split: Split, idx: torch.Tensor) -> torch.Tensor | None:
    """The labels at ``idx`` (on ``idx.device``) for a class-conditional ``model`` when every
    image of ``split`` has one, else None (an unconditional model, or unlabelled images: a
    cvae then infers the classes). How the held-out figures and the latent map give a
    conditional encoder the true classes."""
    labels = split.labels
    if not getattr(model, "conditional", False) or labels is None or len(labels) != len(split):
        return None
    return split.batch_labels(idx)


class TensorSplit(Split):
    """Images held as a uint8 tensor (N, C, H, W): 1 byte per pixel, converted per batch."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        factors: torch.Tensor | None = None,
        factor_names: tuple[str, ...] = (),
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.labels = labels
        self.factors = factors
        self.factor_names = factor_names
        self.image_shape = tuple(images.shape[1:])  # type: ignore[assignment]

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        if idx.device != self.images.device:
            return self.images[idx.to(self.images.device)].to(idx.device, non_blocking=True).float().div_(255.0)
        return self.images[idx].float().div_(255.0)

    def to(self, device: torch.device | str) -> "TensorSplit":
        device = torch.device(device)
        if self.images.device == device:
            return self
        # the labels travel with the images: a conditional family's step gathers both there
        labels = self.labels.to(device) if self.labels is not None else None
        return TensorSplit(self.images.to(device), labels, self.factors, self.factor_names)


@dataclass
class Dataset:
    """A named pair of splits plus what the GUI needs to label things."""

    name: str
    train: Split
    test: Split
    #: human-readable class names indexed by label (e.g. "0".."9" or "T-shirt"...)
    class_names: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.image_shape

    @property
    def labelled(self) -> bool:
        """Whether every image of both splits has a class label (the scoring classifier needs them)."""
        return all(s.labels is not None and len(s.labels) == len(s) for s in (self.train, self.test))

    @property
    def data_dir(self) -> str | None:
        """The folder the files came from (None for generated data): checkpoints record it
        so that opening a run later finds its test images without asking."""
        return self.info.get("path") or self.info.get("source")

    def to(self, device: torch.device | str) -> "Dataset":
        return Dataset(self.name, self.train.to(device), self.test.to(device), self.class_names, self.info)
