"""A check's own past results, and the arrival rate `freshness` learns from them.

Checks never import the store: the composition root puts a `History` into
`ctx.services["history"]` (monitor/store/history.py reads the stored results). `freshness`
measures, on every run, how many business invoices arrived in the hour before it
(`arrivals_1h`); from those measurements of the last `learn_days` it learns the platform's
normal rate per hour of day, and judges a gap in the stream by how improbable that rate makes
it: with λ invoices an hour, no invoice for g hours happens with probability e^(-λg)
(arrivals as a Poisson process). Pure functions below; the I/O is the `History` call.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

SERVICE_KEY = "history"


class History(Protocol):
    """What the composition root must provide: a check's stored results since a time."""

    async def values(self, check: str, since: datetime) -> list[tuple[datetime, dict[str, Any]]]:
        """(time, Result.values) of `check`'s results at or after `since`, oldest first."""
        ...


def hourly_rates(samples: list[tuple[datetime, dict[str, Any]]], tz: tzinfo, *, min_days: int) -> dict[int, float]:
    """Hour of day (0-23, platform time) -> the median of `arrivals_1h` measured for it.

    A measurement covers the hour before it, so it counts for the hour of its midpoint. Runs
    that flagged a gap are left out (a stall must not teach that stalls are normal); an hour
    is learnt once it was measured on `min_days` different days.
    """
    by_hour: dict[int, list[float]] = {}
    days: dict[int, set[Any]] = {}
    for at, values in samples:
        arrivals = values.get("arrivals_1h")
        if not isinstance(arrivals, int | float) or isinstance(arrivals, bool) or values.get("improbable_gap"):
            continue
        mid = (at - timedelta(minutes=30)).astimezone(tz)
        by_hour.setdefault(mid.hour, []).append(float(arrivals))
        days.setdefault(mid.hour, set()).add(mid.date())
    return {h: statistics.median(v) for h, v in by_hour.items() if len(days[h]) >= min_days}


def expected_arrivals(rates: dict[int, float], start: datetime, end: datetime, tz: tzinfo) -> tuple[float, bool]:
    """Invoices the learnt rates expect between start and end, and whether every hour of that
    span was learnt (unlearnt hours count as none expected: never a reason to alarm)."""
    total, known, at = 0.0, True, start
    while at < end:
        local = at.astimezone(tz)
        next_hour = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).astimezone(start.tzinfo)
        stop = min(end, next_hour)
        rate = rates.get(local.hour)
        if rate is None:
            known = False
        else:
            total += rate * (stop - at).total_seconds() / 3600
        at = stop
    return total, known


def gap_probability(expected: float) -> float:
    """P(no arrival at all) when `expected` arrivals were due."""
    return math.exp(-expected)
