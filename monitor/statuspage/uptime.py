"""Uptime arithmetic over component status intervals: pure functions, no I/O, no clock.

The formula (also on the page and in README):

    uptime = (operational + degraded + maintenance + ½ · partial outage) / (time with data)

* major outage counts as down, partial outage as half down, degraded performance and
  maintenance as up;
* time with no data (before a component's first recorded status, or in a status outside the
  vocabulary, e.g. "unknown") is left out of both sides;
* the result is rounded *down* to two decimals, so any downtime at all shows at most 99.99 %.

A component's history is the list of its `component_status_change` rows: each status holds
from its change until the next change (or until "now"). Times are integer microseconds since
the epoch so the floor is exact (no float rounding can turn 99.999 % into 100.00 %).
One sweep per component covers the 90 daily bars; each window is one bisect plus a short scan,
so 1,000 components x 90 days stays well under a second (bench/statuspage_render.py).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import itemgetter

# Weight of each status in halves: up = 2, partial outage = 1, major outage = 0.
WEIGHT_HALVES: dict[str, int] = {
    "operational": 2,
    "degraded_performance": 2,
    "under_maintenance": 2,
    "partial_outage": 1,
    "major_outage": 0,
}
STATUSES: tuple[str, ...] = tuple(WEIGHT_HALVES)

# Daily bar levels by downtime minutes (major outage minutes + half the partial outage minutes).
BAR_LEVELS: tuple[tuple[float, str], ...] = ((0.0, "ok"), (15.0, "minor"), (120.0, "major"))

Change = tuple[int, str]  # (microseconds since the epoch, status)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_MIN = 60_000_000
_KEY = itemgetter(0)


def to_us(when: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch (exact)."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """Integer microseconds since the epoch -> aware UTC datetime (to_us's inverse)."""
    return _EPOCH + timedelta(microseconds=us)


def floor_percent(up_halves: int, known_halves: int) -> Decimal | None:
    """`up / known` as a percentage floored to two decimals; None when nothing is known."""
    if known_halves <= 0:
        return None
    return Decimal((10_000 * up_halves) // known_halves).scaleb(-2)


@dataclass(frozen=True, slots=True)
class Tally:
    """Time spent in each status within one span (microseconds)."""

    known: int = 0
    up_halves: int = 0
    major: int = 0
    partial: int = 0
    degraded: int = 0
    maintenance: int = 0

    def __hash__(self) -> int:  # what the generated one does, without its Python-level tuple building
        return hash((self.known, self.up_halves, self.major, self.partial, self.degraded, self.maintenance))

    @property
    def percent(self) -> Decimal | None:
        return floor_percent(self.up_halves, 2 * self.known)

    @property
    def down_minutes(self) -> float:
        return (self.major + self.partial / 2) / _US_PER_MIN

    @property
    def level(self) -> str:
        """nodata | ok | minor | major | critical, by downtime minutes (see BAR_LEVELS)."""
        if self.known == 0:
            return "nodata"
        down = self.down_minutes
        for limit, name in BAR_LEVELS:
            if down <= limit:
                return name
        return "critical"


_SLOT = {"major_outage": 2, "partial_outage": 3, "degraded_performance": 4, "under_maintenance": 5}


def tally_spans(changes: Sequence[Change], bounds: Sequence[int]) -> list[Tally]:
    """Tally consecutive spans [bounds[i], bounds[i+1]) in one sweep over sorted `changes`.

    `changes` must be sorted by time. The status at time t is that of the last change at or
    before t; the last change holds until bounds[-1] (the caller passes "now" there).
    """
    n = len(bounds) - 1
    if n <= 0:
        return []
    acc = [[0, 0, 0, 0, 0, 0] for _ in range(n)]
    lo, hi = bounds[0], bounds[-1]
    count = len(changes)
    k = max(bisect_right(changes, lo, key=_KEY) - 1, 0)
    while k < count:
        t0, status = changes[k]
        if t0 >= hi:
            break
        t1 = changes[k + 1][0] if k + 1 < count else hi
        k += 1
        a, b = max(t0, lo), min(t1, hi)
        weight = WEIGHT_HALVES.get(status)
        if a >= b or weight is None:
            continue  # empty span, or a status that means "no data"
        slot = _SLOT.get(status)
        d = bisect_right(bounds, a) - 1
        while a < b:
            e = min(b, bounds[d + 1])
            span = e - a
            row = acc[d]
            row[0] += span
            row[1] += weight * span
            if slot is not None:
                row[slot] += span
            a = e
            d += 1
    return [Tally(*row) for row in acc]


def tally(changes: Sequence[Change], start: int, end: int) -> Tally:
    """Tally one span [start, end)."""
    if end <= start:
        return Tally()
    return tally_spans(changes, (start, end))[0]
