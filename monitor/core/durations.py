"""Durations as admins write them: `30s`, `5m`, `1h30m`, `2d`, `250ms`, or a bare number of seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


def parse_duration(value: Any) -> timedelta:
    """Parse `1h30m`-style text (or a number of seconds) into a timedelta; ValueError if not."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m or 1h30m")
    if isinstance(value, int | float):
        if value != value or value in (math.inf, -math.inf):
            raise ValueError("expected a duration like 30s, 5m or 1h30m")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _delta(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration like 30s, 5m or 1h30m")
    return _parse_text(value)


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> timedelta:
    """Durations repeat across checks (30s, 1m): parsed once each (timedelta is immutable)."""
    text = value.strip().replace(" ", "")
    if text.startswith("-") and _WHOLE.match(text[1:]):
        raise ValueError("a duration cannot be negative")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):  # "30" quoted: seconds, like the bare number
        return _delta(float(text))
    if not _WHOLE.match(text):
        raise ValueError(f"{value!r} is not a duration; write it like 30s, 5m, 1h30m or 250ms")
    return _delta(sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))


def _delta(seconds: float) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError("too long a duration (the limit is about 2.7 million years)") from None


def format_duration(delta: timedelta) -> str:
    """The shortest `1h30m`-style text for a timedelta, to the millisecond (inverse of
    parse_duration, so a config dumped and read again means the same)."""
    ms = round(delta.total_seconds() * 1000)
    if ms < 0:
        return "-" + format_duration(-delta)
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: 30s, 5m, 1h30m, 250ms, or seconds as a number",
        }
    ),
]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


# Intervals, timeouts, retention: zero would mean "busy loop" or "keep nothing".
PositiveDuration = Annotated[Duration, AfterValidator(_positive)]


def human_duration(delta: timedelta) -> str:
    """A span for people, in whole seconds: "35s", "1h2m" (not "35s728ms")."""
    return format_duration(timedelta(seconds=int(delta.total_seconds())))
