"""JSONPath, compiled once per expression (jsonpath-ng's parser is slow: ~0.3 ms a parse).

`jsonpath_ng.ext.parser.parse` builds a new parser (PLY's tables bound to its grammar) for
every expression, which costs more than the parse itself; one parser, built on first use,
parses them all (one at a time: a PLY parser keeps its stacks on itself while it parses)."""

from __future__ import annotations

import threading
from functools import cache, lru_cache
from typing import Annotated, Any

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import ExtendedJsonPathParser
from pydantic import AfterValidator, Field

_MISSING = object()
_PARSING = threading.Lock()


@cache
def _parser() -> ExtendedJsonPathParser:
    return ExtendedJsonPathParser()


def parse(expr: str) -> JSONPath:
    """What jsonpath_ng.ext.parser.parse(expr) returns, from the one shared parser."""
    with _PARSING:
        return _parser().parse(expr)


@lru_cache(maxsize=4096)
def compile_path(expr: str) -> JSONPath:
    """Parse a JSONPath or raise ValueError naming what is wrong (used by config validation)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("a JSONPath cannot be empty")
    try:
        return parse(expr)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # the parser raises bare Exception too
        raise ValueError(f"not a JSONPath {expr!r}: {exc}") from None


def _checked(expr: str) -> str:
    compile_path(expr)  # raises ValueError with the parser's complaint
    return expr


# A JSONPath in config, parsed when the config loads so a typo is a config error.
JsonPath = Annotated[str, Field(min_length=1, description="a JSONPath such as $.result.list"), AfterValidator(_checked)]


def find_all(expr: str, doc: Any) -> list[Any]:
    return [m.value for m in compile_path(expr).find(doc)]


def find_first(expr: str, doc: Any, default: Any = None) -> Any:
    """The first match, or `default` when nothing matches. A JSON null matches (and is None)."""
    matches = compile_path(expr).find(doc)
    return matches[0].value if matches else default


def exists(expr: str, doc: Any) -> bool:
    return bool(compile_path(expr).find(doc))
