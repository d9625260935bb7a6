"""Maintenance windows as time arithmetic: the occurrence of a one-off or recurring (cron)
window in force at a moment, the ones coming up, what they cover, the stretches they covered.
Pure over window records and a time; `monitor.incidents.maintenance` fetches and writes the rows.
A window with no components covers everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from monitor.core import cron


class Window(Protocol):
    """What the arithmetic reads of a maintenance window (a `maintenance_window` row)."""

    id: int | None
    title: str
    title_i18n: dict[str, str] | None
    description: str
    components: list[str]
    starts_at: datetime
    ends_at: datetime | None
    ended_at: datetime | None
    recurrence: str | None
    duration_s: int | None
    timezone: str
    source: str


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One concrete stretch of maintenance."""

    window_id: int
    title: str
    components: tuple[str, ...]  # empty: everything
    starts_at: datetime
    ends_at: datetime
    recurring: bool
    source: str
    description: str = ""
    title_i18n: dict[str, str] | None = None

    def covers(self, component: str) -> bool:
        return not self.components or component in self.components


def occurrence_at(w: Window, now: datetime) -> Occurrence | None:
    """The occurrence of `w` in force at `now`, if any."""
    if w.ended_at is not None and w.ended_at <= now:
        return None
    if w.recurrence is None:
        if w.ends_at is not None and w.starts_at <= now < w.ends_at:
            return _occ(w, w.starts_at, w.ends_at)
        return None
    duration = timedelta(seconds=w.duration_s or 0)
    start = cron.active_start(w.recurrence, ZoneInfo(w.timezone), duration, now)
    if start is None or start < w.starts_at or (w.ends_at is not None and start >= w.ends_at):
        return None
    return _occ(w, start, start + duration)


def upcoming(w: Window, now: datetime, horizon: timedelta) -> list[Occurrence]:
    """Occurrences of `w` starting in (now, now + horizon]."""
    if w.ended_at is not None:
        return []
    until = now + horizon
    if w.recurrence is None:
        if now < w.starts_at <= until and w.ends_at is not None:
            return [_occ(w, w.starts_at, w.ends_at)]
        return []
    duration = timedelta(seconds=w.duration_s or 0)
    after = max(now, w.starts_at - timedelta(microseconds=1))
    out = []
    for start in cron.starts_between(w.recurrence, ZoneInfo(w.timezone), after, until):
        if w.ends_at is not None and start >= w.ends_at:
            break
        out.append(_occ(w, start, start + duration))
    return out


def coverage(occurrences: Iterable[Occurrence]) -> tuple[bool, frozenset[str]]:
    """(everything covered?, component ids covered) by these occurrences."""
    everything = False
    comps: set[str] = set()
    for occ in occurrences:
        if not occ.components:
            everything = True
        comps.update(occ.components)
    return everything, frozenset(comps)


def active_in(windows: Sequence[Window], now: datetime) -> list[Occurrence]:
    return [occ for w in windows if (occ := occurrence_at(w, now)) is not None]


def _occ(w: Window, start: datetime, end: datetime) -> Occurrence:
    assert w.id is not None
    return Occurrence(
        window_id=w.id,
        title=w.title,
        components=tuple(w.components or ()),
        starts_at=start,
        ends_at=end,
        recurring=w.recurrence is not None,
        source=w.source,
        description=w.description,
        title_i18n=w.title_i18n,
    )


def past_intervals(w: Window, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """Stretches of [since, until) that `w` covered (for excluding them from SLOs)."""
    stop = min(until, w.ended_at) if w.ended_at is not None else until
    if w.recurrence is None:
        end = min(w.ends_at, stop) if w.ends_at is not None else stop
        start = max(w.starts_at, since)
        return [(start, end)] if start < end else []
    duration = timedelta(seconds=w.duration_s or 0)
    out = []
    first = max(since - duration, w.starts_at - timedelta(microseconds=1))
    for start in cron.starts_between(w.recurrence, ZoneInfo(w.timezone), first, stop, limit=5000):
        if w.ends_at is not None and start >= w.ends_at:
            break
        end = min(start + duration, stop)
        if end > since and start < end:
            out.append((max(start, since), end))
    return out

