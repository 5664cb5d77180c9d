"""Typed checks of the values read from a file: one line naming the file, the field and
what was expected when a value is not what it must be.

A schema is built from a few small parts, each of which says what it accepts::

    TRAIN_STATE = Obj({"step": Int(lo=0), "lr": Number(lo=0, optional=True), "kinds": ListOf(Str())})
    state = check(value, TRAIN_STATE, "run.safetensors", "train_state")
    # run.safetensors: train_state.step must be a non-negative integer, got 'abc'

:func:`config_schema` builds the schema of a config dataclass from its fields'
annotations (int, float, bool, str, tuples of ints, optional ones), so a family's config
read from a checkpoint is checked field by field without the family listing its fields
twice. Every failure is :class:`InvalidField`, a :class:`~models.io.files.FileRefused`
(so a ValueError): callers that already refuse bad files catch it with the rest.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.io.files import FileRefused
from models.io.json_io import field_name

#: integers beyond this are refused everywhere (no size, count or step is near it)
MAX_INT = 2**63 - 1


class InvalidField(FileRefused):
    """A value in a file is not what its field must hold; ``field`` names it."""

    def __init__(self, path: str | Path, field: str, expected: str, got: Any) -> None:
        super().__init__(path, f"{field} must be {expected}, got {show(got)}")
        self.field = field
        self.expected = expected


def show(value: Any) -> str:
    """A value as a message shows it: short, and in JSON's words for JSON's types."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value):,} value{'' if len(value) == 1 else 's'}"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "a number too large for a float"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Spec:
    """One value's rule: ``describe()`` says it in words, ``check`` applies it."""

    optional: bool = False

    def describe(self) -> str:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def expected(self) -> str:
        return self.describe() + (" or null" if self.optional else "")

    def check(self, value: Any, path: str | Path, at: list[str | int]) -> Any:
        if value is None and self.optional:
            return None
        if not self.accepts(value):
            raise InvalidField(path, field_name(at), self.expected(), value)
        return value


def _range_words(lo: float | None, hi: float | None, noun: str) -> str:
    article = "an" if noun[0] in "aeiou" else "a"
    if lo is not None and hi is not None:
        return f"{article} {noun} from {lo:g} to {hi:g}" if isinstance(lo, float) or isinstance(hi, float) \
            else f"{article} {noun} from {lo} to {hi}"
    if lo == 0:
        return f"a non-negative {noun}"
    if lo == 1 and noun == "integer":
        return "a positive integer"
    if lo is not None:
        return f"{article} {noun} of at least {lo}"
    if hi is not None:
        return f"{article} {noun} of at most {hi}"
    return f"{article} {noun}"


@dataclasses.dataclass(frozen=True)
class Int(Spec):
    lo: int | None = None
    hi: int | None = None
    optional: bool = False

    def describe(self) -> str:
        # a bound at the edge of int32 is a sanity cap, not a rule worth a user's reading
        return _range_words(self.lo, self.hi if self.hi is None or self.hi < 2**31 - 1 else None, "integer")

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT
                and (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi))


@dataclasses.dataclass(frozen=True)
class Number(Spec):
    """A number (an integer is one too); ``positive`` excludes 0, ``finite`` NaN and infinities."""

    lo: float | None = None
    hi: float | None = None
    positive: bool = False
    finite: bool = True
    optional: bool = False

    def describe(self) -> str:
        if self.positive and self.hi is None:
            return "a finite positive number" if self.finite else "a positive number"
        words = _range_words(self.lo, self.hi, "number")
        return f"{words[:2]}finite {words[2:]}" if self.finite and self.lo is None and self.hi is None else words

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        try:
            v = float(value)
        except OverflowError:  # an integer too large for a float
            return False
        if math.isnan(v) or math.isinf(v):
            return not self.finite
        return ((self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi)
                and (not self.positive or v > 0))


@dataclasses.dataclass(frozen=True)
class Str(Spec):
    choices: tuple[str, ...] | None = None
    max_len: int = 4096
    optional: bool = False

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return "a string" if self.max_len >= 4096 else f"a string of at most {self.max_len} characters"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and len(value) <= self.max_len and (not self.choices or value in self.choices)


@dataclasses.dataclass(frozen=True)
class Bool(Spec):
    optional: bool = False

    def describe(self) -> str:
        return "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class AnyValue(Spec):
    """Whatever JSON holds (it was still parsed within the depth and size bounds)."""

    optional: bool = True

    def describe(self) -> str:
        return "any value"

    def check(self, value: Any, path: str | Path, at: list[str | int]) -> Any:
        return value


