"""A mergeable latency sketch: log-spaced bins with a fixed ratio (the idea of DDSketch).

Why a sketch and not exact per-bucket percentiles: an hour's p95 is exact from its raw
results, but a day's p95 is not a function of its hours' p95s, nor a month's of its days'.
Raw results are kept two weeks; rollups 400 days. With bins of a fixed ratio, the bins of
two buckets simply add up, so a day is the sum of its hours, a report month the sum of its
days, a component the sum of its checks, and every percentile read from any of them is
within `ALPHA` (2 %) of the true value, with no raw result needed.

A sketch is a dict {bin: count}; bin k holds values in (GAMMA^(k-1), GAMMA^k] milliseconds,
and values at or below `FLOOR_MS` share the lowest bin. Stored as a sorted list of
[bin, count] pairs (JSON), typically 5-30 pairs for an hour of one check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ALPHA = 0.02  # relative error of any quantile read from a sketch
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
FLOOR_MS = 0.01  # below this, every latency is "0.01 ms or less"
_FLOOR_BIN = math.ceil(math.log(FLOOR_MS) / _LOG_GAMMA)

Sketch = dict[int, int]


def bin_of(ms: float) -> int:
    if not ms > FLOOR_MS:  # also NaN
        return _FLOOR_BIN
    return math.ceil(math.log(ms) / _LOG_GAMMA)


def value_of(k: int) -> float:
    """The bin's representative value: within ALPHA of every value the bin holds."""
    if k <= _FLOOR_BIN:
        return FLOOR_MS
    return 2 * GAMMA**k / (GAMMA + 1)


def of(values: Iterable[float]) -> Sketch:
    out: Sketch = {}
    for ms in values:
        k = bin_of(ms)
        out[k] = out.get(k, 0) + 1
    return out


def merge(into: Sketch, other: Mapping[int, int]) -> Sketch:
    """Add `other`'s counts to `into` (in place) and return it."""
    for k, n in other.items():
        into[k] = into.get(k, 0) + n
    return into


def total(sketch: Mapping[int, int]) -> int:
    return sum(sketch.values())


def quantile(sketch: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) by rank: the bin holding the ceil(q*n)-th smallest value."""
    n = total(sketch)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for k in sorted(sketch):
        seen += sketch[k]
        if seen >= rank:
            return value_of(k)
    return value_of(max(sketch))  # pragma: no cover - rank <= n always stops above


def encode(sketch: Mapping[int, int]) -> list[list[int]]:
    return [[k, sketch[k]] for k in sorted(sketch)]


def decode(stored: Sequence[Sequence[Any]] | None) -> Sketch:
    if not stored:
        return {}
    return {int(k): int(n) for k, n in stored}
