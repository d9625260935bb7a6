"""Pydantic's validation errors as the problems an admin reads: located, in plain words.

`problems_from(exc, src)` turns each pydantic error into a ConfigProblem at the line and
column of the value (or key) it is about, with its key path as written in the file
(`checks[3].timeout`, not pydantic's `checks.3.tcp.timeout`), one sentence instead of
pydantic's message, a "did you mean" for a mistyped key, and one problem (not one per union
member) for a value that fits no member of a plain union.
"""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass
from types import UnionType
from typing import Any

from pydantic import BaseModel, ValidationError

from checks import KINDS, CheckSpec
from monitor.config.models import Config
from monitor.config.source import Path_, Source, format_path
from monitor.core.errors import ConfigProblem

# Pydantic names the members of a plain union in error locations ("str",
# "dict[literal['zh-CN','en'],str]", "LatencyThresholds", "function-after[...]"); these are
# not keys of the data.
_LABEL = re.compile(r"^(?:[a-z][a-z-]*\[.*\]|str|int|float|bool|none|bytes|[A-Z][A-Za-z0-9]*)$")
_FELL_OFF = object()


@dataclass
class _Located:
    path: Path_
    key: bool = False  # the error is about the key itself (pydantic's "[key]")
    union_at: int | None = None  # index in loc of the first union-member label


def _locate(data: Any, loc: tuple[Any, ...]) -> _Located:
    """Turn a pydantic error location into a path through the data.

    Drops discriminated-union tags on `kind:` and `scheme:` (`checks[0].tcp.port` is
    `checks[0].port`; the tag comes first even when a check also has a key named like its
    kind, as `auth: {scheme: token, token: ...}` does), plain-union
    member labels and "[key]", remembering where the union was so its branches' errors can
    be merged into one.
    """
    out = _Located(())
    path: list[str | int] = []
    current: Any = data
    fresh = True  # nothing consumed yet inside `current`
    for i, part in enumerate(loc):
        if part == "[key]":
            out.key = True
            continue
        if isinstance(current, dict):
            if fresh and isinstance(part, str) and part in (current.get("kind"), current.get("scheme")):
                fresh = False
                continue  # a discriminated-union tag, not a key
            if part in current:
                path.append(part)
                current, fresh = current[part], True
                continue
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current, fresh = current[part], True
            continue
        if current is not _FELL_OFF and isinstance(part, str) and (_LABEL.match(part) or not isinstance(current, dict | list)):
            if out.union_at is None:
                out.union_at = i
            continue
        path.append(part)
        current = _FELL_OFF
    out.path = tuple(path)
    return out


def problems_from(exc: ValidationError, src: Source) -> list[ConfigProblem]:
    errors = exc.errors(include_url=False)
    located = [_locate(src.data, tuple(err["loc"])) for err in errors]
    # A value that fits no member of a plain union (Text = str | {lang: str}) fails once per
    # member. Keep the errors of members it matched in shape (deeper paths); if it matched
    # none, say once what was expected.
    unions: dict[tuple[Any, ...], list[int]] = {}
    for n, (err, where) in enumerate(zip(errors, located, strict=True)):
        if where.union_at is not None:
            unions.setdefault(tuple(err["loc"][: where.union_at]), []).append(n)
    skip: set[int] = set()
    out = []
    for members in unions.values():
        base = min(len(located[n].path) for n in members)
        deeper = [n for n in members if len(located[n].path) > base]
        if deeper:
            skip.update(n for n in members if n not in deeper)
            continue
        skip.update(members)
        labels = [errors[n]["loc"][located[n].union_at] for n in members]  # type: ignore[index]
        expected = " or ".join(dict.fromkeys(_describe_label(str(label)) for label in labels))
        path = located[members[0]].path
        line, col = src.where(path)
        given = errors[members[0]].get("input")
        out.append(ConfigProblem(src.file, line, col, format_path(path), f"expected {expected}, got {_type_name(given)}"))
    for n, (err, where) in enumerate(zip(errors, located, strict=True)):
        if n in skip:
            continue
        path, key = where.path, where.key
        message = _message(err, src, path)
        if err["type"] == "extra_forbidden":
            key = True
            guesses = difflib.get_close_matches(str(path[-1]), _fields_at(tuple(err["loc"])[:-1]), n=1, cutoff=0.6)
            if guesses:
                message += f" (did you mean {guesses[0]!r}?)"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = (*path, "kind")
        if path[:3] in src.inherited:
            message += f" (inherited from defaults.{path[2]})"
        line, col = src.where(path, key=key)
        out.append(ConfigProblem(src.file, line, col, format_path(path), message))
    return out


