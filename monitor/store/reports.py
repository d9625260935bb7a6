"""What `invoicewatch report` reads: a period's rollups per component and its incidents.

`component_totals` adds up a period from the rollups: daily rows for the local days the day
mark covers entirely, hourly rows for the rest (the edges of the period, and today), so a
month is ~30 rows per component, not ~720. The open hour is not in any rollup yet: a period
ends at the hour mark (returned, so the report can say "until").

`incidents_between` gives the incidents that overlapped the period; `last_failures` the time
of each one's last failing result (what recovery is counted to): from the raw results while
they are kept (an index lookup on (check, ts), not a scan), else the end of the last hourly
rollup with a failure, capped at the recovery (then marked approximate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa

from monitor.core import sketch
from monitor.store import rollups
from monitor.store.incidents import INCIDENTS
from monitor.store.results import RESULTS
from monitor.store.rollups import CHECK_ROLLUPS, HOUR


@dataclass
class Totals:
    """One component over a period."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(rollups.COMPONENT_STATUSES, 0.0))
    count: int = 0
    failures: int = 0
    sketch: sketch.Sketch = field(default_factory=dict)

    def add(self, b: rollups.ComponentBucket) -> None:
        for k, v in b.seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v
        self.count += b.count
        self.failures += b.failures
        sketch.merge(self.sketch, sketch.unpack(b.sketch))


def component_totals(
    conn: sa.Connection, start: datetime, end: datetime, tz: tzinfo
) -> tuple[dict[str, Totals], datetime | None]:
    """Per component, the rollups of [start, end) (up to the hour mark), and that mark."""
    hours_upto = rollups.mark(conn, "hour")
    if hours_upto is None:
        return {}, None
    end = min(end, hours_upto)
    days_upto = rollups.mark(conn, "day") or start
    d0 = rollups.local_midnight(start, tz)
    if d0 < start:
        d0 = rollups.next_local_midnight(d0, tz)
    d1 = d0
    while (nxt := rollups.next_local_midnight(d1, tz)) <= min(end, days_upto):
        d1 = nxt
    out: dict[str, Totals] = {}
    spans = [("h", start, min(d0, end)), ("d", d0, d1), ("h", max(d1, start), end)] if d1 > d0 else [("h", start, end)]
    for grain, a, b in spans:
        if a >= b:
            continue
        for bucket in rollups.component_buckets(conn, grain, a, b, with_sketch=True):
            out.setdefault(bucket.component, Totals()).add(bucket)
    return out, end


@dataclass(frozen=True, slots=True)
class IncidentSpan:
    id: int
    component: str
    started_at: datetime
    detected_at: datetime
    resolved_at: datetime | None
    recovered_at: datetime | None
    checks: tuple[str, ...]
    affected: tuple[str, ...] = ()  # a platform incident: the components it affects

    @property
    def components(self) -> tuple[str, ...]:
        """The components it counts for: its own, or every one a platform incident affects."""
        return self.affected or (self.component,)


def incidents_between(conn: sa.Connection, start: datetime, end: datetime) -> list[IncidentSpan]:
    """Incidents that overlapped [start, end), oldest first."""
    c = INCIDENTS.c
    stmt = (
        sa.select(c.id, c.component, c.started_at, c.detected_at, c.resolved_at, c.root_check, c.data)
        .where(c.started_at < end, sa.or_(c.resolved_at.is_(None), c.resolved_at >= start))
        .order_by(c.started_at, c.id)
    )
    out = []
    for r in conn.execute(stmt):
        data: dict[str, Any] = r.data or {}
        recovered = data.get("recovered_at")
        checks = tuple(data.get("checks") or ([r.root_check] if r.root_check else []))
        out.append(IncidentSpan(r.id, r.component, r.started_at, r.detected_at, r.resolved_at,
                                datetime.fromisoformat(recovered) if isinstance(recovered, str) else None, checks,
                                tuple(data.get("affected") or ())))
    return out


def last_failures(conn: sa.Connection, spans: Sequence[IncidentSpan]) -> dict[int, tuple[datetime, bool]]:
    """incident id -> (time of its last failing result, exact?) for incidents that recovered."""
    out: dict[int, tuple[datetime, bool]] = {}
    r, h = RESULTS.c, CHECK_ROLLUPS.c
    for inc in spans:
        until = inc.recovered_at or inc.resolved_at
        if until is None or not inc.checks:
            continue
        exact = conn.execute(
            sa.select(sa.func.max(r.ts)).where(r.check.in_(inc.checks), r.ts >= inc.started_at, r.ts <= until,
                                               r.status != "up")
        ).scalar()
        if exact is not None:
            out[inc.id] = (exact, True)
            continue
        hour = conn.execute(
            sa.select(sa.func.max(h.start)).where(h.grain == "h", h.check.in_(inc.checks), h.start >= rollups.hour_floor(
                inc.started_at), h.start <= until, (h.down + h.degraded) > 0)
        ).scalar()
        if hour is not None:
            out[inc.id] = (min(hour + HOUR, until), False)
    return out
