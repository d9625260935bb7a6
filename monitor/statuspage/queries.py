"""Every read the status page makes of other rooms' tables, in one place.

The evaluator room owns component_status, component_status_change, incident, incident_update
and maintenance_window (see CONTRACTS.md); until its models land in this branch they are
described here as lightweight SQLAlchemy table clauses with the contract's columns. The
notifiers room's `announcement` is read through its own query (notifiers.announce). A table that does not
exist yet (its room's migration has not landed in this database) reads as empty: the page
still renders, with fewer sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from monitor.statuspage.uptime import Change, to_us
from monitor.store.types import UTCDateTime

_T = UTCDateTime

component_status = sa.table(
    "component_status",
    sa.column("component", sa.String), sa.column("status", sa.String),
    sa.column("since", _T()), sa.column("updated_at", _T()),
)
component_status_change = sa.table(
    "component_status_change",
    sa.column("id", sa.Integer), sa.column("component", sa.String),
    sa.column("at", _T()), sa.column("status", sa.String),
)
incident = sa.table(
    "incident",
    sa.column("id", sa.Integer), sa.column("component", sa.String), sa.column("title", sa.String),
    sa.column("status", sa.String), sa.column("impact", sa.String), sa.column("started_at", _T()),
    sa.column("detected_at", _T()), sa.column("acked_at", _T()), sa.column("acked_by", sa.String),
    sa.column("resolved_at", _T()), sa.column("root_check", sa.String), sa.column("data", sa.JSON),
    sa.column("public", sa.Boolean),
)
incident_update = sa.table(
    "incident_update",
    sa.column("id", sa.Integer), sa.column("incident_id", sa.Integer), sa.column("at", _T()),
    sa.column("status", sa.String), sa.column("kind", sa.String), sa.column("message", sa.String),
    sa.column("author", sa.String), sa.column("data", sa.JSON),
)
maintenance_window = sa.table(
    "maintenance_window",
    sa.column("id", sa.Integer), sa.column("title", sa.String), sa.column("components", sa.JSON),
    sa.column("starts_at", _T()), sa.column("ends_at", _T()), sa.column("recurrence", sa.String),
    sa.column("duration_s", sa.Integer), sa.column("timezone", sa.String),
    sa.column("created_by", sa.String), sa.column("created_at", _T()), sa.column("ended_at", _T()),
    sa.column("source", sa.String),
)
check_result = sa.table(
    "check_result", sa.column("check", sa.String), sa.column("ts", _T()), sa.column("latency_ms", sa.Float),
)

_CHUNK = 500  # ids per IN (...) list: far below every engine's bound-parameter limit


@dataclass(frozen=True, slots=True)
class CurrentStatus:
    status: str
    since: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    id: int
    incident_id: int
    at: datetime
    status: str
    kind: str
    message: str
    author: str | None
    data: dict[str, Any] | None


@dataclass(slots=True)
class IncidentRecord:
    id: int
    component: str
    title: str
    status: str
    impact: str
    started_at: datetime | None
    detected_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    resolved_at: datetime | None
    root_check: str | None
    data: dict[str, Any] | None
    public: bool
    updates: list[UpdateRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AnnouncementRecord:
    id: int
    incident_id: int | None
    components: list[str]
    status: str
    title: dict[str, str]
    body: dict[str, dict[str, str]]
    next_update_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class MaintenanceRecord:
    """One concrete occurrence of a maintenance window (recurring windows are expanded)."""

    id: int
    title: str
    components: list[str]
    starts_at: datetime
    ends_at: datetime


def tables(conn: sa.Connection) -> set[str]:
    """Names of the tables that exist, so a room's missing table reads as empty."""
    return set(sa.inspect(conn).get_table_names())


def current_statuses(conn: sa.Connection, have: set[str]) -> dict[str, CurrentStatus]:
    if "component_status" not in have:
        return {}
    t = component_status.c
    rows = conn.execute(sa.select(t.component, t.status, t.since, t.updated_at))
    return {r.component: CurrentStatus(r.status, r.since, r.updated_at) for r in rows}


def status_changes(conn: sa.Connection, have: set[str], since: datetime) -> dict[str, list[Change]]:
    """Per component, its changes at or after `since` plus the last one before (the status
    `since` starts in), sorted by time: what uptime.tally_spans needs."""
    if "component_status_change" not in have:
        return {}
    t = component_status_change.c
    out: dict[str, list[Change]] = {}
    last_before = (
        sa.select(t.component, sa.func.max(t.at).label("at"))
        .where(t.at < since)
        .group_by(t.component)
        .subquery()
    )
    seed = sa.select(t.component, t.at, t.status, t.id).join(
        last_before, sa.and_(t.component == last_before.c.component, t.at == last_before.c.at)
    ).order_by(t.component, t.id)
    for r in conn.execute(seed):
        out[r.component] = [(to_us(r.at), r.status)]  # the newest id wins a tie
    recent = sa.select(t.component, t.at, t.status).where(t.at >= since).order_by(t.component, t.at, t.id)
    for r in conn.execute(recent):
        out.setdefault(r.component, []).append((to_us(r.at), r.status))
    return out


