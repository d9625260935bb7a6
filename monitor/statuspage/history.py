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
from datetime import datetime, timedelta
from operator import attrgetter

import sqlalchemy as sa

from monitor.core import sketch
from monitor.statuspage.model import LatencyBucket
from monitor.statuspage.uptime import WEIGHT_HALVES, Tally, from_us, tally, tally_spans, to_us
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
    # The kept rolled days this history started from (_rolled_days, one object per day mark)
    # and how many leading days are still exactly those: what the page may reuse.
    rolled: tuple[Tally, ...] = ()
    stable: int = 0


@dataclass
class HistoryMemo:
    """What `component_history` keeps from one render of a page to the next (the page's
    PageService holds one; a render without it reads everything): the rolled days before
    the day mark and the rolled hours before the hour mark never change (rolling only
    appends after its mark, retention only takes rows off the front), so they are read
    once per mark, not on every render. Each is kept with the key it was read for
    (components, days, marks and the count of rows in the range, so rows pruned, or added
    or deleted by hand, read afresh) and swapped whole."""

    days: tuple[tuple[object, ...], dict[str, tuple[Tally, ...]]] | None = None
    hours: tuple[tuple[object, ...], _Hours] | None = None


@dataclass(frozen=True, slots=True)
class _Hours:
    """The rolled hours' part of a history (see _rolled_hours)."""

    extra: dict[tuple[str, int], tuple[int, ...]]  # (component, day) -> what its rolled hours add
    last24: dict[str, tuple[int, ...]]  # component -> its rolled hours in the 24 h window


def _plus(acc: list[int], row: Sequence[int]) -> None:
    for k in range(6):
        acc[k] += row[k]


