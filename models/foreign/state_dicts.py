"""Reading a state dict made elsewhere: name -> tensor, bounded, and running no code.

* ``.safetensors``: the header (names, shapes) is read and the total size checked against
  the model budget before any tensor is (opened through the checked file handle, so a file
  swapped for a FIFO after the checks cannot block);
* ``.pth`` / ``.pt`` (and the other pickle suffixes): only when the caller allows pickles,
  and then with ``torch.load(weights_only=True)``, whose unpickler builds tensors and plain
  containers only and refuses every other global, so a payload that would run code is
  refused even with the allow, never executed; :mod:`models.foreign.pth` bounds what the
  file may make it allocate (zip bombs, huge pickles) before it runs.

What is read may be a bare state dict or one wrapped the usual ways: under a key
(``{"state_dict": ...}``, ``{"model_state_dict": ...}``, ``{"netG": ...}``), or with every name
prefixed by ``module.`` (DataParallel) or ``_orig_mod.`` (torch.compile). :func:`read_state_dict`
unwraps these. A Latent Explorer pickle checkpoint (``family``, ``model_config``,
``state_dict``) is reported as :class:`OwnCheckpoint` so the caller opens it as one.

Whatever the format, what comes out is checked before any model is built from it
(:func:`check_tensors`): at most :data:`MAX_TENSORS` plain dense CPU tensors (no meta,
sparse, quantized or nested ones), each holding every value it claims (a stride-0 view of
one stored number claims millions, and a model built to its shape would allocate them all),
and at most the model budget's values in all. :func:`check_finite` is for the importers
that know the architecture: NaN or infinite weights decode to NaN images.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from models.foreign.errors import ForeignModelError
from models.io.files import FileRefused, check_regular_file, check_size, open_regular
from models.runs.checkpoint import PICKLE_SUFFIXES
from models.runs.model_budget import BYTES_PER_VALUE, MAX_PARAMETERS, available_memory

#: a state dict file larger than the model budget's weights (plus room for its header) is not read
MAX_STATE_DICT_BYTES = MAX_PARAMETERS * BYTES_PER_VALUE + 64 * 2**20
#: more tensors than this is no state dict of a model the app explores (a large one has a few thousand)
MAX_TENSORS = 20_000
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
    module docstring), on the CPU and checked (:func:`check_tensors`). Raises
    ForeignModelError naming the file and the problem, or :class:`OwnCheckpoint` for one of
    the app's pickle checkpoints."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        tensors = _read_safetensors(path)
    elif suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise pickle_refusal(path)
        from models.foreign.pth import load_pth

        tensors = _unwrap(load_pth(path, _check_file(path), MAX_TENSORS), path)
    else:
        raise ForeignModelError(path, "is not a state dict file (.safetensors, or .pth / .pt with the pickle allow)")
    if not tensors:
        raise ForeignModelError(path, "holds no tensors")
    check_tensors(path, tensors)
    return strip_prefixes(tensors)


def _check_file(path: Path) -> int:
    try:
        st = check_regular_file(path, "state dict")
        check_size(path, st.st_size, MAX_STATE_DICT_BYTES, "state dict")
    except FileRefused as e:
        raise ForeignModelError(path, e.reason) from None
    if st.st_size == 0:
        raise ForeignModelError(path, "is empty (0 bytes)")
    return st.st_size


def _read_safetensors(path: Path, header_only: bool = False) -> dict[str, Any]:
    """The tensors of a ``.safetensors`` file (``header_only``: their shapes, no data read)."""
    _check_file(path)
    try:
        with open_regular(path, "state dict") as handle:
            return _read_opened_safetensors(path, _reopenable(path, handle.fileno()), header_only)
    except FileRefused as e:
        raise ForeignModelError(path, e.reason) from None


def safetensors_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape from a ``.safetensors`` header, checked like :func:`read_state_dict`'s
    (size, tensor count); no tensor data is read."""
    return _read_safetensors(Path(path), header_only=True)


