"""Records read strictly, and documented from their own fields.

Records are read from files anyone with write access can edit: the public results dataset on the Hub, a local
folder. `read_record(cls, data)` checks every value against the type its field declares, recursively (nested
records, lists, dicts, optional fields, enums), and refuses a mismatch with one error type, `RecordError`, whose
message names the record type, the field path and what was expected:

    Result.datasets["ami"].wer: expected a number, got str '0.2'

The rules: an int is accepted where a float belongs (JSON writes 2.0 as 2 in other tools) and becomes a float; a
bool is never accepted as a number; NaN is never accepted (no record has a use for it: the evaluator's
divide-by-zero convention gives infinity, see `evaluator.metrics`), and infinity is refused in fields declared
`finite` (audio durations, money, claimed WERs); a field the type does not have, or a required field that is
absent, is refused. `RecordError` subclasses `ValueError`, which every reader that reads around damaged files
(`openasr_core.store.bad_files.PARSE_ERRORS`, `evaluator.verify`) already counts as damage: a bad record is
reported as damaged, it never stops the board or the queue.

Why hand-written, and not huggingface_hub's `@strict` or pydantic: `@strict` validates on construction (the
evaluator builds records with ints where floats belong), skips string annotations (every record module uses
`from __future__ import annotations`), refuses an int for a float and reports a nested failure as a chain of
exceptions rather than a path; pydantic's lax mode turns `"0.2"` into 0.2 and its strict mode refuses a JSON list
for a tuple and a string for an enum, so it would need per-field settings to say what these rules say. Here each
type is compiled once into a converter, which reads a large store faster than the untyped decoding it replaces.

Each field's documentation lives beside it (`field(metadata=doc("..."))`); `field_doc` and `documented_fields`
read it, and the results card (`openasr_core.dataset_card`) is generated from them, so it cannot go stale.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

_T = TypeVar("_T")
_Convert = Callable[[Any], Any]
_SCALARS: dict[Any, str] = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


class RecordError(ValueError):
    """A record that does not match its type: which record, which field (a path such as
    `Result.datasets["ami"].wer`), and what was expected instead of what was found."""

    def __init__(self, record: str, path: str, problem: str) -> None:
        super().__init__(f"{record}{path}: {problem}")
        self.record, self.path, self.problem = record, path, problem


class _Mismatch(Exception):
    """A value that does not fit, raised while converting; the path is collected while the stack unwinds."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.segments: list[str] = []  # innermost first


def doc(text: str, *, omit_default: bool = False, finite: bool = False) -> dict[str, Any]:
    """A field's metadata: `text` documents it (the results card shows it), `omit_default` leaves it out of the
    dict while it holds its default (fields added after records were first signed), `finite` refuses infinity."""
    return {"doc": text, "omit_default": omit_default, "finite": finite}


def read_record(cls: type[_T], data: Any) -> _T:
    """`data` (parsed JSON) as a `cls` record, every field checked against its type; `RecordError` otherwise."""
    try:
        return _build(cls, data)
    except _Mismatch as mismatch:
        raise RecordError(cls.__name__, "".join(reversed(mismatch.segments)), mismatch.problem) from None


# --- converters, compiled once per type -------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """How to read one record type: each field's converter, and the fields a record must have."""

    converters: dict[str, _Convert]
    required: tuple[str, ...]


@functools.cache
def _plan(cls: type) -> _Plan:
    hints = typing.get_type_hints(cls)
    converters: dict[str, _Convert] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        converters[f.name] = _converter(hints[f.name], bool(f.metadata.get("finite")))
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return _Plan(converters, tuple(required))


