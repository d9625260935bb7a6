"""The page's history from the rollups: 90 daily bars and the uptime windows per component,
and the hourly latency chart, without reading raw results or the whole status history.

Per component and local day, the tally is
    the daily rollup row                 for days the day mark covers (monitor.store.rollups)
    + the hourly rows                    for rolled hours after the day mark (today, mostly)
    + a live tally of status changes     from the hour mark to now (at most an hour or so)
so a render reads ~90 + 24 rows per component whatever the age of the database.

Uptime windows: 24h is [now - 24 h, now): its first part hour and the live tail from the
status changes, the whole hours between from the hourly rollups; 7d, 30d and 90d are the
last 7, 30 and 90 daily bars (today's part included), i.e. whole local days.

Latency chart: per hour, the merged latency sketch of the component's checks (p50, p95, within
2 %) from the hourly rollups; the open hour, not rolled yet, from its raw results (an index
range of at most an hour of the chart's checks).

Seconds from rollups become the integer microseconds of monitor.statuspage.uptime's Tally,
so the page's formula and its flooring are the same as before.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from monitor.core import sketch
from monitor.statuspage.model import LatencyBucket
from monitor.statuspage.uptime import WEIGHT_HALVES, Tally, tally, tally_spans, to_us
from monitor.store import pages, rollups

_US = 1_000_000
# The weights of rollups.COMPONENT_STATUSES, in that order (the formula's halves).
_W = tuple(WEIGHT_HALVES[s] for s in rollups.COMPONENT_STATUSES)


def add(a: Tally, b: Tally) -> Tally:
    return Tally(a.known + b.known, a.up_halves + b.up_halves, a.major + b.major, a.partial + b.partial,
                 a.degraded + b.degraded, a.maintenance + b.maintenance)


@dataclass
class History:
    days: list[Tally]
    last24: Tally = field(default_factory=Tally)


def _plus(acc: list[int], row: Sequence[int]) -> None:
    for k in range(6):
        acc[k] += row[k]


def component_history(
    conn: sa.Connection, have: set[str], cids: Sequence[str], bounds: Sequence[int], now: datetime
) -> dict[str, History]:
    """Per component: a Tally per day span [bounds[i], bounds[i+1]) and the last 24 hours.
    `bounds` are microseconds since the epoch (local midnights, then now)."""
    n = len(bounds) - 1
    empty = (0, 0, 0, 0, 0, 0)
    days: dict[str, list[Sequence[int]]] = {cid: [empty] * n for cid in cids}
    last24: dict[str, list[int]] = {cid: [0] * 6 for cid in cids}
    first = _from_us(bounds[0])
    back = now - timedelta(hours=24)
    day24 = back if back == rollups.hour_floor(back) else rollups.hour_floor(back) + timedelta(hours=1)
    hour_mark = rollups.mark(conn, "hour") if "rollup_mark" in have else None
    live_from = hour_mark or first
    bounds_s = [b // _US for b in bounds]
    if hour_mark is not None:
        day_mark = rollups.mark(conn, "day") or first
        if day_mark > first:
            index = {b: i for i, b in enumerate(bounds_s[:-1])}  # a daily row starts at a local midnight
            for cid, start, *vals in rollups.component_tallies(conn, "d", first, day_mark, _W):
                per = days.get(cid)
                i = index.get(start)
                if per is not None and i is not None:
                    per[i] = vals
        day_mark_s, day24_s = int(day_mark.timestamp()), int(day24.timestamp())
        since = min(max(day_mark, first), day24)
        for cid, start, *vals in rollups.component_tallies(conn, "h", since, hour_mark, _W):
            per = days.get(cid)
            if per is None:
                continue
            if start >= day_mark_s:
                i = bisect_right(bounds_s, start) - 1
                if 0 <= i < n:
                    per[i] = [a + b for a, b in zip(per[i], vals, strict=True)]
            if start >= day24_s:
                _plus(last24[cid], vals)
    out = {cid: History([Tally(*d) for d in days[cid]], Tally(*last24[cid])) for cid in cids}
    # Changes since the live tail starts (and since 24 h ago, for the window's first hour).
    changes = pages.status_changes(conn, have, min(live_from, back))
    live_bounds = sorted({to_us(live_from), *(x for x in bounds if x > to_us(live_from))})
    for cid, rows in changes.items():
        h = out.get(cid)
        if h is None:
            continue
        spans = [(to_us(at), s) for at, s in rows]
        for start_us, t in zip(live_bounds, tally_spans(spans, live_bounds), strict=False):
            i = bisect_right(bounds, start_us) - 1
            if 0 <= i < n:
                h.days[i] = add(h.days[i], t)
        if hour_mark is None:
            h.last24 = tally(spans, to_us(back), bounds[-1])
        else:
            head = tally(spans, to_us(back), to_us(min(day24, hour_mark)))
            h.last24 = add(add(h.last24, head), tally(spans, to_us(max(hour_mark, day24)), bounds[-1]))
    return out


def windows(h: History) -> dict[str, Tally]:
    """The uptime windows of one component: 24h, and the last 7, 30, 90 daily bars (one
    backwards pass over the days)."""
    out = {"24h": h.last24}
    known = up = major = partial = degraded = maint = 0
    wanted = {7: "7d", 30: "30d", 90: "90d"}
    for n, t in enumerate(reversed(h.days), start=1):
        known += t.known
        up += t.up_halves
        major += t.major
        partial += t.partial
        degraded += t.degraded
        maint += t.maintenance
        if n in wanted:
            out[wanted[n]] = Tally(known, up, major, partial, degraded, maint)
    for label in wanted.values():  # fewer days than a window: all of them
        out.setdefault(label, Tally(known, up, major, partial, degraded, maint))
    return out


def latency_chart(
    conn: sa.Connection, have: set[str], component: str, checks: Sequence[str], start: datetime, hours: int = 24
) -> tuple[LatencyBucket, ...]:
    """Hourly p50/p95 from `start`: rolled hours from the component's hourly rollups, the
    rest from raw results of those hours."""
    sketches: list[sketch.Sketch] = [{} for _ in range(hours)]
    hour_mark = rollups.mark(conn, "hour") if "rollup_mark" in have else None
    rolled_until = min(hour_mark, start + timedelta(hours=hours)) if hour_mark else start
    if hour_mark is not None and rolled_until > start:
        for b in rollups.component_buckets(conn, "h", start, rolled_until, [component], with_sketch=True):
            i = int((b.start - start).total_seconds() // 3600)
            if 0 <= i < hours:
                sketch.merge(sketches[i], sketch.unpack(b.sketch))
    for ts, ms in pages.latency_samples(conn, have, list(checks), max(rolled_until, start)):
        i = int((ts - start).total_seconds() // 3600)
        if 0 <= i < hours:
            k = sketch.bin_of(ms)
            sketches[i][k] = sketches[i].get(k, 0) + 1
    return tuple(
        LatencyBucket(start + timedelta(hours=i), sketch.total(sk), sketch.quantile(sk, 0.5), sketch.quantile(sk, 0.95))
        for i, sk in enumerate(sketches)
    )


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
