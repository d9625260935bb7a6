"""YAML syntax errors in words, with the line and a caret under the column.

PyYAML and libyaml describe a syntax error in parser terms ("expected <block end>, but found
'<block mapping start>'", "did not find expected key"). An admin wants to know what to change:
"indentation: this line is indented deeper than the key above it". We read the parser's problem
and context, look at the lines around the mark, and say it in words; the problem is located
where the fix is (the unclosed quote, the line with the missing `:`), which is not always
where the parser gave up. Anything not recognised keeps the parser's words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from monitor.core.errors import ConfigProblem

_KEY_LINE = re.compile(r"^(\s*)(?:-\s+)?([^\s#'\"{\[][^:#]*?|\"[^\"]*\"|'[^']*'):(?:\s|$)")


@dataclass(frozen=True)
class SyntaxProblem(ConfigProblem):
    """A ConfigProblem that also carries the source line, for `excerpt()`."""

    source_line: str = ""


def problem(file: str, text: str, exc: Any, path: str) -> SyntaxProblem:
    """The located problem for a yaml.MarkedYAMLError; `path` is the key path being parsed."""
    lines = text.split("\n")
    line, col, words = explain(exc, lines)
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    return SyntaxProblem(file, line, col, path, f"YAML syntax: {words}", source.rstrip("\r"))


def excerpt(p: ConfigProblem) -> str:
    """The problem's line and a caret under its column, for a terminal; "" when there is none."""
    if not isinstance(p, SyntaxProblem) or p.line is None or p.column is None:
        return ""
    shown = p.source_line.replace("\t", " ")
    if len(shown) > 160:
        start = max(0, p.column - 80)
        shown, col = shown[start : start + 160], p.column - start
    else:
        col = p.column
    gutter = str(p.line)
    pad = _width(shown[: col - 1])
    return f"  {gutter} | {shown}\n  {' ' * len(gutter)} | {' ' * pad}^"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _previous(lines: list[str], index: int) -> int | None:
    """Index of the nearest line above `index` with content (not blank, not a comment)."""
    i = index - 1
    while i >= 0:
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            return i
        i -= 1
    return None


def explain(exc: Any, lines: list[str]) -> tuple[int, int, str]:
    """(line, column, words) for a yaml.MarkedYAMLError."""
    mark = exc.problem_mark
    ctx_mark = exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    col = mark.column + 1 if mark is not None else 1
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    ch = here[col - 1] if 0 < col <= len(here) else ""
    at_end = line > len(lines) or (line == len(lines) and not here.strip()) or "<stream end>" in problem

    if "maximum nesting depth" in problem:
        return line, col, "nested too deeply (more than 1000 levels of [ or {); a config needs a few"
    if "\t" in problem or "tab" in problem or (ch == "\t" and "cannot start any token" in problem):
        return line, col, "a tab character; indent YAML with spaces"
    if problem.startswith("mapping values are not allowed"):
        return _colon(lines, line, col)
    if "found unexpected end of stream" in problem and "quoted" in context and ctx_mark is not None:
        quote = lines[ctx_mark.line][ctx_mark.column] if ctx_mark.line < len(lines) else '"'
        return ctx_mark.line + 1, ctx_mark.column + 1, f"the quote {quote} that starts here is never closed"
    if "could not find expected ':'" in problem and ctx_mark is not None:
        return ctx_mark.line + 1, ctx_mark.column + 1, (
            "this text runs on over several lines and never reaches a ':'; write key: value, "
            "or quote text that goes on over lines"
        )
    if "while parsing a flow" in context and "expected ','" in problem:
        closer = "]" if "sequence" in context else "}"
        opener = "[" if closer == "]" else "{"
        if ctx_mark is not None:
            return ctx_mark.line + 1, ctx_mark.column + 1, (
                f"the {opener} that starts here is never closed with {closer} (or a ',' is missing between two items)"
            )
    if "expected the node content" in problem or "expected node content" in problem:
        if at_end:
            unclosed = _unclosed(lines)
            if unclosed is not None:
                ol, oc, bracket = unclosed
                closer = "]" if bracket == "[" else "}"
                return ol, oc, f"the {bracket} that starts here is never closed with {closer}"
            return line, col, "the file ends where a value should be"
        if ch in "]},":
            return line, col, f"{ch!r} here closes or separates nothing; quote the value if it is text"
        return line, col, "a value should start here; quote it if it is text"
    if "while parsing a block mapping" in context and ctx_mark is not None:
        return _block_mapping(lines, line, col, ctx_mark.line + 1, ctx_mark.column + 1)
    if ("while parsing a block collection" in context or "block sequence" in context) and ctx_mark is not None:
        return _block_sequence(lines, line, col, ctx_mark.line + 1, ctx_mark.column + 1)
    if "block sequence entries are not allowed" in problem:
        return line, col, "a list item ('- ') cannot follow a key on the same line; start the list on the next line, indented"
    if "cannot start any token" in problem:
        if ch in "@`":
            return line, col, f"{ch!r} cannot start a value in YAML; put the value in quotes"
        shown = repr(ch) if ch else "this character"
        return line, col, f"{shown} cannot start a value here; put the value in quotes"
    if "unknown escape character" in problem:
        return line, col, ("an unknown \\ escape in double-quoted text; write \\\\ for a backslash, "
                           "or use 'single quotes' (no escapes)")
    if "undefined tag handle" in problem:
        return line, col, "an unknown ! tag; quote the value if the ! is part of the text"
    if "alias" in context or "anchor" in context:
        return line, col, f"{ch or '*'!r} starts an alias or anchor name; quote the value if it is text"
    if "directive" in problem:
        return line, col, f"a % directive YAML cannot use ({problem}); remove it"
    words = re.sub(r"'?<([a-z ]+)>'?", r"\1", problem) or "the parser gave up here"
    return line, col, words + (f" ({context})" if context else "")


