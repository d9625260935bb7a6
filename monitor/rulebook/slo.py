"""SLOs: error budget and multi-window burn-rate alerts (Google SRE workbook, ch. 5). Pure.

A probe is *good* when it is not down and, if the SLO has a latency threshold, no slower than
it. Over the SLO window (30 days) the error budget is the allowed share of bad probes,
1 - objective; `budget_remaining` is the part not yet spent (1.0 untouched, 0 spent, below 0
overspent). The burn rate over a window is its bad share divided by 1 - objective (1x spends
the budget exactly in the SLO window). Alerts fire when a long and a short window both burn:

    page    1h and 5m at 14.4x   (2% of a 30-day budget in an hour)
    page    6h and 30m at 6x     (5% in six hours)
    ticket  3d and 6h at 1x      (10% in three days)

Results are kept as per-minute buckets (`Series`): a 30-day window is 43,200 buckets however
often the checks run, and each evaluation is prefix sums plus a bisect per window. Probes
during a maintenance window of the component are not counted at all.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MINUTE = 60

BURN_WINDOWS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "3d": timedelta(days=3),
}
# (level, threshold, long window, short window), most urgent first.
ALERT_RULES: tuple[tuple[str, float, str, str], ...] = (
    ("page", 14.4, "1h", "5m"),
    ("page", 6.0, "6h", "30m"),
    ("ticket", 1.0, "3d", "6h"),
)
LEVELS = ("none", "ticket", "page")
_EPS = 1e-9  # 7.2% / 0.5% is 14.399999999999999 in floating point; exactly at the threshold fires


def is_good(status: str, latency_ms: float | None, latency_threshold_s: float | None) -> bool:
    if status == "down":
        return False
    if latency_threshold_s is not None and latency_ms is not None:
        return latency_ms <= latency_threshold_s * 1000
    return True


class Series:
    """Good/bad probe counts per minute. Add results in any order; prune old minutes."""

    def __init__(self) -> None:
        self._buckets: dict[int, list[int]] = {}  # minute -> [total, bad]

    def add(self, at: datetime, good: bool, count: int = 1) -> None:
        b = self._buckets.setdefault(int(at.timestamp()) // MINUTE, [0, 0])
        b[0] += count
        if not good:
            b[1] += count

    def prune(self, before: datetime) -> None:
        cut = int(before.timestamp()) // MINUTE
        for minute in [m for m in list(self._buckets) if m < cut]:  # list(): results arrive meanwhile
            del self._buckets[minute]

    def __len__(self) -> int:
        return len(self._buckets)

    def frozen(self) -> _Prefix:
        minutes = sorted(self._buckets)
        totals, bads = [0], [0]
        for m in minutes:
            t, b = self._buckets[m]
            totals.append(totals[-1] + t)
            bads.append(bads[-1] + b)
        return _Prefix(minutes, totals, bads)


@dataclass(frozen=True, slots=True)
class _Prefix:
    minutes: list[int]
    totals: list[int]
    bads: list[int]

    def counts(self, since: datetime, until: datetime) -> tuple[int, int]:
        """(total, bad) over minutes in [since, until)."""
        lo = bisect.bisect_left(self.minutes, int(since.timestamp()) // MINUTE)
        hi = bisect.bisect_left(self.minutes, -(-int(until.timestamp()) // MINUTE))
        return self.totals[hi] - self.totals[lo], self.bads[hi] - self.bads[lo]


@dataclass(frozen=True, slots=True)
class SloReport:
    good: int
    total: int
    budget_remaining: float | None  # None: no probes in the window
    burn: Mapping[str, float]  # window name -> burn rate
    alert: str  # none | ticket | page
    rule: str | None  # which rule fired, e.g. "1h&5m>=14.4"

    def figures(self) -> dict[str, object]:
        return {
            "good": self.good,
            "total": self.total,
            "budget_remaining": self.budget_remaining,
            "burn": dict(self.burn),
            "alert": self.alert,
            "rule": self.rule,
        }


def report(series: Series | _Prefix, now: datetime, objective: float, window: timedelta = timedelta(days=30)) -> SloReport:
    """Budget and burn rates at `now` (minute resolution: the current minute counts)."""
    prefix = series.frozen() if isinstance(series, Series) else series
    until = now + timedelta(minutes=1)
    allowed = 1.0 - objective
    total, bad = prefix.counts(now - window + timedelta(minutes=1), until)
    budget = None if total == 0 else 1.0 - (bad / total) / allowed
    burn: dict[str, float] = {}
    for name, span in BURN_WINDOWS.items():
        t, b = prefix.counts(now - span + timedelta(minutes=1), until)
        burn[name] = (b / t) / allowed if t else 0.0
    alert, rule = "none", None
    for level, threshold, long_w, short_w in ALERT_RULES:
        if burn[long_w] + _EPS >= threshold and burn[short_w] + _EPS >= threshold:
            alert, rule = level, f"{long_w}&{short_w}>={threshold:g}"
            break
    return SloReport(total - bad, total, budget, burn, alert, rule)


def series_from(
    rows: Iterable[tuple[datetime, str, float | None]],
    latency_threshold_s: float | None,
    excluded: Iterable[tuple[datetime, datetime]] = (),
) -> Series:
    """Build a series from (ts, status, latency_ms) rows, skipping excluded intervals."""
    spans: list[tuple[datetime, datetime]] = []
    for start, end in sorted(excluded):  # merge overlaps so one bisect finds the cover
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    starts = [s for s, _ in spans]
    series = Series()
    for ts, status, latency in rows:
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        i = bisect.bisect_right(starts, ts) - 1
        if i >= 0 and spans[i][0] <= ts < spans[i][1]:
            continue
        series.add(ts, is_good(status, latency, latency_threshold_s))
    return series


def rises(old: str, new: str) -> bool:
    """A new alert is worth a notice only when the level goes up."""
    return LEVELS.index(new) > LEVELS.index(old)
