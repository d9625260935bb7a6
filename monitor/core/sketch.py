"""A mergeable latency sketch: log-spaced bins with a fixed ratio (the idea of DDSketch).

Why a sketch and not exact per-bucket percentiles: an hour's p95 is exact from its raw
results, but a day's p95 is not a function of its hours' p95s, nor a month's of its days'.
Raw results are kept two weeks; rollups 400 days. With bins of a fixed ratio, the bins of
two buckets simply add up, so a day is the sum of its hours, a report month the sum of its
days, a component the sum of its checks, and every percentile read from any of them is
within `ALPHA` (2 %) of the true value, with no raw result needed.

A sketch is a dict {bin: count}; bin k holds values in (GAMMA^(k-1), GAMMA^k] milliseconds,
and values at or below `FLOOR_MS` share the lowest bin. Stored packed (`pack`): the lowest
bin (zigzag varint), then for each bin in use its count and the step to the next bin in use
(varints): an hour of one check at 60 s is typically 30-50 bytes, where the same as JSON
pairs takes ~170, and a few timeouts far from the rest cost a few bytes, not a byte per bin
between.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

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


def pack(sketch: Mapping[int, int]) -> bytes | None:
    """The stored form (None for an empty sketch)."""
    keys = [k for k, n in sketch.items() if n]
    if not keys:
        return None
    keys.sort()
    out = bytearray()
    _varint(out, (keys[0] << 1) ^ (keys[0] >> 63))  # zigzag: bins below 1 ms are negative
    for k, nxt in zip(keys, [*keys[1:], keys[-1]], strict=True):
        _varint(out, sketch[k])
        _varint(out, nxt - k)
    return bytes(out)


def unpack(stored: bytes | None) -> Sketch:
    if not stored:
        return {}
    values = _varints(stored)
    z = values[0]
    k = (z >> 1) ^ -(z & 1)
    out: Sketch = {}
    for i in range(1, len(values) - 1, 2):
        out[k] = values[i]
        k += values[i + 1]
    return out


def _varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _varints(data: bytes) -> list[int]:
    out, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
        else:
            out.append(value)
            value, shift = 0, 0
    return out
