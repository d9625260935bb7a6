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
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from checks.conditions.evaluate import Condition, Document, json_safe, text_of
from checks.conditions.parse import parse_condition
from checks.conditions.tree import (
    ALL,
    MAX_ACTUAL_CHARS,
    MAX_CONDITION_LENGTH,
    STANDARD,
    PlaceholderSpec,
    Vocabulary,
    vocabulary,
)
from monitor.core.errors import ConditionSyntaxError
from monitor.core.results import ConditionResult

__all__ = [
    "ALL",
    "MAX_ACTUAL_CHARS",
    "MAX_CONDITION_LENGTH",
    "STANDARD",
    "Condition",
    "ConditionList",
    "ConditionSyntaxError",
    "Document",
    "PlaceholderSpec",
    "Vocabulary",
    "condition_list",
    "evaluate",
    "failure_message",
    "json_safe",
    "parse_condition",
    "vocabulary",
]


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
    return text_of(actual)


def condition_list(vocab: Vocabulary) -> Any:
    """A pydantic type: a list of conditions for this vocabulary, written and dumped as text."""

    # Conditions are frozen values, so one parse serves every check that writes the same
    # text (thousands of checks repeat "[STATUS] == 200"): parsing was a fifth of loading.
    parsed: dict[str, Condition] = {}

    def validate(value: Any) -> Condition:
        text = value.text if isinstance(value, Condition) else value
        if isinstance(text, str) and text in parsed:
            return parsed[text]
        condition = parse_condition(text, vocab)
        if len(parsed) < 10_000:
            parsed[text] = condition
        return condition

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
