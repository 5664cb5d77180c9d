"""A Python adapter file: the user's own code builds the decoder (this runs that code).

``my_model.py``::

    import torch
    from torch import nn

    def load():
        decoder = ...                        # an nn.Module: (N, d) -> (N, C, H, W) or (N, C*H*W)
        decoder.load_state_dict(torch.load("weights.pt", weights_only=True))
        return {
            "decoder": decoder,
            "encoder": None,                 # optional nn.Module: images (N, C, H, W) in [0, 1]
                                             #   -> mean (N, d), or (mean, logvar)
            "latent_dim": 20,                # or "latent_shape": (100, 1, 1), what the decoder takes
            "image_shape": (1, 28, 28),
            "output_range": (0, 1),          # optional, default (0, 1); (-1, 1) for tanh outputs
            "prior": "normal",               # optional: "normal" | "uniform" | "none"
            "categorical": (), "continuous": 0,   # optional: InfoGAN-style codes after z
            "name": "my VAE",                # optional
        }

``load()`` may return an object with those attributes instead of a dict. The file runs only
when the caller allows code (``--allow-code``; the window asks first). Its folder is on
``sys.path`` while it loads, so it may import files beside it. What ``load()`` returns is
checked (sizes within the model budget, a latent of at most
:data:`~models.foreign.manifest.MAX_LATENT_DIM` values), and the decoder (and encoder) run
once on zeros, and must give finite values, before the model is used.

Whatever the user's code raises while it is imported, run or checked (``sys.exit()``
included) becomes one ForeignModelError naming the file; a module that failed is not left
in ``sys.modules``. Code that never returns cannot be stopped from inside the process:
that is what the code allow trusts.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import numbers
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.foreign.errors import ForeignModelError
from models.foreign.manifest import MAX_LATENT_DIM, range_problem
from models.foreign.protocol import ForeignConfig, ForeignModel
from models.io.files import FileRefused, check_regular_file, check_size
from models.latent import LatentSpec
from models.runs.model_budget import MAX_IMAGE_VALUES

ADAPTER_KIND = "adapter"
#: an adapter is a page of code; anything near this is not one
MAX_ADAPTER_BYTES = 16 * 2**20
FIELDS = ("decoder", "encoder", "latent_dim", "latent_shape", "image_shape", "output_range", "prior",
          "categorical", "continuous", "name")


def code_refusal(path: Path) -> ForeignModelError:
    """The message for an adapter file the caller did not allow to run."""
    return ForeignModelError(path, "is a Python adapter file; opening it would run its code, so it was not opened. "
                                   "Allow it if you trust it: --allow-code on the command line, confirm the dialog "
                                   "in the window, allow_code=True in Python.")


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300] if text else ''}".rstrip(": ")


def _module_name(path: Path) -> str:
    return f"latent_explorer_adapter_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"


def _run_load(path: Path, name: str) -> Any:
    """Import the file as module ``name`` and call its ``load()``."""
    try:
        st = check_regular_file(path, "adapter file")
        check_size(path, st.st_size, MAX_ADAPTER_BYTES, "Python adapter file")
    except FileRefused as e:
        raise ForeignModelError(path, e.reason) from None
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ForeignModelError(path, "cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module  # classes defined in it must be findable by name (dataclasses, copies)
    doing = "could not be imported"
    try:
        spec.loader.exec_module(module)
        load = getattr(module, "load", None)
        if not callable(load):
            raise ForeignModelError(path, "has no load() function; an adapter defines load() returning the decoder")
        doing = "load() failed"
        return load()
    except ForeignModelError:
        raise
    except (Exception, SystemExit) as e:  # anything the user's code raises, as one line naming the file
        if isinstance(e, SystemExit):
            raise ForeignModelError(path, f"{doing}: it called exit() (code {e.code!r}); an adapter returns its "
                                          "model from load()") from None
        raise ForeignModelError(path, f"{doing}: {_one_line(e)}") from e
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass


def _fields(result: Any, path: Path) -> dict[str, Any]:
    if isinstance(result, Mapping):
        unknown = sorted(str(k) for k in result if k not in FIELDS)
        if unknown:
            raise ForeignModelError(path, f"load() returned an unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
        return dict(result)
    if result is None or isinstance(result, (int, float, str, bytes, list, tuple, set, nn.Module)):
        what = "None" if result is None else type(result).__name__
        raise ForeignModelError(path, f"load() returned {what}; it must return a dict (or an object) with the "
                                      "decoder, latent_dim and image_shape")
    return {k: getattr(result, k) for k in FIELDS if hasattr(result, k)}


def _ints(value: Any, path: Path, field: str, length: int | None = None) -> tuple[int, ...]:
    try:
        items = list(value)
        out = tuple(int(v) for v in items)
    except (TypeError, ValueError, OverflowError):
        raise ForeignModelError(path, f"load() gave {field} {value!r}; it must be a tuple of positive integers") from None
    if not out or any(v < 1 for v in out) or any(isinstance(v, bool) for v in items) or (length and len(out) != length):
        what = f"{length} positive integers" if length else "positive integers"
        raise ForeignModelError(path, f"load() gave {field} {value!r}; it must be {what}")
    return out


def _latent_shape(f: dict[str, Any], path: Path) -> tuple[int, ...]:
    if f.get("latent_shape") is not None:
        shape = _ints(f["latent_shape"], path, "latent_shape")
    else:
        d = f.get("latent_dim")
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
            raise ForeignModelError(path, f"load() gave latent_dim {d!r}; it must be a positive integer (or give "
                                          "latent_shape)")
        shape = (int(d),)
    if math.prod(shape) > MAX_LATENT_DIM:
        raise ForeignModelError(path, f"load() gave a latent of {math.prod(shape):,} values; a model's latent has at "
                                      f"most {MAX_LATENT_DIM:,}")
    return shape


def _range(value: Any, path: Path) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ForeignModelError(path, f"load() gave output_range {value!r}; it must be (low, high)") from None
    problem = range_problem(lo, hi)
    if problem:
        raise ForeignModelError(path, f"load() gave output_range {value!r}, which is no range: {problem}")
    return lo, hi


def adapter_model(result: Any, path: str | Path) -> ForeignModel:
    """The model ``load()``'s ``result`` describes, checked (see the module docstring)."""
    path = Path(path)
    try:
        return _adapter_model(result, path)
    except ForeignModelError:
        raise
    except Exception as e:  # the user's objects (a property, __str__, an iterator) raising while checked
        raise ForeignModelError(path, f"what load() returned could not be read: {_one_line(e)}") from e


