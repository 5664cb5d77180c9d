"""Latent Explorer's engine: models, data, training and checkpoints.

PyTorch and numpy only. Nothing in this package may import Qt or ``explorer``
(tests/models/test_no_qt.py enforces it): it runs on headless GPU boxes.

``models.load(path)`` opens anything the app opens for scripts and notebooks (see
:mod:`models.foreign.notebook`); importing ``models`` itself stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.foreign.notebook import LoadedModel

__version__ = "0.1.0"


def load(path: Any, allow_pickle: bool = False, allow_code: bool = False, **options: Any) -> LoadedModel:
    """Open a run folder, checkpoint, foreign state dict, ONNX model or adapter file.

    Returns an object with ``decode``, ``encode`` (when the model has an encoder),
    ``sample(n, seed=...)``, ``sample_latents``, ``interpolate(a, b, steps, kind="slerp")``
    and ``latent_spec``, on numpy arrays and torch tensors alike (numpy in, numpy out).
    ``allow_pickle``: open a pickle-based ``.pth``/``.pt`` (read with ``weights_only=True``);
    ``allow_code``: run a Python adapter file. ``options``: ``device``, ``family`` and
    ``config`` (a bare state dict of one of the app's families), ``output_range``,
    ``image_shape`` (see :func:`models.foreign.open.open_model`)."""
    from models.foreign.notebook import load as _load

    return _load(path, allow_pickle, allow_code, **options)