def _build(cls: type[_T], data: Any) -> _T:
    """One record from a dict: refuses unknown and missing fields, converts each value, then constructs."""
    if type(data) is not dict:
        raise _Mismatch(f"expected a {cls.__name__} object, got {_shown(data)}")
    plan = _plan(cls)
    converters = plan.converters
    unknown = [name for name in data if name not in converters]
    if unknown:
        raise _Mismatch(f"{cls.__name__} has no field(s) {unknown}; is the file from a newer schema?")
    missing = [name for name in plan.required if name not in data]
    if missing:
        mismatch = _Mismatch("required field missing" + (f" (also missing: {missing[1:]})" if missing[1:] else ""))
        mismatch.segments.append(f".{missing[0]}")
        raise mismatch
    values: dict[str, Any] = {}
    for name, value in data.items():
        try:
            values[name] = converters[name](value)
        except _Mismatch as mismatch:
            mismatch.segments.append(f".{name}")
            raise
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # a record's own check (`__post_init__`)
        raise _Mismatch(str(exc)) from None


@functools.cache
def _converter(hint: Any, finite: bool = False) -> _Convert:
    """The function that checks and converts one JSON value into `hint`'s type."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return _identity
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(hint), finite)
    if origin is list:
        return _list(_converter(typing.get_args(hint)[0], finite))
    if origin is tuple:
        return _tuple(typing.get_args(hint), finite)
    if origin is dict:
        return _dict(_converter(typing.get_args(hint)[1], finite))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return functools.partial(_build, hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum(hint)
    if hint is float:
        return _finite_float if finite else _float
    if hint in _SCALARS:
        return _scalar(hint)
    raise TypeError(f"records cannot hold {hint!r}")


def _identity(value: Any) -> Any:
    return value


def _float(value: Any) -> Any:
    if isinstance(value, float):  # or a subclass (numpy's float64), kept as it is
        if value != value:
            raise _Mismatch("expected a number, got NaN")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise _Mismatch(f"expected a number, got {_shown(value)}")


def _finite_float(value: Any) -> Any:
    number = _float(value)
    if math.isinf(number):
        raise _Mismatch(f"expected a finite number, got {number}")
    return number


def _scalar(kind: type) -> _Convert:
    expected = _SCALARS[kind]

    def convert(value: Any) -> Any:
        if isinstance(value, kind) and (kind is not int or not isinstance(value, bool)):
            return value
        raise _Mismatch(f"expected {expected}, got {_shown(value)}")

    return convert


def _enum(kind: type[enum.Enum]) -> _Convert:
    allowed = ", ".join(repr(member.value) for member in kind)

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                pass
        raise _Mismatch(f"expected one of {allowed}, got {_shown(value)}")

    return convert


def _union(members: tuple[Any, ...], finite: bool) -> _Convert:
    """Optional fields, and unions of scalars (an int stays an int in `float | int | str`: tried before float)."""
    nullable = type(None) in members
    others = sorted((m for m in members if m is not type(None)), key=lambda m: m is float)
    converters = [_converter(m, finite) for m in others]
    if len(converters) == 1:
        (only,) = converters

        def optional(value: Any) -> Any:
            return None if value is None and nullable else only(value)

        return optional
    expected = " or ".join(_SCALARS.get(m, getattr(m, "__name__", str(m))) for m in others)

    def convert(value: Any) -> Any:
        if value is None and nullable:
            return None
        for member in converters:
            try:
                return member(value)
            except _Mismatch:
                continue
        raise _Mismatch(f"expected {expected}{' or null' if nullable else ''}, got {_shown(value)}")

    return convert


def _list(item: _Convert) -> _Convert:
    def convert(value: Any) -> Any:
        if type(value) is not list and type(value) is not tuple:
            raise _Mismatch(f"expected a list, got {_shown(value)}")
        items = []
        for index, element in enumerate(value):
            try:
                items.append(item(element))
            except _Mismatch as mismatch:
                mismatch.segments.append(f"[{index}]")
                raise
        return items

    return convert


def _tuple(members: tuple[Any, ...], finite: bool) -> _Convert:
    if len(members) == 2 and members[1] is Ellipsis:
        items = _list(_converter(members[0], finite))
        return lambda value: tuple(items(value))
    fixed = _list(_identity)
    converters = [_converter(m, finite) for m in members]

    def convert(value: Any) -> Any:
        elements = fixed(value)
        if len(elements) != len(converters):
            raise _Mismatch(f"expected a list of {len(converters)}, got {_shown(value)}")
        items = []
        for index, (member, element) in enumerate(zip(converters, elements, strict=True)):
            try:
                items.append(member(element))
            except _Mismatch as mismatch:
                mismatch.segments.append(f"[{index}]")
                raise
        return tuple(items)

    return convert


def _dict(item: _Convert) -> _Convert:
    def convert(value: Any) -> Any:
        if type(value) is not dict:
            raise _Mismatch(f"expected an object, got {_shown(value)}")
        items = {}
        for key, element in value.items():
            try:
                if not isinstance(key, str):
                    raise _Mismatch(f"expected string keys, got {_shown(key)}")
                items[key] = item(element)
            except _Mismatch as mismatch:
                mismatch.segments.append(f"[{json.dumps(key)}]" if isinstance(key, str) else "")
                raise
        return items

    return convert


def _shown(value: Any) -> str:
    """A found value, briefly: its JSON kind and a capped repr (`str '0.2'`, `null`, `list [1, 2]`)."""
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


# --- documentation -----------------------------------------------------------------------------------------


def record_type(hint: Any) -> type | None:
    """The record type a field holds, directly or as the items of a list or the values of a dict (or None)."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint
    args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
    found = {record_type(a) for a in args} - {None}
    return found.pop() if len(found) == 1 else None