def _adapter_model(result: Any, path: Path) -> ForeignModel:
    f = _fields(result, path)
    decoder, encoder = f.get("decoder"), f.get("encoder")
    if not isinstance(decoder, nn.Module):
        raise ForeignModelError(path, f"load() gave decoder {type(decoder).__name__}; it must be an nn.Module")
    if encoder is not None and not isinstance(encoder, nn.Module):
        raise ForeignModelError(path, f"load() gave encoder {type(encoder).__name__}; it must be an nn.Module or None")
    latent_shape = _latent_shape(f, path)
    if f.get("image_shape") is None:
        raise ForeignModelError(path, "load() gave no image_shape; it must be (C, H, W)")
    image_shape = _ints(f["image_shape"], path, "image_shape", 3)
    if image_shape[0] not in (1, 3):
        raise ForeignModelError(path, f"load() gave image_shape {image_shape}; images have 1 (grey) or 3 (RGB) channels")
    if math.prod(image_shape) > MAX_IMAGE_VALUES:
        raise ForeignModelError(path, f"load() gave image_shape {image_shape}: {math.prod(image_shape):,} values per "
                                      f"image, over the {MAX_IMAGE_VALUES:,} a model may work on")
    rng = _range(f.get("output_range", (0.0, 1.0)) or (0.0, 1.0), path)
    prior = f.get("prior") or "none"
    if prior not in ("normal", "uniform", "none"):
        raise ForeignModelError(path, f"load() gave prior {prior!r}; it must be 'normal', 'uniform' or 'none'")
    categorical = _ints(f["categorical"], path, "categorical") if f.get("categorical") else ()
    continuous = f.get("continuous") or 0
    if isinstance(continuous, bool) or not isinstance(continuous, numbers.Integral) or continuous < 0:
        raise ForeignModelError(path, f"load() gave continuous {continuous!r}; it must be a non-negative integer")
    continuous = int(continuous)
    d = math.prod(latent_shape)
    if d - sum(categorical) - continuous < 1:
        raise ForeignModelError(path, "load() gave codes that leave no room for z in the latent")
    name = " ".join(str(f.get("name") or path.stem).split())[:200]
    config = ForeignConfig(image_shape=image_shape, source=str(path), kind=ADAPTER_KIND, latent_shape=latent_shape,
                           output_range=rng, description=f"{name} (adapter {path.name})")
    spec = LatentSpec(z_dim=d - sum(categorical) - continuous, prior="uniform" if prior == "uniform" else "normal",
                      categorical=categorical, continuous=continuous)
    model = ForeignModel(config, spec, decoder, encoder, has_prior=prior != "none").eval()
    _trial(model, path)
    return model


def _trial(model: ForeignModel, path: Path) -> None:
    """Decode (and encode) two zero inputs: shapes that do not fit, and NaN, are refused now."""
    with torch.no_grad():
        try:
            images = model.decode(torch.zeros(2, model.latent_spec.input_dim, device=model.device))
        except Exception as e:
            raise ForeignModelError(path, f"the decoder fails on zeros of the latent shape: {_one_line(e)}") from e
        if not bool(torch.isfinite(images).all()):
            raise ForeignModelError(path, "the decoder gives NaN or infinite values for zero latents")
        if model.encoder_net is None:
            return
        try:
            out = model.encoder_net(images)
        except Exception as e:
            raise ForeignModelError(path, f"the encoder fails on the decoder's images: {_one_line(e)}") from e
    parts = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    d = model.latent_spec.input_dim
    if not parts or any(not isinstance(p, torch.Tensor) or p.shape[0] != 2 or p[0].numel() != d for p in parts) \
            or len(parts) > 2:
        got = [tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__ for p in parts]
        raise ForeignModelError(path, f"the encoder gave {got} for 2 images; it must give the mean (2, {d}), "
                                      "or (mean, logvar)")
    if not all(bool(torch.isfinite(p).all()) for p in parts):
        raise ForeignModelError(path, "the encoder gives NaN or infinite values for the decoder's images")
    model.has_kl = len(parts) == 2


def open_adapter(path: str | Path, allow_code: bool = False) -> ForeignModel:
    """The model an adapter file's ``load()`` returns; refused unless ``allow_code``."""
    path = Path(path)
    if not allow_code:
        raise code_refusal(path)
    name = _module_name(path)
    try:
        return adapter_model(_run_load(path, name), path)
    except BaseException:
        sys.modules.pop(name, None)  # a module that gave no model is not kept
        raise
