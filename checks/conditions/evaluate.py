"""Evaluating a Condition against the values a kind provides; never raises past Condition.evaluate.

Also the pieces evaluation needs: `Document` (a body whose JSON is parsed once, lazily),
path walking, the comparison rules, `pat()` glob matching, and bounded previews of values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from checks.conditions.tree import (
    MAX_ACTUAL_CHARS,
    NUMBER,
    AnyOf,
    Const,
    Func,
    Node,
    Pattern,
    Ref,
)
from monitor.core.results import ConditionResult

_TRUE_FALSE = {"true": True, "false": False}


class Document:
    """A response body: raw text for `[BODY]`, JSON (parsed once, on first use) for paths."""

    __slots__ = ("__dict__", "_raw")

    def __init__(self, raw: bytes | str) -> None:
        self._raw = raw

    @cached_property
    def text(self) -> str:
        raw = self._raw
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw

    @cached_property
    def tree(self) -> Any:
        """The parsed JSON, or _NotJson when the body is not (or too hostile to be) JSON."""
        try:
            return json.loads(self._raw)
        except (ValueError, RecursionError, TypeError) as exc:  # ValueError: bad JSON, huge ints
            return _NotJson(str(exc)[:80])


@dataclass(frozen=True, slots=True)
class _NotJson:
    why: str


def compile_glob(glob: str) -> tuple[tuple[str | re.Pattern[str], int], ...]:
    """Split a glob on `*` into fixed-length segments (text, or a tiny regex when it has `?`).

    No quantifiers ever reach the regex engine, so matching cannot backtrack catastrophically.
    """
    out: list[tuple[str | re.Pattern[str], int]] = []
    for part in glob.split("*"):
        if "?" in part:
            regex = re.compile("".join("." if ch == "?" else re.escape(ch) for ch in part), re.DOTALL)
            out.append((regex, len(part)))
        else:
            out.append((part, len(part)))
    return tuple(out)


def glob_match(segments: tuple[tuple[str | re.Pattern[str], int], ...], text: str) -> bool:
    """Match text against `*`-separated segments: each middle segment at its leftmost place
    (optimal for fixed-length segments), the last one at the very end. O(len(text) x segments)."""

    def at(seg: str | re.Pattern[str], pos: int) -> bool:
        return text.startswith(seg, pos) if isinstance(seg, str) else seg.match(text, pos) is not None

    def find(seg: str | re.Pattern[str], pos: int) -> int:
        if isinstance(seg, str):
            return text.find(seg, pos)
        m = seg.search(text, pos)
        return -1 if m is None else m.start()

    if len(segments) == 1:
        seg, n = segments[0]
        return len(text) == n and at(seg, 0)
    (first, n_first), *middle, (last, n_last) = segments
    if not at(first, 0):
        return False
    pos = n_first
    for seg, n in middle:
        found = find(seg, pos)
        if found == -1:
            return False
        pos = found + n
    tail = len(text) - n_last
    return tail >= pos and at(last, tail)


class Fail(Exception):
    def __init__(self, message: str, actual: Any = None) -> None:
        self.message = message
        self.actual = actual


_MISSING = object()


def _resolve(ref: Ref, values: Mapping[str, Any]) -> Any:
    """The value at a placeholder's path, or raise Fail saying where the path stopped."""
    if ref.name not in values:
        raise Fail(f"{ref.source}: no value in this result")
    cur = values[ref.name]
    if isinstance(cur, Document):
        if not ref.path:
            return cur.text
        cur = cur.tree
        if isinstance(cur, _NotJson):
            raise Fail(f"{ref.source}: body is not JSON ({cur.why})")
    for i, step in enumerate(ref.path):
        nxt = _step(cur, step)
        if nxt is _MISSING:
            where = f"[{ref.name}]" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in ref.path[:i])
            raise Fail(f"{ref.source}: not found; {where} {_what(cur, step)}")
        cur = nxt
    return cur