@dataclasses.dataclass(frozen=True)
class ListOf(Spec):
    """A list whose every item passes ``item``; ``length`` (exact) or ``max_len`` bound it."""

    item: Spec = dataclasses.field(default_factory=AnyValue)
    length: int | None = None
    min_len: int = 0
    max_len: int | None = None
    optional: bool = False

    def describe(self) -> str:
        if self.length is not None:
            return f"a list of {self.length} values, each {self.item.describe()}"
        if self.max_len is not None:
            return f"a list of at most {self.max_len:,} values"
        return "a list" + (" (not empty)" if self.min_len == 1 else f" of at least {self.min_len} values" if self.min_len else "")

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, (list, tuple)) and (self.length is None or len(value) == self.length)
                and len(value) >= self.min_len and (self.max_len is None or len(value) <= self.max_len))

    def check(self, value: Any, path: str | Path, at: list[str | int]) -> Any:
        value = super().check(value, path, at)
        if value is None or isinstance(self.item, AnyValue):
            return value
        return [self.item.check(v, path, [*at, i]) for i, v in enumerate(value)]


@dataclasses.dataclass(frozen=True)
class Obj(Spec):
    """A JSON object. ``fields``: the keys with a rule (absent keys are fine unless in
    ``required``); ``other``: the rule for every other key's value (None: anything)."""

    fields: Mapping[str, Spec] = dataclasses.field(default_factory=dict)
    required: tuple[str, ...] = ()
    other: Spec | None = None
    optional: bool = False

    def describe(self) -> str:
        return "an object"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: str | Path, at: list[str | int]) -> Any:
        value = super().check(value, path, at)
        if value is None:
            return None
        for key in self.required:
            if key not in value:
                raise FileRefused(path, f"{field_name([*at, key])} is missing")
        out = {}
        for key, v in value.items():
            rule = self.fields.get(key, self.other)
            out[key] = rule.check(v, path, [*at, key]) if rule is not None else v
        return out


def check(value: Any, spec: Spec, path: str | Path, field: str | None = None) -> Any:
    """``value`` if it passes ``spec``, else :class:`InvalidField` naming ``path`` (the file:
    messages show its name) and ``field`` (the value's place in it, e.g. "train_state")."""
    return spec.check(value, path, [field] if field else [])


# -- config dataclasses ------------------------------------------------------------------
#: int fields named so are sizes: 0 builds no network
_SIZE_SUFFIXES = ("_dim", "hidden", "channels", "components", "n_critic")
#: the largest image side a config may declare (the model budget bounds the whole)
MAX_IMAGE_SIDE = 4096


def field_spec(name: str, annotation: Any, most: int | None = None, least: int | None = None) -> Spec:
    """The rule for the config field ``name`` of type ``annotation`` (see :func:`config_schema`);
    ``most`` / ``least``: an integer field's own bounds (its ``max`` / ``min`` metadata), where
    a large value would build for hours or allocate without limit."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            return AnyValue()
        annotation, origin = args[0], typing.get_origin(args[0])
    if name == "image_shape":
        return ListOf(Int(lo=1, hi=MAX_IMAGE_SIDE), length=3, optional=optional)
    if annotation is bool:
        return Bool(optional=optional)
    if annotation is int:
        lo = least if least is not None else 1 if name.endswith(_SIZE_SUFFIXES) else 0
        return Int(lo=lo, hi=2**31 - 1 if most is None else most, optional=optional)
    if annotation is float:
        return Number(lo=0 if name == "lr" or name.endswith("_lr") else None, optional=optional)
    if annotation is str:
        return Str(max_len=256, optional=optional)
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[0] is str and args[1] is Ellipsis:  # names (a conditional model's classes)
            return ListOf(Str(max_len=256), max_len=1 << 16, optional=optional)
        if args and all(a is int for a in args if a is not Ellipsis):
            item = Int(lo=1, hi=2**31 - 1)
            if len(args) == 2 and args[1] is Ellipsis:
                return ListOf(item, max_len=64, optional=optional)
            return ListOf(item, length=len(args), optional=optional)
    return AnyValue()


def config_schema(cls: type) -> Obj:
    """The schema of the config dataclass ``cls``: one rule per field from its annotation
    (see :func:`field_spec`); keys it does not have are left to the dataclass to refuse."""
    hints = typing.get_type_hints(cls)
    return Obj({f.name: field_spec(f.name, hints.get(f.name, Any), f.metadata.get("max"), f.metadata.get("min"))
                for f in dataclasses.fields(cls)})


def check_config(cls: type, value: Any, path: str | Path, field: str = "model_config") -> dict[str, Any]:
    """``value`` checked against the fields of the config dataclass ``cls``."""
    return check(value, config_schema(cls), path, field)
