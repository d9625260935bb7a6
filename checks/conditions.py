"""Conditions: the small language that says what "healthy" means, Gatus-style.

    [STATUS] == 200                         [RESPONSE_TIME] < 800       (ms; or < 800ms, < 1.5s)
    [BODY].result.code == E0000             [BODY].result.list[0].invoiceNo != ""
    [HEADER].content-type == pat(*json*)    len([BODY].items) > 0
    [CERTIFICATE_EXPIRATION] > 72h          [STATUS] == any(200, 201, 204)
    has([BODY].result.token) == true        [ROW].lag_s < 10m

A condition is `operand OP operand`, OP one of == != < <= > >=. An operand is a placeholder
with an optional path (`.key`, `[0]`, `[-1]`, `["odd.key"]`), `len(placeholder)`,
`has(placeholder)`, `any(v1, v2, ...)` or `pat(glob)` (both only with == / !=), or a constant
(bare text, or "quoted" / 'quoted' when it holds spaces at the ends or operators).

Why parse at config load: a typo in a condition must be a config error naming the check and
the column, not a probe that silently fails at 3 a.m. Each kind declares the placeholders it
fills (a `Vocabulary`), so `[ROW].x` on an http check is rejected at load.

Comparison rules, chosen to be predictable:
- `==` / `!=`: a number (or duration) compares numerically with an unquoted numeric constant;
  a boolean with true/false; JSON null with null; everything else compares as text
  (so `"0000" == 0` is false but `"200" == 200` is true).
- `< <= > >=` are numeric only; text that reads as a number counts. Durations are converted
  to the placeholder's unit ([RESPONSE_TIME] is milliseconds, everything else seconds), and
  a timedelta value (an SQL interval) counts as that many seconds.
- `pat()` globs know `*` (any run) and `?` (one character), case-sensitive, matched in
  linear-ish time (segments found left to right; no backtracking regex).
- A path that leads nowhere fails the condition with actual None and says where it stopped.

Evaluation never raises: hostile bodies (deep nesting, huge numbers) become failed conditions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from checks.base import ConditionResult
from monitor.durations import parse_duration

__all__ = [
    "STANDARD",
    "Condition",
    "ConditionList",
    "Document",
    "PlaceholderSpec",
    "Vocabulary",
    "condition_list",
    "evaluate",
    "failure_message",
    "parse_condition",
    "vocabulary",
]

MAX_CONDITION_LENGTH = 1000
MAX_ACTUAL_CHARS = 200
OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_STOP = set(".[]()=!<>,\"' \t\r\n")
_TRUE_FALSE = {"true": True, "false": False}


# -- placeholders ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceholderSpec:
    """One placeholder a kind may fill. `path`: none, optional, required, or one key only."""

    name: str
    path: Literal["none", "optional", "required", "one"] = "none"
    unit: Literal["ms", "s"] = "s"
    description: str = ""


STANDARD: dict[str, PlaceholderSpec] = {
    p.name: p
    for p in (
        PlaceholderSpec("STATUS", description="HTTP status code"),
        PlaceholderSpec("BODY", "optional", description="response body; a path reads its JSON"),
        PlaceholderSpec("HEADER", "one", description="a response header, by case-insensitive name"),
        PlaceholderSpec("RESPONSE_TIME", unit="ms", description="total time in milliseconds"),
        PlaceholderSpec("CERTIFICATE_EXPIRATION", description="seconds until the certificate expires"),
        PlaceholderSpec("CONNECTED", description="true when the connection was made"),
        PlaceholderSpec("IP", description="address connected to"),
        PlaceholderSpec("VALUE", description="first column of the first row"),
        PlaceholderSpec("ROW", "required", description="a column of the first row, by name"),
        PlaceholderSpec("ROWS", description="number of rows returned"),
        PlaceholderSpec("VAR", "required", description="a variable set by an earlier step"),
        PlaceholderSpec("ANSWERS", "optional", description="DNS answers as a list of text"),
        PlaceholderSpec("RCODE", description="DNS response code, e.g. NOERROR, NXDOMAIN"),
    )
}


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The placeholders one kind (or flow step) fills; conditions outside it fail to load.

    `label` finishes the sentence "[ROW] is not available in ...", e.g. "an http check".
    """

    label: str
    placeholders: tuple[PlaceholderSpec, ...]

    def get(self, name: str) -> PlaceholderSpec | None:
        for p in self.placeholders:
            if p.name == name:
                return p
        return None

    def names(self) -> str:
        return ", ".join(f"[{p.name}]" for p in self.placeholders)