def _step(cur: Any, step: str | int) -> Any:
    if type(cur) is dict:  # the common case (parsed JSON), without the Mapping ABC's check
        return cur.get(step, _MISSING) if isinstance(step, str) else _MISSING
    if isinstance(step, str) and isinstance(cur, list | tuple) and step.isascii() and step.isdigit():
        step = int(step)
    if isinstance(step, int):
        if isinstance(cur, list | tuple) and -len(cur) <= step < len(cur):
            return cur[step]
        return _MISSING
    if isinstance(cur, Mapping) and step in cur:
        return cur[step]
    return _MISSING


def _what(cur: Any, step: str | int) -> str:
    if isinstance(cur, list | tuple):
        items = f"{len(cur)} item{'s' if len(cur) != 1 else ''}"
        return f"has {items}" if isinstance(step, int) else f"is a list of {items}, not an object"
    if isinstance(cur, Mapping):
        return f"has no {step!r}"
    return f"is {_kind(cur)}, not {'a list' if isinstance(step, int) else 'an object'}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float | Decimal):
        return "a number"
    return type(value).__name__


def _operand(node: Node, values: Mapping[str, Any]) -> Any:
    if isinstance(node, Ref):
        return _resolve(node, values)
    assert isinstance(node, Func)
    if node.name == "has":
        try:
            _resolve(node.ref, values)
        except Fail:
            return False
        return True
    value = _resolve(node.ref, values)
    if isinstance(value, str | list | tuple | Mapping | bytes):
        return len(value)
    raise Fail(f"len() of {_kind(value)}", json_safe(value))


def evaluate_condition(c: Condition, values: Mapping[str, Any]) -> ConditionResult:
    left, right = c.left, c.right
    subject, other = (left, right) if isinstance(left, Ref | Func) else (right, left)
    a = _operand(subject, values)
    unit = _unit(subject)
    actual = json_safe(a)
    if isinstance(other, AnyOf):
        ok = any(_equal(a, unit, o) for o in other.options)
        return ConditionResult(c.text, ok if c.op == "==" else not ok, actual)
    if isinstance(other, Pattern):
        ok = glob_match(c._matcher, text_of(a))
        return ConditionResult(c.text, ok if c.op == "==" else not ok, actual)
    if isinstance(other, Ref | Func):
        b: Any = _operand(other, values)
        b_unit = _unit(other)
        if subject is right:  # keep the written order for < and >
            a, b, unit, b_unit = b, a, b_unit, unit
        return ConditionResult(c.text, _compare_values(a, unit, c.op, b, b_unit), actual)
    assert isinstance(other, Const)
    op = c.op if subject is left else _MIRROR[c.op]
    if op in ("==", "!="):
        eq = _equal(a, unit, other)
        return ConditionResult(c.text, eq if op == "==" else not eq, actual)
    x = _number(a, unit, lenient=True)
    if x is None:
        raise Fail(f"{_kind(a)} is not a number", actual)
    y = other.number_in(unit)
    assert y is not None  # checked at load
    return ConditionResult(c.text, _order(x, op, y), actual)


def _unit(node: Node) -> str:
    """Milliseconds or seconds: a placeholder's own unit; len() and has() have none (s)."""
    return node.unit if isinstance(node, Ref) else "s"


_MIRROR = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


def _order(x: Any, op: str, y: Any) -> bool:
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _equal(a: Any, unit: str, const: Const) -> bool:
    if not const.quoted:
        y = const.number_in(unit)
        x = _number(a, unit, lenient=False)
        if x is not None and y is not None:
            return bool(x == y)
        if isinstance(a, bool) and const.text.lower() in _TRUE_FALSE:
            return a is _TRUE_FALSE[const.text.lower()]
        if a is None and const.text == "null":
            return True
    return text_of(a) == const.text


