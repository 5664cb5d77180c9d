"""What the class-conditional families (cvae, cgan) share: the class fields of their configs,
the classes' names, and :class:`ClassConditional`, the mixin that lays their latent out.

A conditional model's flat latent is ``[z | one-hot class]``: the class is categorical code 0
of its :class:`~models.latent.LatentSpec`, named by ``class_names``, so ``decode(flat)`` needs
no labels and every tool that handles categorical codes (the class buttons, traversal rows =
classes, ``sample --class K``) handles it. Training hands these families ``(images, labels)``
batches (see :mod:`models.families.base`).

The number of classes and their names come from the training data
(:meth:`ClassConditional.config_from_data`, which both train entries call) and live in the
config, so a checkpoint opened later without its data still names its classes.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from models.data.base import DataError
from models.latent import LatentSpec, one_hot

#: the most classes a conditional model may have (a folder of 10,000 subfolders is no class label)
MAX_CLASSES = 10_000
#: the longest class name kept (a folder name, a garment)
MAX_NAME = 256
#: the preview grid shows at most this many classes, one row each
PREVIEW_ROWS = 10

NUM_CLASSES_DOC = "number of classes, set from the training data's labels"
CLASS_NAMES_DOC = ("the classes' names, set from the training data (empty: numbered 0, 1, ...); the checkpoint "
                   "keeps them, so the model names its classes without its data")


def num_classes_field(default: int = 10, most: int = MAX_CLASSES) -> Any:
    """The ``num_classes`` field of a conditional config, with its doc and its bound (what
    flags, forms and checkpoints are checked against; the model checks it again)."""
    return dataclasses.field(default=default, metadata={"doc": NUM_CLASSES_DOC, "min": 1, "max": most})


def class_names_field() -> Any:
    """The ``class_names`` field of a conditional config, with its doc."""
    return dataclasses.field(default=(), metadata={"doc": CLASS_NAMES_DOC})


def check_classes(config: Any, limit: int = MAX_CLASSES, why: str = "") -> tuple[str, ...]:
    """The classes' names of ``config`` (numbered when it names none); ValueError for a count
    outside 1..``limit`` (``why``: the family's reason for a lower one) or names that are not
    that many short strings. Models call this first, so a checkpoint's odd fields are refused
    before any net is built."""
    n, names = config.num_classes, config.class_names
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise ValueError(f"num_classes must be an integer from 1 to {limit:,}{why}, got {n!r}")
    if not isinstance(names, (tuple, list)) or not all(isinstance(s, str) and len(s) <= MAX_NAME for s in names):
        raise ValueError(f"class_names must be a list of names (strings of at most {MAX_NAME} characters)")
    if names and len(names) != n:
        raise ValueError(f"class_names names {len(names)} classes but num_classes is {n}")
    return tuple(names) if names else tuple(str(k) for k in range(n))


def data_classes(dataset: Any) -> tuple[int, tuple[str, ...]]:
    """(number of classes, their names or ()) of a labelled dataset; DataError, worded for a
    person, when its images carry no labels."""
    if not dataset.labelled:
        hint = " (put each class's images in a subfolder of its own)" if dataset.name == "folder" else ""
        raise DataError(f"a class-conditional model trains on labelled images, and {dataset.name} has no class "
                        f"labels{hint}")
    names = tuple(str(s) for s in dataset.class_names)
    # a split may be empty (a folder of a few images): it names no class
    top = max((int(s.labels.max()) for s in (dataset.train, dataset.test) if len(s)), default=-1) + 1
    n = max(len(names), top)
    return n, names if len(names) == n else ()


class ClassConditional:
    """Mixin of the conditional families (listed before their model base): ``conditional``,
    the class fields, the ``[z | one-hot class]`` latent and the rows-of-classes preview.
    The family says how wide z is with ``z_size`` and whether it encodes with ``encoder``."""

    conditional = True
    config: Any
    #: whether the family maps images to latents (the spec's ``has_encoder``)
    encoder_family = False

    @classmethod
    def config_from_data(cls, dataset: Any) -> dict[str, Any]:
        n, names = data_classes(dataset)
        return {"image_shape": tuple(dataset.image_shape), "num_classes": n, "class_names": names}

    @property
    def z_size(self) -> int:
        """Width of z, the part of the latent the class does not set."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        return int(self.config.num_classes)

    @property
    def class_names(self) -> tuple[str, ...]:
        return check_classes(self.config)

    @property
    def latent_spec(self) -> LatentSpec:
        return LatentSpec(z_dim=self.z_size, z_range=(-3.0, 3.0), prior="normal", categorical=(self.num_classes,),
                          has_encoder=self.encoder_family, class_names=self.class_names)

    def one_hot(self, labels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(B,) int labels -> (B, num_classes), read nowhere on the host (see
        :func:`models.latent.one_hot`)."""
        return one_hot(labels, self.num_classes, dtype)

    def with_class(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """z (B, z_size) and labels (B,) -> the flat latent ``[z | one-hot class]``."""
        return torch.cat([z, self.one_hot(labels, z.dtype)], dim=1)

    def preview_latents(self, generator: torch.Generator) -> torch.Tensor:
        """Row r: class r (the first ``PREVIEW_ROWS`` classes); column c: one noise vector
        shared down the column, so each column shows one style in every class."""
        rows, cols = min(self.num_classes, PREVIEW_ROWS), self.preview_columns()
        draws = self.sample_latents(cols, generator, device=generator.device)  # type: ignore[attr-defined]
        z = self.latent_spec.split(draws)[0].cpu()
        labels = torch.arange(rows).repeat_interleave(cols)
        return self.with_class(z.repeat(rows, 1), labels)

    def preview_columns(self) -> int:
        return 8