def vocabulary(label: str, *names: str, extra: Sequence[PlaceholderSpec] = ()) -> Vocabulary:
    """A vocabulary from standard placeholder names plus kind-specific extras."""
    return Vocabulary(label, tuple(STANDARD[n] for n in names) + tuple(extra))


ALL = Vocabulary("a check", tuple(STANDARD.values()))


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


# -- syntax tree ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    """A constant as written; its number (or duration in seconds) is worked out at load."""

    text: str
    quoted: bool = False
    number: int | float | None = None
    seconds: float | None = None

    def number_in(self, unit: str) -> int | float | None:
        if self.number is not None:
            return self.number
        if self.seconds is not None:
            return self.seconds * 1000 if unit == "ms" else self.seconds
        return None


@dataclass(frozen=True, slots=True)
class Ref:
    name: str
    path: tuple[str | int, ...]
    unit: str
    source: str  # as written, for messages


@dataclass(frozen=True, slots=True)
class Func:
    name: Literal["len", "has"]
    ref: Ref


@dataclass(frozen=True, slots=True)
class AnyOf:
    options: tuple[Const, ...]


@dataclass(frozen=True, slots=True)
class Pattern:
    glob: str


Node = Const | Ref | Func | AnyOf | Pattern


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

    def evaluate(self, values: Mapping[str, Any]) -> ConditionResult:
        """Evaluate against the values a kind provides (name -> value or Document)."""
        try:
            return _evaluate(self, values)
        except _Fail as f:
            return ConditionResult(self.text, False, f.actual, f.message)
        except Exception as exc:  # incl. RecursionError: hostile input never escapes
            return ConditionResult(self.text, False, None, f"could not evaluate: {type(exc).__name__}")


class ConditionSyntaxError(ValueError):
    """A condition that cannot be parsed; the message names the column."""


# -- parsing ---------------------------------------------------------------------------------------


def parse_condition(text: str, vocab: Vocabulary = ALL) -> Condition:
    """Parse one condition or raise ConditionSyntaxError saying what and where."""
    if not isinstance(text, str):
        raise ConditionSyntaxError("a condition is text like '[STATUS] == 200'")
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionSyntaxError(f"condition is {len(text)} characters long; the limit is {MAX_CONDITION_LENGTH}")
    return _Parser(text, vocab).parse()


