"""How background jobs and the Explore panels reach the model, and what it can be fed.

Jobs never touch ``ModelState.model``: the decoder reads it on the GUI thread and training
snapshots write it. A job gets its own deep copy taken under the state's lock
(:func:`snapshot_model`; these models are a few MB at most, a copy is milliseconds), so it
may run for seconds without blocking slider decodes or seeing half of a weight update.

Beside it: the name a model is shown by, whether it can encode or read a dataset's test
images (and why not), one decode on the GUI thread, the conversion to a displayable array,
and the parsing of the test-image indices a person types.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from models.families.base import LatentModel
from models.foreign.protocol import ForeignModel
from models.io.images import to_display

from .state import ModelState


def snapshot_model(model_state: ModelState) -> LatentModel | None:
    """A private CPU eval copy of the current model for a background job."""
    with model_state.lock:
        model = model_state.model
        return None if model is None else copy.deepcopy(model).cpu().eval()


def has_encoder(model: LatentModel | None) -> bool:
    return model is not None and model.latent_spec.has_encoder


def model_name(model: LatentModel) -> str:
    """What the window calls a model: its family ("vae"), or for one made elsewhere what it
    is ("the PyTorch examples VAE (784-400-20)")."""
    return model.describe() if isinstance(model, ForeignModel) else model.family


def sentence(text: str) -> str:
    """``text`` with its first letter capitalised: a reason that starts with a foreign model's
    description ("the PyTorch examples VAE ...") starting a hint or a message box (never a
    family name, which is spelt as it is)."""
    return text[:1].upper() + text[1:]


def image_shape_text(model: LatentModel) -> str:
    """"1×28×28": the images a model reads and makes."""
    return "×".join(str(int(v)) for v in model.config.image_shape)


def dataset_problem(model: LatentModel | None, dataset: Any) -> str | None:
    """Why the model can't be fed this dataset's test images, or None when it can."""
    if model is None:
        return "Open or train a model first."
    if dataset is None:
        if isinstance(model, ForeignModel):  # it records no dataset: the one chosen in Model & data serves
            return sentence(f"{model_name(model)} comes with no dataset: choose a dataset of "
                            f"{image_shape_text(model)} images in Model & data to use test images.")
        return "Load a dataset (train a model or open a checkpoint with its dataset) to use test images."
    ds_shape, m_shape = tuple(dataset.test.image_shape), tuple(model.config.image_shape)
    if ds_shape != m_shape:
        return f"The dataset's images are {ds_shape} but the model reads {m_shape}."
    return None


@torch.no_grad()
def decode_one(model_state: ModelState, flat: np.ndarray) -> np.ndarray | None:
    """Decode one latent on the calling (GUI) thread -> (H, W[, C]) uint8; small images
    decode in well under a millisecond, like the main view's own decodes."""
    with model_state.lock:
        model = model_state.model
        if model is None or np.asarray(flat).shape[0] != model.latent_spec.input_dim:
            return None
        x = model.decode(torch.as_tensor(np.asarray(flat, np.float32))[None]).float().clamp(0, 1)
    return to_display(x[0])



#: indices a typed list may expand to (repeats allowed) when the limit is smaller
MAX_INDICES = 10_000


def parse_indices(text: str, limit: int) -> list[int]:
    """"0, 3, 10-12" -> [0, 3, 10, 11, 12]; ValueError naming the bad part. Each index and
    each range's ends are checked against ``limit`` before a range is expanded, so
    "0-99999999" is refused, not listed; at most MAX_INDICES (or ``limit``) indices in all."""
    out: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            a, b = part.split("-", 1) if "-" in part[1:] else (part, part)
            first, last = int(a), int(b)
        except ValueError:
            raise ValueError(f"{part!r} is not an index or a range like 3-7") from None
        for i in (first, last):
            if not 0 <= i < limit:
                raise ValueError(f"index {i} is out of range: the test set has images 0..{limit - 1}")
        if len(out) + last - first + 1 > max(limit, MAX_INDICES):
            raise ValueError(f"that is more than {max(limit, MAX_INDICES):,} indices")
        out.extend(range(first, last + 1))
    return out