def _reopenable(path: Path, fd: int) -> str:
    """A name that opens the very file behind ``fd`` (Linux: /proc/self/fd/N), so a file
    swapped for a FIFO after the checks cannot block the reader that opens it by name."""
    by_fd = f"/proc/self/fd/{fd}"
    return by_fd if os.path.exists(by_fd) else str(path)


def _read_opened_safetensors(path: Path, name: str, header_only: bool) -> dict[str, Any]:
    try:
        with safe_open(name, framework="pt", device="cpu") as f:
            # keys() of a safe_open handle, not of a dict: the header only, no tensor read yet
            names = list(f.keys())
            _check_count(path, len(names))
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in names}
            if header_only:
                return shapes
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


def _check_count(path: Path, n: int) -> None:
    if n > MAX_TENSORS:
        raise ForeignModelError(path, f"holds {n:,} tensors; a state dict of a model this app explores has at most "
                                      f"{MAX_TENSORS:,}; not read")


def check_values(path: Path, n: int) -> None:
    """Refuse a file of ``n`` tensor values over the model budget or this machine's free memory."""
    if n > MAX_PARAMETERS:
        raise ForeignModelError(path, f"holds {n:,} tensor values, over the budget of {MAX_PARAMETERS:,}; not read")
    free = available_memory()
    if free is not None and 2 * n * BYTES_PER_VALUE > free:
        raise ForeignModelError(path, f"needs about {2 * n * BYTES_PER_VALUE / 2**30:.1f} GB of memory to open and "
                                      f"this machine has {free / 2**30:.1f} GB available; not read")


def _stored_problem(key: str, t: torch.Tensor) -> str | None:
    """Why ``t`` is no plain tensor holding its own values, or None."""
    if not isinstance(t, torch.Tensor) or type(t) not in (torch.Tensor, torch.nn.Parameter):
        return f"{key} is a {type(t).__name__}, not a plain tensor"
    if t.device.type == "meta":
        return f"{key} is a meta tensor: it has a shape but no values"
    if t.layout != torch.strided or t.is_nested:
        return f"{key} is a sparse or nested tensor ({t.layout}); a state dict's weights are dense"
    if t.device.type != "cpu":
        return f"{key} is on {t.device}, not the CPU"
    if t.is_quantized:
        return f"{key} is a quantized tensor; this app reads float weights"
    n = t.numel()
    if n and any(s < 0 for s in t.stride()):
        return f"{key} has negative strides"
    if n:
        span = t.storage_offset() + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride())) + 1
        stored = t.untyped_storage().nbytes() // max(1, t.element_size())
        if n > stored or span > stored:
            return f"{key} claims {n:,} values but the file holds {stored:,} for it; not read"
    return None


def check_tensors(path: str | Path, tensors: Mapping[str, Any]) -> None:
    """Refuse (ForeignModelError) more than :data:`MAX_TENSORS` tensors, any that is not a
    plain dense CPU tensor holding every value it claims, and more values in all than the
    model budget: all before any model is built from them."""
    path = Path(path)
    _check_count(path, len(tensors))
    for key, t in tensors.items():
        problem = _stored_problem(str(key), t)
        if problem:
            raise ForeignModelError(path, problem)
    check_values(path, sum(t.numel() for t in tensors.values()))


def _not_finite(t: torch.Tensor, chunk: int = 2**24) -> int:
    """How many values of ``t`` are NaN or infinite, a chunk at a time (bounded scratch memory)."""
    flat = t.reshape(-1)
    bad = 0
    for at in range(0, flat.numel(), chunk):
        part = flat[at:at + chunk]
        try:
            bad += int((~torch.isfinite(part)).sum())
        except (NotImplementedError, RuntimeError):  # float8 kinds have no isfinite of their own
            bad += int((~torch.isfinite(part.float())).sum())
    return bad


def check_finite(path: str | Path, tensors: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or infinities, naming the first such tensor: a model with
    them decodes to NaN images."""
    for key, t in tensors.items():
        if t.is_floating_point() or t.is_complex():
            bad = _not_finite(t)
            if bad:
                raise ForeignModelError(path, f"{key} holds {bad:,} NaN or infinite value{'' if bad == 1 else 's'} (a "
                                              "training that diverged?); a model with them decodes to NaN images")


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