class _Parser:
    def __init__(self, text: str, vocab: Vocabulary) -> None:
        self.text = text
        self.vocab = vocab

    def fail(self, message: str, pos: int) -> ConditionSyntaxError:
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return ConditionSyntaxError(f"{message} (column {pos + 1} of {shown!r})")

    def parse(self) -> Condition:
        ops = self._operators()
        if not ops:
            if not self.text.strip():
                raise self.fail("empty condition", 0)
            stray = next((i for i, c in enumerate(self.text) if c in "=!"), None)
            if stray is not None:
                raise self.fail(f"{self.text[stray]!r} is not an operator; use ==, !=, <, <=, > or >=", stray)
            raise self.fail("no comparison; write it like '[STATUS] == 200' (==, !=, <, <=, >, >=)", len(self.text))
        if len(ops) > 1:
            pos, op = ops[1]
            raise self.fail(f"a second operator {op!r}; quote constants that contain operators", pos)
        pos, op = ops[0]
        left = self._operand(0, pos, "left of " + op)
        right = self._operand(pos + len(op), len(self.text), "right of " + op)
        return self._check(Condition(self.text, left, op, right), pos)

    def _operators(self) -> list[tuple[int, str]]:
        """Top-level operators (outside quotes, brackets and parentheses), in order."""
        text, found, i, depth = self.text, [], 0, []
        while i < len(text):
            c = text[i]
            if c in "\"'":
                i = self._skip_quoted(i)
                continue
            if c in "([":
                depth.append((c, i))
            elif c in ")]":
                if not depth or depth[-1][0] != ("(" if c == ")" else "["):
                    raise self.fail(f"unexpected {c!r}", i)
                depth.pop()
            elif not depth:
                op = next((o for o in OPERATORS if text.startswith(o, i)), None)
                if op is not None:
                    found.append((i, op))
                    i += len(op)
                    continue
            i += 1
        if depth:
            raise self.fail(f"{depth[-1][0]!r} is never closed", depth[-1][1])
        return found

    def _skip_quoted(self, start: int) -> int:
        quote, i = self.text[start], start + 1
        while i < len(self.text):
            if self.text[i] == "\\":
                i += 2
                continue
            if self.text[i] == quote:
                return i + 1
            i += 1
        raise self.fail("quote is never closed", start)

    def _operand(self, start: int, end: int, where: str) -> Node:
        raw = self.text[start:end]
        lead = len(raw) - len(raw.lstrip())
        s, e = start + lead, start + len(raw.rstrip())
        if s >= e:
            raise self.fail(f"nothing {where}", min(start, len(self.text) - 1) if self.text else 0)
        body = self.text[s:e]
        if body.startswith("["):
            ref, stop = self._ref(s, e)
            if stop != e:
                raise self.fail(f"unexpected {self.text[stop:e][:20]!r} after {ref.source}", stop)
            return ref
        m = _NAME.match(body)
        if m and body[m.end():].lstrip().startswith("("):
            return self._function(m.group(), s, s + body.index("(", m.end()), e)
        if body[0] in "\"'":
            value, stop = self._quoted(s)
            if stop != e:
                raise self.fail("unexpected text after the closing quote", stop)
            return Const(value, quoted=True)
        return _const(body)

    def _ref(self, s: int, e: int) -> tuple[Ref, int]:
        text = self.text
        close = text.find("]", s, e)
        name = text[s + 1 : close] if close != -1 else ""
        if close == -1 or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            shown = text[s : close + 1 if close != -1 else e][:30]
            guess = name.upper() if name.upper() in STANDARD else None
            hint = f"did you mean [{guess}]?" if guess else f"placeholders in {self.vocab.label}: {self.vocab.names()}"
            raise self.fail(f"not a placeholder: {shown!r}; {hint}", s)
        spec = self.vocab.get(name)
        if spec is None:
            what = f"[{name}] is not available in {self.vocab.label}" if name in STANDARD else f"unknown placeholder [{name}]"
            raise self.fail(f"{what}; use {self.vocab.names()}", s)
        path: list[str | int] = []
        i = close + 1
        while i < e and text[i] in ".[":
            if text[i] == ".":
                j = i + 1
                while j < e and text[j] not in _KEY_STOP:
                    j += 1
                if j == i + 1:
                    raise self.fail("expected a key after '.'", i)
                path.append(text[i + 1 : j])
                i = j
            else:
                j = text.find("]", i, e)
                if j == -1:
                    raise self.fail("'[' is never closed", i)
                inner = text[i + 1 : j].strip()
                if inner[:1] in ("'", '"') and len(inner) >= 2 and inner[-1] == inner[0]:
                    path.append(inner[1:-1])
                elif re.fullmatch(r"-?\d{1,9}", inner):
                    path.append(int(inner))
                else:
                    raise self.fail(f"index must be a whole number or a quoted key, not {inner[:20]!r}", i + 1)
                i = j + 1
        ref = Ref(name, tuple(path), spec.unit, text[s:i])
        if spec.path == "none" and path:
            raise self.fail(f"[{name}] takes no path", close + 1)
        if spec.path == "required" and not path:
            raise self.fail(f"[{name}] needs a name after it, like [{name}].count", s)
        if spec.path == "one" and (len(path) != 1 or not isinstance(path[0], str)):
            raise self.fail(f"[{name}] takes exactly one name, like [{name}].content-type", s)
        return ref, i

    def _function(self, name: str, s: int, open_: int, e: int) -> Node:
        if self.text[e - 1] != ")":
            raise self.fail(f"unexpected text after {name}(...)", e - 1)
        inner_s, inner_e = open_ + 1, e - 1
        if name in ("len", "has"):
            inner = self.text[inner_s:inner_e]
            lead = len(inner) - len(inner.lstrip())
            if not inner.strip().startswith("["):
                raise self.fail(f"{name}() takes a placeholder, like {name}([BODY].items)", inner_s)
            ref, stop = self._ref(inner_s + lead, inner_s + len(inner.rstrip()))
            if stop != inner_s + len(inner.rstrip()):
                raise self.fail(f"{name}() takes one placeholder", stop + len(self.text[stop:]) - len(self.text[stop:].lstrip()))
            return Func(name, ref)  # type: ignore[arg-type]
        if name in ("any", "pat"):
            args = self._args(inner_s, inner_e)
            if name == "pat":
                if len(args) != 1:
                    raise self.fail("pat() takes one pattern, like pat(*json*)", inner_s)
                return Pattern(args[0].text)
            return AnyOf(tuple(args))
        raise self.fail(f"unknown function {name}(); use any(), pat(), len() or has()", s)

    def _args(self, s: int, e: int) -> list[Const]:
        out, start, i = [], s, s
        while i <= e:
            if i < e and self.text[i] in "\"'":
                i = self._skip_quoted(i)
                continue
            if i == e or self.text[i] == ",":
                part = self.text[start:i]
                stripped = part.strip()
                if not stripped:
                    raise self.fail("empty argument", start)
                if stripped[0] in "\"'":
                    ps = start + len(part) - len(part.lstrip())
                    value, stop = self._quoted(ps)
                    if stop != ps + len(stripped):
                        raise self.fail("unexpected text after the closing quote", stop)
                    out.append(Const(value, quoted=True))
                else:
                    out.append(_const(stripped))
                start = i + 1
            i += 1
        return out

    def _quoted(self, s: int) -> tuple[str, int]:
        end = self._skip_quoted(s)
        inner = self.text[s + 1 : end - 1]
        return re.sub(r"\\(.)", r"\1", inner), end

    def _check(self, c: Condition, pos: int) -> Condition:
        sides = (c.left, c.right)
        if not any(isinstance(n, Ref | Func) for n in sides):
            raise self.fail("compares two constants; one side must be a placeholder like [STATUS]", 0)
        matchers = [n for n in sides if isinstance(n, AnyOf | Pattern)]
        if matchers and c.op not in ("==", "!="):
            raise self.fail(f"{'any' if isinstance(matchers[0], AnyOf) else 'pat'}() works only with == or !=", pos)
        if len(matchers) == 2:
            raise self.fail("any() and pat() cannot be compared with each other", pos)
        if c.op not in ("==", "!="):
            for n in sides:
                if isinstance(n, Const) and n.number is None and n.seconds is None:
                    raise self.fail(f"{c.op} needs a number or a duration, not {n.text[:30]!r}", pos)
                if isinstance(n, Func) and n.name == "has":
                    raise self.fail(f"has() is true or false; compare it with == or !=, not {c.op}", pos)
        matcher: tuple[Any, ...] = ()
        pattern = next((n for n in sides if isinstance(n, Pattern)), None)
        if pattern is not None:
            matcher = _compile_glob(pattern.glob)
        return Condition(c.text, c.left, c.op, c.right, matcher)