def incidents(conn: sa.Connection, have: set[str], since: datetime) -> list[IncidentRecord]:
    """Open incidents and those resolved at or after `since`, newest first, with updates."""
    if "incident" not in have:
        return []
    c = incident.c
    stmt = (
        sa.select(incident)
        .where(sa.or_(c.resolved_at.is_(None), c.resolved_at >= since))
        .order_by(sa.func.coalesce(c.started_at, c.detected_at).desc(), c.id.desc())
    )
    found = [
        IncidentRecord(
            id=r.id, component=r.component or "", title=r.title or "", status=r.status or "investigating",
            impact=r.impact or "none", started_at=r.started_at, detected_at=r.detected_at,
            acked_at=r.acked_at, acked_by=r.acked_by, resolved_at=r.resolved_at, root_check=r.root_check,
            data=r.data, public=bool(r.public),
        )
        for r in conn.execute(stmt)
    ]
    if found and "incident_update" in have:
        by_id = {i.id: i for i in found}
        u = incident_update.c
        for chunk in _chunks(list(by_id), _CHUNK):
            stmt = sa.select(incident_update).where(u.incident_id.in_(chunk)).order_by(u.at.desc(), u.id.desc())
            for r in conn.execute(stmt):
                by_id[r.incident_id].updates.append(
                    UpdateRecord(r.id, r.incident_id, r.at, r.status or "", r.kind or "auto",
                                 r.message or "", r.author, r.data)
                )
    return found


def active_announcements(conn: sa.Connection, have: set[str]) -> list[AnnouncementRecord]:
    """Announcements not closed, newest first (the notifiers room's own query)."""
    if "announcement" not in have:
        return []
    from sqlmodel import Session

    from notifiers.announce import active_announcements as notifiers_active

    with Session(bind=conn) as session:
        rows = notifiers_active(session)
        return [
            AnnouncementRecord(
                id=int(r.id or 0), incident_id=r.incident_id, components=list(r.components or []), status=r.status,
                title=_text_map(r.title), body=_body_map(r.body), next_update_at=r.next_update_at,
                created_at=r.created_at, updated_at=r.updated_at,
            )
            for r in rows
            if r.closed_at is None
        ]


def maintenance(
    conn: sa.Connection, have: set[str], now: datetime, horizon: timedelta
) -> tuple[list[MaintenanceRecord], list[MaintenanceRecord]]:
    """(active now, planned within `horizon`) occurrences, each sorted by start.

    Stand-in until the evaluator room's `active_maintenance` / `planned_maintenance` land in
    this branch: recurring windows are expanded here with APScheduler's cron trigger.
    """
    if "maintenance_window" not in have:
        return [], []
    c = maintenance_window.c
    until = now + horizon
    stmt = sa.select(maintenance_window).where(
        c.starts_at <= until, sa.or_(c.ends_at.is_(None), c.ends_at >= now)
    ).order_by(c.starts_at, c.id)
    active: list[MaintenanceRecord] = []
    planned: list[MaintenanceRecord] = []
    for r in conn.execute(stmt):
        for start, end in _occurrences(r, now, until):
            if r.ended_at is not None and start <= r.ended_at < end:
                end = r.ended_at
            if end <= now:
                continue
            occ = MaintenanceRecord(r.id, r.title or "", list(r.components or []), start, end)
            (active if start <= now else planned).append(occ)
    active.sort(key=lambda m: (m.starts_at, m.id))
    planned.sort(key=lambda m: (m.starts_at, m.id))
    return active, planned


def _occurrences(r: Any, now: datetime, until: datetime, limit: int = 50) -> Iterable[tuple[datetime, datetime]]:
    if not r.recurrence:
        yield r.starts_at, r.ends_at
        return
    length = timedelta(seconds=r.duration_s or 0)
    if length <= timedelta(0):
        return
    trigger = cron_trigger(r.recurrence, ZoneInfo(r.timezone or "UTC"))
    cursor = max(r.starts_at, now - length)
    previous = None
    for _ in range(limit):
        start = trigger.get_next_fire_time(previous, cursor)
        if start is None or start > until or (r.ends_at is not None and start >= r.ends_at):
            return
        yield start, start + length
        previous = start
        cursor = start + timedelta(seconds=1)


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(expr: str, tz: ZoneInfo) -> Any:
    """A 5-field cron expression as an APScheduler 3 trigger, with *standard* day-of-week numbers.

    APScheduler 3's `CronTrigger.from_crontab` reads day-of-week numbers as 0 = Monday (so
    "0 2 * * 6" fires on Sundays, "1-5" on Tuesday-Saturday); cron means 0/7 = Sunday. Numeric
    day-of-week terms are rewritten as day names, which both agree on.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) == 5:
        fields[4] = ",".join(_weekday_names(term) for term in fields[4].split(","))
    return CronTrigger.from_crontab(" ".join(fields), timezone=tz)


def _weekday_names(term: str) -> str:
    body, _, step_text = term.partition("/")
    if not (body == "*" or body.replace("-", "").isdigit()):
        return term  # names (mon-fri) already mean the same to both
    step = int(step_text) if step_text else 1
    if body == "*":
        first, last = 0, 6
    elif "-" in body:
        first, last = (int(v) for v in body.split("-", 1))
    else:
        first = last = int(body)
        if step_text:
            last = 6
    days = sorted({_DAYS[d % 7] for d in range(first, last + 1, step)}, key=_DAYS.index)
    return ",".join(days) if days else term


def latency_samples(conn: sa.Connection, checks: Sequence[str], since: datetime) -> list[tuple[datetime, float]]:
    """(ts, latency_ms) of the given checks' results since `since` (every location)."""
    if not checks:
        return []
    c = check_result.c
    stmt = sa.select(c.ts, c.latency_ms).where(
        c.check.in_(list(checks)), c.ts >= since, c.latency_ms.is_not(None)
    )
    return [(r.ts, float(r.latency_ms)) for r in conn.execute(stmt)]


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _text_map(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    return {"": str(value)} if value else {}


def _body_map(value: Any) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, dict[str, str]] = {}
    for lang, parts in value.items():
        if isinstance(parts, dict):
            out[str(lang)] = {str(k): str(v) for k, v in parts.items() if v}
        elif parts:
            out[str(lang)] = {"phenomenon": str(parts)}
    return out