def _message(err: Any, src: Source, path: Path_) -> str:
    """One plain sentence for a pydantic error, naming what was given where that helps."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {str(path[-1])!r}"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_not_found":
        return f"required key is missing; a check needs kind: one of {', '.join(sorted(_check_kinds()))}"
    if kind == "union_tag_invalid":
        raw = given.get("kind") if isinstance(given, dict) else None
        if not isinstance(raw, str):
            return f"must be the name of a check kind, got {_type_name(raw)}"
        guesses = difflib.get_close_matches(raw, _check_kinds(), n=1)
        known = ", ".join(sorted(_check_kinds()))
        return f"unknown check kind {raw!r}" + (f" (did you mean {guesses[0]!r}?)" if guesses else f"; known kinds: {known}")
    if kind == "literal_error":
        return f"{given!r} is not allowed; expected {ctx.get('expected', 'another value')}"
    simple = {
        "string_type": "expected text",
        "int_type": "expected a whole number",
        "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
        "dict_type": "expected a mapping (key: value)",
        "model_type": "expected a mapping (key: value)",
        "model_attributes_type": "expected a mapping (key: value)",
        "list_type": "expected a list",
    }
    if kind in simple:
        shown = repr(given) if isinstance(given, str) and kind.endswith("_parsing") else _type_name(given)
        return f"{simple[kind]}, got {shown}"
    bounds = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most"),
              "greater_than": ("gt", "more than"), "less_than": ("lt", "less than")}
    if kind in bounds:
        name, words = bounds[kind]
        return f"must be {words} {ctx.get(name)}, got {given!r}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"{given!r} does not match the pattern {ctx.get('pattern')}"
    message = str(err["msg"])
    if message.startswith(("Value error, ", "Assertion failed, ")):
        message = message.split(", ", 1)[1]
    return message


def _type_name(value: Any) -> str:
    """What a YAML value is, in the words an admin uses."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"text {value!r}" if len(value) <= 40 else "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _describe_label(label: str) -> str:
    if label == "str":
        return "text"
    if label in ("int", "float"):
        return "a number"
    if label == "bool":
        return "true or false"
    if label.startswith("dict[literal["):
        keys = re.findall(r"'([^']*)'", label.split("]", 1)[0])
        return "a mapping with keys " + ", ".join(keys)
    if label.startswith("dict[") or label[:1].isupper():
        return "a mapping"
    if label.startswith("list["):
        return "a list"
    return label


def _check_kinds() -> list[str]:
    return list(KINDS)


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found by walking `loc` from Config (for 'did you mean')."""
    tp: Any = Config
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    models = [m for m in _members(tp) if isinstance(m, type) and issubclass(m, BaseModel)]
    names: list[str] = []
    for m in models:
        names.extend(m.model_fields)
    return names


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin in (typing.Union, UnionType):
        out = []
        for a in typing.get_args(tp):
            out.extend(_members(a))
        return out
    return [tp]


def _step(tp: Any, part: Any) -> Any:
    for member in _members(tp):
        origin = typing.get_origin(member)
        if member is CheckSpec and isinstance(part, str) and part in KINDS:
            return KINDS[part].Spec  # `checks:` is typed with the base; the kind's tag names its Spec
        if isinstance(member, type) and issubclass(member, BaseModel):
            if isinstance(part, str) and part in member.model_fields:
                return member.model_fields[part].annotation
            kind = member.model_fields.get("kind")
            if kind is not None and typing.get_args(kind.annotation) == (part,):
                return member
        elif origin is list and isinstance(part, int):
            return typing.get_args(member)[0]
        elif origin is dict and isinstance(part, str):
            return typing.get_args(member)[1]
    return None


