"""Parsing condition text into a Condition, with errors that name the column.

Hand-written and non-recursive (functions take a placeholder or constants, never another
function), so hostile text costs linear time and cannot exhaust the stack.
"""

from __future__ import annotations

import re
from typing import Any

from checks.conditions.evaluate import Condition, compile_glob
from checks.conditions.tree import (
    ALL,
    MAX_CONDITION_LENGTH,
    NUMBER,
    OPERATORS,
    STANDARD,
    AnyOf,
    Const,
    Func,
    Node,
    Pattern,
    Ref,
    Vocabulary,
)
from monitor.core.durations import parse_duration
from monitor.core.errors import ConditionSyntaxError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_STOP = set(".[]()=!<>,\"' \t\r\n")


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
        after = self.text[pos + len(op):]
        if after[:1] in ("=", "!"):
            bad = op + after[:1]
            raise self.fail(f"{bad!r} is not an operator; use ==, !=, <, <=, > or >= (quote a constant that starts with "
                            f"{after[:1]})", pos)
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
            matcher = compile_glob(pattern.glob)
        return Condition(c.text, c.left, c.op, c.right, matcher)


def _const(text: str) -> Const:
    number: int | float | None = None
    seconds: float | None = None
    if len(text) <= 100 and NUMBER.fullmatch(text):
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