def _compare_values(a: Any, a_unit: str, op: str, b: Any, b_unit: str) -> bool:
    x, y = _number(a, a_unit, lenient=op not in ("==", "!=")), _number(b, b_unit, lenient=op not in ("==", "!="))
    if x is not None and y is not None:
        if a_unit != b_unit:  # bring milliseconds to seconds
            x, y = (x / 1000 if a_unit == "ms" else x), (y / 1000 if b_unit == "ms" else y)
        if op in ("==", "!="):
            return bool(x == y) if op == "==" else bool(x != y)
        return _order(x, op, y)
    if op in ("==", "!="):
        same = text_of(a) == text_of(b)
        return same if op == "==" else not same
    raise Fail(f"cannot order {_kind(a)} and {_kind(b)}", json_safe(a))


def _number(value: Any, unit: str, *, lenient: bool) -> int | float | None:
    kind = type(value)
    if kind is int or kind is float:  # the common case first (bool is not int here)
        return value  # type: ignore[no-any-return]
    if kind is str and not lenient:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return math.nan if value.is_nan() else float(value)
    if isinstance(value, timedelta):
        s = value.total_seconds()
        return s * 1000 if unit == "ms" else s
    if lenient and isinstance(value, str) and len(value) <= 100 and NUMBER.fullmatch(value.strip()):
        try:
            text = value.strip()
            return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
        except (ValueError, OverflowError):
            return None
    return None


def text_of(value: Any) -> str:
    """How a value reads when compared as text."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 10000:
        return f"<{value.bit_length()}-bit integer>"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Document):
        return value.text
    return _preview(value, 1 << 20)


def json_safe(value: Any) -> Any:
    """A JSON-safe, bounded copy of a value for ConditionResult.actual."""
    if type(value) is str:
        return value if len(value) <= MAX_ACTUAL_CHARS else _truncate(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 63 else text_of(value)[:MAX_ACTUAL_CHARS]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        f = float(value) if value.is_finite() else math.nan
        return f if math.isfinite(f) else str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str | bytes | datetime | date):
        return _truncate(text_of(value))
    return _preview(value, MAX_ACTUAL_CHARS)


def _truncate(text: str, limit: int = MAX_ACTUAL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _preview(value: Any, limit: int) -> str:
    """Compact JSON-ish text of a structure, built only as far as `limit` characters."""
    out: list[str] = []
    size = 0

    def put(s: str) -> bool:
        nonlocal size
        out.append(s)
        size += len(s)
        return size < limit

    def walk(v: Any, depth: int) -> bool:
        if depth > 20:
            return put("…")
        if isinstance(v, Mapping):
            if not put("{"):
                return False
            for i, (k, item) in enumerate(v.items()):
                if (i and not put(",")) or not put(json.dumps(str(k), ensure_ascii=False) + ":") or not walk(item, depth + 1):
                    return False
            return put("}")
        if isinstance(v, list | tuple):
            if not put("["):
                return False
            for i, item in enumerate(v):
                if (i and not put(",")) or not walk(item, depth + 1):
                    return False
            return put("]")
        if isinstance(v, str):
            return put(json.dumps(v[:limit], ensure_ascii=False))
        return put(text_of(v)[:limit])

    walk(value, 0)
    return _truncate("".join(out), limit)


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition. Equal conditions compare equal (config reloads rely on it)."""

    text: str
    left: Node
    op: str
    right: Node
    _matcher: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        return self.text

    @property
    def placeholders(self) -> frozenset[str]:
        """Names this condition reads, so a kind computes costly values only when asked."""
        names = set()
        for node in (self.left, self.right):
            if isinstance(node, Ref):
                names.add(node.name)
            elif isinstance(node, Func):
                names.add(node.ref.name)
        return frozenset(names)

    def evaluate(self, values: Mapping[str, Any]) -> ConditionResult:
        """Evaluate against the values a kind provides (name -> value or Document)."""
        try:
            return evaluate_condition(self, values)
        except Fail as f:
            return ConditionResult(self.text, False, f.actual, f.message)
        except Exception as exc:  # incl. RecursionError: hostile input never escapes
            return ConditionResult(self.text, False, None, f"could not evaluate: {type(exc).__name__}")