def _const(text: str) -> Const:
    number: int | float | None = None
    seconds: float | None = None
    if len(text) <= 100 and _NUMBER.fullmatch(text):
        try:
            number = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
        except (ValueError, OverflowError):
            number = None
    elif len(text) <= 100:
        try:
            seconds = parse_duration(text).total_seconds()
        except (ValueError, OverflowError):
            seconds = None
    return Const(text, number=number, seconds=seconds)


# -- glob ------------------------------------------------------------------------------------------


def _compile_glob(glob: str) -> tuple[tuple[str | re.Pattern[str], int], ...]:
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


def _glob_match(segments: tuple[tuple[str | re.Pattern[str], int], ...], text: str) -> bool:
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


# -- evaluation ------------------------------------------------------------------------------------


class _Fail(Exception):
    def __init__(self, message: str, actual: Any = None) -> None:
        self.message = message
        self.actual = actual


_MISSING = object()


def _resolve(ref: Ref, values: Mapping[str, Any]) -> Any:
    """The value at a placeholder's path, or raise _Fail saying where the path stopped."""
    if ref.name not in values:
        raise _Fail(f"{ref.source}: no value in this result")
    cur = values[ref.name]
    if isinstance(cur, Document):
        if not ref.path:
            return cur.text
        cur = cur.tree
        if isinstance(cur, _NotJson):
            raise _Fail(f"{ref.source}: body is not JSON ({cur.why})")
    where = f"[{ref.name}]"
    for step in ref.path:
        nxt = _step(cur, step)
        if nxt is _MISSING:
            raise _Fail(f"{ref.source}: not found; {where} {_what(cur, step)}")
        cur = nxt
        where += f"[{step}]" if isinstance(step, int) else f".{step}"
    return cur


