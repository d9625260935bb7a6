"""The pieces of a parsed condition: placeholders, vocabularies, syntax-tree nodes.

Kept apart from parsing and evaluation so each of those reads as one piece; the `Condition`
a spec holds (frozen, comparable: config reloads compare specs) lives with its evaluation in
`checks.conditions.evaluate`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MAX_CONDITION_LENGTH = 1000
MAX_ACTUAL_CHARS = 200
OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


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