def _may_be_none(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _field_at(cls: type, path: str) -> tuple[type, dataclasses.Field[Any], Any, bool]:
    """The record type that declares the field at dotted `path` in `cls`, the field, its annotation, and whether a
    record on the way to it is optional (so the field may be absent); a path the type does not have: `KeyError`."""
    head, _, rest = path.partition(".")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if head not in fields:
        raise KeyError(f"{cls.__name__} has no field {head!r}")
    hint = typing.get_type_hints(cls)[head]
    if not rest:
        return cls, fields[head], hint, False
    inner = record_type(hint)
    if inner is None:
        raise KeyError(f"{cls.__name__}.{head} holds no record, so it has no field {rest!r}")
    owner, found, inner_hint, optional_on_the_way = _field_at(inner, rest)
    return owner, found, inner_hint, optional_on_the_way or _may_be_none(hint)


def field_doc(cls: type, path: str) -> str:
    """The documentation of the field at dotted `path` in record type `cls` (`aggregate.avg_wer`); a path the
    type does not have is a `KeyError`, an undocumented field a `ValueError`."""
    owner, found, _, _ = _field_at(cls, path)
    text = found.metadata.get("doc")
    if not text:
        raise ValueError(f"{owner.__name__}.{found.name} has no doc")
    return str(text)


def field_type(cls: type, path: str) -> tuple[Any, bool]:
    """The annotation of the field at dotted `path` in record type `cls` without its `None`, and whether the value
    may be None: the field is optional, or a record on the way to it is (`model.parameters` of a `Result` whose
    `model` is None). A path the type does not have is a `KeyError`."""
    _, _, hint, optional_on_the_way = _field_at(cls, path)
    others = [m for m in typing.get_args(hint) if m is not type(None)]
    kind = others[0] if _may_be_none(hint) and len(others) == 1 else hint
    return kind, optional_on_the_way or _may_be_none(hint)


def documented_fields(cls: type) -> Mapping[str, str]:
    """Every field of `cls` with its documentation, in declaration order (undocumented fields: empty text)."""
    return {f.name: str(f.metadata.get("doc", "")) for f in dataclasses.fields(cls)}


def nested_records(cls: type) -> Mapping[str, type]:
    """The fields of `cls` that hold records (directly, or in a list or dict), with the record type held."""
    hints = typing.get_type_hints(cls)
    found = {f.name: record_type(hints[f.name]) for f in dataclasses.fields(cls)}
    return {name: kind for name, kind in found.items() if kind is not None}