def _step(cur: Any, step: str | int) -> Any:
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
        except _Fail:
            return False
        return True
    value = _resolve(node.ref, values)
    if isinstance(value, str | list | tuple | Mapping | bytes):
        return len(value)
    raise _Fail(f"len() of {_kind(value)}", _actual(value))


def _evaluate(c: Condition, values: Mapping[str, Any]) -> ConditionResult:
    left, right = c.left, c.right
    subject, other = (left, right) if isinstance(left, Ref | Func) else (right, left)
    a = _operand(subject, values)
    unit = _unit(subject)
    actual = _actual(a)
    if isinstance(other, AnyOf):
        ok = any(_equal(a, unit, o) for o in other.options)
        return ConditionResult(c.text, ok if c.op == "==" else not ok, actual)
    if isinstance(other, Pattern):
        ok = _glob_match(c._matcher, _text(a))
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
        raise _Fail(f"{_kind(a)} is not a number", actual)
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
    return _text(a) == const.text


def _compare_values(a: Any, a_unit: str, op: str, b: Any, b_unit: str) -> bool:
    x, y = _number(a, a_unit, lenient=op not in ("==", "!=")), _number(b, b_unit, lenient=op not in ("==", "!="))
    if x is not None and y is not None:
        if a_unit != b_unit:  # bring milliseconds to seconds
            x, y = (x / 1000 if a_unit == "ms" else x), (y / 1000 if b_unit == "ms" else y)
        if op in ("==", "!="):
            return bool(x == y) if op == "==" else bool(x != y)
        return _order(x, op, y)
    if op in ("==", "!="):
        same = _text(a) == _text(b)
        return same if op == "==" else not same
    raise _Fail(f"cannot order {_kind(a)} and {_kind(b)}", _actual(a))


def _number(value: Any, unit: str, *, lenient: bool) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return math.nan if value.is_nan() else float(value)
    if isinstance(value, timedelta):
        s = value.total_seconds()
        return s * 1000 if unit == "ms" else s
    if lenient and isinstance(value, str) and len(value) <= 100 and _NUMBER.fullmatch(value.strip()):
        try:
            text = value.strip()
            return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
        except (ValueError, OverflowError):
            return None
    return None


def _text(value: Any) -> str:
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


def _actual(value: Any) -> Any:
    """A JSON-safe, bounded copy of a value for ConditionResult.actual."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 63 else _text(value)[:MAX_ACTUAL_CHARS]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        f = float(value) if value.is_finite() else math.nan
        return f if math.isfinite(f) else str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str | bytes | datetime | date):
        return _truncate(_text(value))
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
        return put(_text(v)[:limit])

    walk(value, 0)
    return _truncate("".join(out), limit)


# -- public helpers --------------------------------------------------------------------------------


def evaluate(conditions: Sequence[Condition], values: Mapping[str, Any]) -> list[ConditionResult]:
    """Evaluate every condition (never raises); one ConditionResult each, in order."""
    return [c.evaluate(values) for c in conditions]


def failure_message(results: Sequence[ConditionResult], limit: int = 3) -> str:
    """Failed conditions in words: `[STATUS] == 200 failed: actual 503`."""
    failed = [r for r in results if not r.ok]
    parts = []
    for r in failed[:limit]:
        why = r.error if r.error else f"actual {_show(r.actual)}"
        parts.append(f"{r.condition} failed: {why}")
    if len(failed) > limit:
        parts.append(f"and {len(failed) - limit} more")
    return "; ".join(parts)


def _show(actual: Any) -> str:
    if isinstance(actual, str):
        return json.dumps(actual, ensure_ascii=False) if actual == "" or actual != actual.strip() else actual
    return _text(actual)


def condition_list(vocab: Vocabulary) -> Any:
    """A pydantic type: a list of conditions for this vocabulary, written and dumped as text."""

    def validate(value: Any) -> Condition:
        if isinstance(value, Condition):
            return parse_condition(value.text, vocab)
        return parse_condition(value, vocab)

    item = Annotated[
        Condition,
        PlainValidator(validate),
        PlainSerializer(str, return_type=str),
        WithJsonSchema(
            {
                "type": "string",
                "maxLength": MAX_CONDITION_LENGTH,
                "description": f"condition like '[STATUS] == 200'; placeholders: {vocab.names()}",
            }
        ),
    ]
    return list[item]


ConditionList = condition_list(ALL)