def component_history(
    conn: sa.Connection, have: set[str], cids: Sequence[str], bounds: Sequence[int], now: datetime,
    memo: HistoryMemo | None = None,
) -> dict[str, History]:
    """Per component: a Tally per day span [bounds[i], bounds[i+1]) and the last 24 hours.
    `bounds` are microseconds since the epoch (local midnights, then now).

    One Tally per distinct day: most days of most components are the same whole calm day, so
    1,000 components x 90 days make a few thousand objects, not 90,000 (and the page's
    per-bar arithmetic is done once per value). The rolled days come from `_rolled_days`
    (read once per day mark), the rolled hours from `_rolled_hours` (read once per hour
    mark; both kept in `memo`); the hours after the day mark and the live tail are added to
    the days they fall in."""
    memo = memo or HistoryMemo()
    n = len(bounds) - 1
    interned: dict[tuple[int, ...], Tally] = {}

    def intern(row: tuple[int, ...]) -> Tally:
        t = interned.get(row)
        if t is None:
            t = interned[row] = Tally(*row)
        return t

    empty = [intern((0, 0, 0, 0, 0, 0))] * n
    days: dict[str, list[Tally]] = {}
    rolled: dict[str, tuple[Tally, ...]] = {}  # the kept tuples themselves (see _rolled_days)
    extra: dict[tuple[str, int], list[int]] = {}  # (component, day) -> what the hours and the live tail add
    last24: dict[str, list[int]] = {cid: [0] * 6 for cid in cids}
    first = from_us(bounds[0])
    back = now - timedelta(hours=24)
    day24 = back if back == rollups.hour_floor(back) else rollups.hour_floor(back) + timedelta(hours=1)
    hour_mark = rollups.mark(conn, "hour") if "rollup_mark" in have else None
    live_from = hour_mark or first
    bounds_s = [b // _US for b in bounds]
    if hour_mark is not None:
        day_mark = rollups.mark(conn, "day") or first
        if day_mark > first:
            rolled = _rolled_days(conn, cids, bounds_s, first, day_mark, memo)
            days = {cid: list(kept) for cid, kept in rolled.items()}
        hours = _rolled_hours(conn, cids, bounds_s, day_mark, min(max(day_mark, first), day24), day24, hour_mark, memo)
        extra = {k: list(v) for k, v in hours.extra.items()}
        last24.update((cid, list(v)) for cid, v in hours.last24.items())
    heads: dict[str, Tally] = {}
    # Changes since the live tail starts (and since 24 h ago, for the window's first hour).
    changes = pages.status_changes(conn, have, min(live_from, back))
    live_bounds = sorted({to_us(live_from), *(x for x in bounds if x > to_us(live_from))})
    for cid, rows in changes.items():
        if cid not in last24:
            continue
        spans = [(to_us(at), s) for at, s in rows]
        for start_us, t in zip(live_bounds, tally_spans(spans, live_bounds), strict=False):
            i = bisect_right(bounds, start_us) - 1
            if 0 <= i < n:
                _plus(extra.setdefault((cid, i), [0] * 6), _fields(t))
        if hour_mark is None:
            heads[cid] = tally(spans, to_us(back), bounds[-1])
        else:
            head = tally(spans, to_us(back), to_us(min(day24, hour_mark)))
            heads[cid] = add(head, tally(spans, to_us(max(hour_mark, day24)), bounds[-1]))
    for cid in cids:
        days.setdefault(cid, list(empty))
    stable = dict.fromkeys(cids, n)
    for (cid, i), vals in extra.items():
        per = days[cid]
        per[i] = intern(tuple(a + b for a, b in zip(_fields(per[i]), vals, strict=True)))
        stable[cid] = min(stable[cid], i)
    out = {}
    for cid in cids:
        kept = rolled.get(cid, ())
        h = History(days[cid], Tally(*last24[cid]), kept, stable[cid] if kept else 0)
        if cid in heads:
            h.last24 = add(h.last24, heads[cid])
        out[cid] = h
    return out


def _rolled_days(
    conn: sa.Connection, cids: Sequence[str], bounds_s: Sequence[int], first: datetime, day_mark: datetime,
    memo: HistoryMemo,
) -> dict[str, tuple[Tally, ...]]:
    """Per component, its daily rows in [first, day_mark) as one Tally per day index (empty
    days zero; equal days one object): 1,000 components x 90 days is 90,000 rows, a few
    thousand distinct. Kept in `memo` by the database, the day mark, the days and
    components asked, and the count of daily rows in the range."""
    n = len(bounds_s) - 1
    count = rollups.count_rows(conn, "d", first, day_mark)
    key = (str(conn.engine.url), tuple(cids), tuple(bounds_s[:-1]), first, day_mark, count)
    if memo.days is not None and memo.days[0] == key:
        return memo.days[1]
    interned: dict[tuple[int, ...], Tally] = {}
    empty = Tally()
    days: dict[str, list[Tally]] = {cid: [empty] * n for cid in cids}
    index = {b: i for i, b in enumerate(bounds_s[:-1])}  # a daily row starts at a local midnight
    for row in rollups.component_tallies(conn, "d", first, day_mark, _W):
        per = days.get(row[0])
        i = index.get(row[1])
        if per is not None and i is not None:
            vals = row[2:]
            t = interned.get(vals)
            if t is None:
                t = interned[vals] = Tally(*vals)
            per[i] = t
    found = {cid: tuple(per) for cid, per in days.items()}
    memo.days = (key, found)
    return found


def _rolled_hours(
    conn: sa.Connection, cids: Sequence[str], bounds_s: Sequence[int], day_mark: datetime, since: datetime,
    day24: datetime, hour_mark: datetime, memo: HistoryMemo,
) -> _Hours:
    """What the hourly rows in [since, hour_mark) add: per (component, day) those at or after
    the day mark (today's hours, mostly), per component those in the 24 h window (from
    `day24`). ~24 rows per component, the same until the hour mark moves: kept in `memo` by
    what they were read for and the count of hourly rows in the range."""
    key = (str(conn.engine.url), tuple(cids), tuple(bounds_s[:-1]), day_mark, since, day24, hour_mark,
           rollups.count_rows(conn, "h", since, hour_mark))
    if memo.hours is not None and memo.hours[0] == key:
        return memo.hours[1]
    n = len(bounds_s) - 1
    wanted = set(cids)
    day_mark_s, day24_s = int(day_mark.timestamp()), int(day24.timestamp())
    extra: dict[tuple[str, int], list[int]] = {}
    last24: dict[str, list[int]] = {}
    for cid, start, *vals in rollups.component_tallies(conn, "h", since, hour_mark, _W):
        if cid not in wanted:
            continue
        if start >= day_mark_s:
            i = bisect_right(bounds_s, start) - 1
            if 0 <= i < n:
                _plus(extra.setdefault((cid, i), [0] * 6), vals)
        if start >= day24_s:
            _plus(last24.setdefault(cid, [0] * 6), vals)
    found = _Hours({k: tuple(v) for k, v in extra.items()}, {k: tuple(v) for k, v in last24.items()})
    memo.hours = (key, found)
    return found


_fields = attrgetter("known", "up_halves", "major", "partial", "degraded", "maintenance")  # a Tally as its tuple


_WANTED = ((7, "7d"), (30, "30d"), (90, "90d"))


def windows(h: History, heads: dict[int, tuple[int, ...]] | None = None, stable: int = 0) -> dict[str, Tally]:
    """The uptime windows of one component: 24h, and the last 7, 30, 90 daily bars (fewer
    days than a window: all of them). `heads` (from window_heads) are the sums of each
    window's days before `stable`, kept from an earlier render; only the rest is summed."""
    out = {"24h": h.last24}
    n = len(h.days)
    for w, label in _WANTED:
        start = max(n - w, 0)
        if heads is None:
            out[label] = Tally(*_sum(h.days[start:]))
        else:
            out[label] = Tally(*(a + b for a, b in zip(heads[w], _sum(h.days[max(start, stable):]), strict=True)))
    return out


def window_heads(days: Sequence[Tally], stable: int) -> dict[int, tuple[int, ...]]:
    """Per window length, the sum of its days before `stable` (see windows)."""
    n = len(days)
    return {w: _sum(days[max(n - w, 0) : stable]) for w, _ in _WANTED}


def _sum(part: Sequence[Tally]) -> tuple[int, ...]:
    if not part:
        return (0, 0, 0, 0, 0, 0)
    return tuple(sum(col) for col in zip(*map(_fields, part), strict=True))


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