def _unclosed(lines: list[str]) -> tuple[int, int, str] | None:
    """The last [ or { never closed (outside quotes and comments), as (line, column, bracket)."""
    stack: list[tuple[int, int, str]] = []
    for n, text in enumerate(lines, 1):
        quote = ""
        for i, ch in enumerate(text):
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "\"'" and (i == 0 or text[i - 1] in " \t[{,:"):
                quote = ch
            elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
                break
            elif ch in "[{":
                stack.append((n, i + 1, ch))
            elif ch in "]}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _colon(lines: list[str], line: int, col: int) -> tuple[int, int, str]:
    """`mapping values are not allowed here`: a ':' the parser did not expect."""
    here = lines[line - 1]
    before = here[: col - 1]
    m = _KEY_LINE.match(here)
    if m is not None and m.end() <= col - 1 and before[m.end():].strip():
        key = m.group(2).strip()
        return line, col, (f"a second ': ' in the value of {key}:; put the value in quotes "
                           f'({key}: "{here[m.end():].strip()}")')
    prev = _previous(lines, line - 1)
    if prev is not None:
        above = lines[prev]
        if ":" not in above.split("#")[0] and not above.strip().startswith("- "):
            return prev + 1, _indent(above) + 1, (
                "this line has no ':', so YAML reads it as text running on into the next line; write key: value"
            )
        if _indent(here) > _indent(above):
            key = _KEY_LINE.match(above)
            name = f" ({key.group(2).strip()}: on line {prev + 1})" if key else f" (line {prev + 1})"
            return line, _indent(here) + 1, (
                f"indentation: this line is indented deeper than the key above it{name} expects; "
                "keys of one mapping start in the same column, and only a key ending in ':' opens a deeper level"
            )
    return line, col, "a ':' where none may be; put the value in quotes if it contains ': '"


def _block_mapping(lines: list[str], line: int, col: int, start_line: int, start_col: int) -> tuple[int, int, str]:
    """`did not find expected key` / `expected <block end>`: the next line does not fit the mapping."""
    here = lines[line - 1] if line <= len(lines) else ""
    text = here.lstrip(" ")
    before = here[: col - 1].rstrip()
    if before and before[-1] in "\"'":
        return line, col, "text after the closing quote; quote the whole value, or none of it"
    if text.startswith("-"):
        dash = next((i + 1 for i in range(start_line - 1, line - 1) if re.match(r"\s*-[^\s-]", lines[i])), None)
        if dash is not None:
            return dash, _indent(lines[dash - 1]) + 1, "a '-' needs a space after it to start a list item ('- name: ...')"
        return line, col, (f"a list item where the mapping that starts at line {start_line} expects another key; "
                           "a list belongs under a key ending in ':', indented")
    indent = _indent(here) + 1
    prev = _previous(lines, line - 1)
    inner = _indent(lines[prev]) + 1 if prev is not None else None
    if indent != start_col:
        levels = f"column {start_col}" + (f" or column {inner}" if inner and inner != start_col and inner != indent else "")
        return line, indent, (f"indentation: this line starts in column {indent}, which lines up with no key above it; "
                              f"move it to {levels}")
    return line, col, f"expected another key: value of the mapping that starts at line {start_line}"


def _block_sequence(lines: list[str], line: int, col: int, start_line: int, start_col: int) -> tuple[int, int, str]:
    """`did not find expected '-' indicator`: the next line does not fit the list."""
    here = lines[line - 1] if line <= len(lines) else ""
    indent = _indent(here) + 1
    if here.lstrip(" ").startswith("-"):
        return line, indent, (f"indentation: this list item starts in column {indent}, the items above it "
                              f"(line {start_line}) in column {start_col}; line them up")
    return line, indent, (f"a key: value where the list that starts at line {start_line} expects another '- ' item; "
                          "a list and a mapping cannot share one indentation level")
