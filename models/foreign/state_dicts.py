"""Reading a state dict made elsewhere: name -> tensor, bounded, and running no code.

* ``.safetensors``: the header (names, shapes) is read and the total size checked against
  the model budget before any tensor is;
* ``.pth`` / ``.pt`` (and the other pickle suffixes): only when the caller allows pickles,
  and then with ``torch.load(weights_only=True)``, whose unpickler builds tensors and plain
  containers only and refuses every other global, so a payload that would run code is
  refused even with the allow, never executed.

What is read may be a bare state dict or one wrapped the usual ways: under a key
(``{"state_dict": ...}``, ``{"model_state_dict": ...}``, ``{"netG": ...}``), or with every name
prefixed by ``module.`` (DataParallel) or ``_orig_mod.`` (torch.compile). :func:`read_state_dict`
unwraps these. A Latent Explorer pickle checkpoint (``family``, ``model_config``,
``state_dict``) is reported as :class:`OwnCheckpoint` so the caller opens it as one.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from models.foreign.errors import ForeignModelError
from models.io.files import FileRefused, check_regular_file, check_size
from models.runs.checkpoint import PICKLE_SUFFIXES
from models.runs.model_budget import BYTES_PER_VALUE, MAX_PARAMETERS, available_memory

#: a state dict file larger than the model budget's weights (plus room for its header) is not read
MAX_STATE_DICT_BYTES = MAX_PARAMETERS * BYTES_PER_VALUE + 64 * 2**20
#: keys a training script commonly nests its state dict under
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "netG", "generator", "G", "decoder", "net", "params")
#: prefixes that wrappers add to every name
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class OwnCheckpoint(Exception):
    """The pickle file is one of the app's own checkpoints (open it with ``load_checkpoint``)."""


def pickle_refusal(path: Path) -> ForeignModelError:
    """The message for a pickle-based file the caller did not allow."""
    return ForeignModelError(
        path, "is a pickle-based file (PyTorch's torch.save format), which can run code when it is opened, so it "
              "was not opened. Convert it to .safetensors, or allow it if you trust its source: --allow-pickle on "
              "the command line, confirm the dialog in the window, allow_pickle=True in Python "
              "(it is then read with weights_only=True, which loads tensors only).")


def read_state_dict(path: str | Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` or (allowed) pickle state dict, unwrapped (see the
    module docstring), on the CPU. Raises ForeignModelError naming the file and the problem,
    or :class:`OwnCheckpoint` for one of the app's pickle checkpoints."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        tensors = _read_safetensors(path)
    elif suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise pickle_refusal(path)
        tensors = _unwrap(_read_pickle(path), path)
    else:
        raise ForeignModelError(path, "is not a state dict file (.safetensors, or .pth / .pt with the pickle allow)")
    if not tensors:
        raise ForeignModelError(path, "holds no tensors")
    return strip_prefixes(tensors)


def _check_file(path: Path) -> int:
    try:
        st = check_regular_file(path, "state dict")
        check_size(path, st.st_size, MAX_STATE_DICT_BYTES, "state dict")
    except FileRefused as e:
        raise ForeignModelError(path, e.reason) from None
    return st.st_size


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    _check_file(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            # keys() of a safe_open handle, not of a dict: the header only, no tensor read yet
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
            check_values(path, sum(_numel(s) for s in shapes.values()))
            return {k: f.get_tensor(k) for k in shapes}
    except SafetensorError as e:
        raise ForeignModelError(path, f"is not a readable safetensors file (corrupt or truncated: {e})") from None
    except OSError as e:
        raise ForeignModelError(path, f"cannot be read: {e.strerror or e}") from None


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def check_values(path: Path, n: int) -> None:
    """Refuse a file of ``n`` tensor values over the model budget or this machine's free memory."""
    if n > MAX_PARAMETERS:
        raise ForeignModelError(path, f"holds {n:,} tensor values, over the budget of {MAX_PARAMETERS:,}; not read")
    free = available_memory()
    if free is not None and 2 * n * BYTES_PER_VALUE > free:
        raise ForeignModelError(path, f"needs about {2 * n * BYTES_PER_VALUE / 2**30:.1f} GB of memory to open and "
                                      f"this machine has {free / 2**30:.1f} GB available; not read")


def _read_pickle(path: Path) -> Any:
    size = _check_file(path)
    free = available_memory()
    if free is not None and 2 * size > free:
        raise ForeignModelError(path, f"is {size / 2**30:.1f} GB and this machine has {free / 2**30:.1f} GB "
                                      "available; not read")
    try:
        with warnings.catch_warnings():
            # "Detected pickle protocol 4": a note to torch's developers, not to the user
            warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError (not a zip), EOFError (truncated), ...
        raise ForeignModelError(path, _why_unreadable(e)) from None


def _why_unreadable(e: Exception) -> str:
    text = str(e)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return (f"holds Python objects besides tensors (it names {found.group(1)}), and building them could run code, "
                "so it is refused even with the pickle allow. If it is a whole model saved with torch.save(model), "
                "save model.state_dict() instead.")
    if "Weights only load failed" in text:
        return "uses pickle features that a tensors-only reader refuses (it may hold code), so it was not read"
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return f"could not be read as a PyTorch file (corrupt or truncated?): {first[:200]}"


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                          for k, v in obj.items())


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and {"family", "model_config", "state_dict"} <= set(obj):
        raise OwnCheckpoint(path)
    if _is_tensor_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if _is_tensor_dict(obj.get(key)):
                return dict(obj[key])
        nested = [k for k, v in obj.items() if _is_tensor_dict(v)]
        if len(nested) == 1:
            return dict(obj[nested[0]])
        if nested:
            raise ForeignModelError(path, f"holds {len(nested)} state dicts ({', '.join(map(str, nested[:5]))}); "
                                          "save the decoder's (or generator's) on its own")
        # a dict of tensors plus a few scalars (an epoch number): the tensors are the state dict
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise ForeignModelError(path, f"holds a {type(obj).__name__}, not a state dict (a dict of tensor names to tensors)")


def strip_prefixes(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``tensors`` without a prefix that every name shares (``module.``, ``_orig_mod.``)."""
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in tensors):
                tensors = {k[len(prefix):]: v for k, v in tensors.items()}
                changed = True
    return tensors


def summary(tensors: Mapping[str, torch.Tensor], limit: int = 4) -> str:
    """"8 tensors, 1,000 values (fc1.weight [400, 784], ...)": what a message shows of a state dict."""
    values = sum(int(v.numel()) for v in tensors.values())
    shown = ", ".join(f"{k} {list(v.shape)}" for k, v in list(tensors.items())[:limit])
    more = ", ..." if len(tensors) > limit else ""
    return f"{len(tensors):,} tensor{'' if len(tensors) == 1 else 's'}, {values:,} values ({shown}{more})"
