"""JSON in and out, bounded on the way in and always valid on the way out.

Reading (:func:`parse_json`, :func:`read_json`): nesting deeper than :data:`MAX_DEPTH` is
refused before parsing (Python's parser would recurse until it fails), and so is a number
that does not fit a float (``1e400``) or, unless the caller allows them, the ``NaN`` and
``Infinity`` that Python's own writer emits but JSON does not have; the message names the
file and the field (``train_state.train_config.lr``).

Writing (:func:`dumps_json`): every file and every ``--json`` line the app writes is strict
JSON. A value that is not a finite number (a diverged loss, a score that could not be
computed) is written as ``null``, the one JSON value that says "no number here".
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.io.files import MAX_JSON_BYTES, FileRefused, read_text

#: deeper nesting is refused: the app's own files nest 4 levels at most
MAX_DEPTH = 64

Nonfinite = Literal["error", "keep"]

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _bracket_steps() -> np.ndarray:
    table = np.zeros(256, np.int8)
    table[[ord("["), ord("{")]] = 1
    table[[ord("]"), ord("}")]] = -1
    return table


_BRACKET_STEP = _bracket_steps()


class _NonFinite(float):
    """A number JSON cannot carry as a float (NaN, Infinity, 1e400), with its text."""

    text: str

    def __new__(cls, value: float, text: str) -> "_NonFinite":
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


def field_name(parts: list[str | int]) -> str:
    """``["train_state", "kinds", 3]`` -> ``"train_state.kinds[3]"``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the top level"


def nesting_depth(data: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped), in one pass."""
    if data.count(b"[") + data.count(b"{") <= 1:
        return int(bool(data.count(b"[") + data.count(b"{")))
    bare = np.frombuffer(_STRING.sub(b'""', data), np.uint8)
    steps = _BRACKET_STEP[bare]
    return int(np.cumsum(steps[steps != 0], dtype=np.int64).max(initial=0))


def _find_nonfinite(value: Any, at: list[str | int], limit: int) -> tuple[list[str | int], _NonFinite] | None:
    if isinstance(value, _NonFinite):
        return at, value
    if limit <= 0:
        return None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)  # type: ignore[assignment]
    else:
        return None
    for k, v in items:
        found = _find_nonfinite(v, [*at, k], limit - 1)
        if found:
            return found
    return None


def parse_json(data: str | bytes, name: str | Path, *, max_depth: int = MAX_DEPTH, nonfinite: Nonfinite = "error",
               field: str | None = None, unique_keys: bool = False) -> Any:
    """The value of a JSON text, read from the file ``name`` (used in messages).

    ``nonfinite="error"`` refuses NaN, Infinity and numbers too large for a float, naming
    the field; ``"keep"`` reads them as float NaN/inf (for files Python's writer made with
    NaN in them: schema checks then decide where such a value may stand). ``field`` names
    the text when it is itself one field of the file (a checkpoint's ``train_state``).
    ``unique_keys`` refuses an object that gives a key twice (``json`` keeps the last
    silently). Raises :class:`~models.io.files.FileRefused`."""
    path = Path(name)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    where = f"{field} " if field else ""
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise FileRefused(path, f"{where}nests {depth} levels deep (at most {max_depth} are read)")
    seen: list[bool] = []

    def number(text: str) -> float:
        value = float(text)
        if math.isfinite(value):
            return value
        seen.append(True)
        return _NonFinite(value, text)

    def constant(text: str) -> float:
        seen.append(True)
        return _NonFinite(float(text.replace("Infinity", "inf")), text)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            keys = [k for k, _ in items]
            twice = next(k for k in keys if keys.count(k) > 1)
            raise FileRefused(path, f"{where}gives the field {twice!r} twice; each is given once")
        return out

    try:
        value = json.loads(raw, parse_float=number, parse_constant=constant,
                           object_pairs_hook=pairs if unique_keys else None)
    except RecursionError:  # the depth check counts brackets; this is a last guard
        raise FileRefused(path, f"{where}nests too deep") from None
    except json.JSONDecodeError as e:
        raise FileRefused(path, f"{where}is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except UnicodeDecodeError:
        raise FileRefused(path, f"{where}is not valid JSON (not UTF-8 text)") from None
    except ValueError as e:  # an integer of more digits than Python converts
        raise FileRefused(path, f"{where}holds a number too long to read ({str(e).splitlines()[0]})") from None
    if seen:
        found = _find_nonfinite(value, [field] if field else [], max_depth + 1)
        if found is not None and nonfinite == "error":
            at, bad = found
            kind = "not a number JSON allows" if bad.text in ("NaN", "Infinity", "-Infinity") else "too large for a float"
            raise FileRefused(path, f"{field_name(at)} must be a finite number, got {bad.text} ({kind})")
        value = _plain_floats(value)
    return value


def _plain_floats(value: Any) -> Any:
    """``value`` with the markers of non-finite numbers turned back into plain floats."""
    if isinstance(value, _NonFinite):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_floats(v) for v in value]
    return value


def read_json(path: str | Path, what: str = "file", *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH,
              nonfinite: Nonfinite = "error") -> Any:
    """The JSON value of the regular file ``path`` (at most ``max_bytes``), or FileRefused
    naming the file and the problem (missing, unreadable, not a file, too big, not JSON)."""
    text = read_text(path, what, max_bytes)
    return parse_json(text, path, max_depth=max_depth, nonfinite=nonfinite)


def finite_or_null(obj: Any) -> Any:
    """``obj`` with every float that is not finite replaced by None (JSON ``null``), and
    tuples as lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    return obj


def dumps_json(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that always writes strict JSON: NaN and infinities become ``null``
    (see the module docstring). ``kwargs`` go to ``json.dumps`` (``indent``, ``default``...)."""
    return json.dumps(finite_or_null(obj), allow_nan=False, **kwargs)
