"""Every read the status page makes of other rooms' tables, in one place.

The evaluator room owns component_status, component_status_change, incident, incident_update
and maintenance_window (monitor.incidents); the notifiers room owns announcement
(notifiers.tables). Bulk reads (status history, incidents) use their models' tables through
SQLAlchemy Core, which is what keeps 1,000 components x 90 days fast; maintenance and
announcements go through those rooms' own queries, so recurrence and "active" mean the same
everywhere. A table that does not exist (a database not migrated yet) reads as empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.incidents.tables import ComponentStatus, ComponentStatusChange, Incident, IncidentUpdate
from monitor.statuspage.uptime import Change, to_us
from monitor.store.tables import CheckResultRow

component_status = ComponentStatus.__table__  # type: ignore[attr-defined]
component_status_change = ComponentStatusChange.__table__  # type: ignore[attr-defined]
incident = Incident.__table__  # type: ignore[attr-defined]
incident_update = IncidentUpdate.__table__  # type: ignore[attr-defined]
check_result = CheckResultRow.__table__  # type: ignore[attr-defined]

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
    title: str | dict[str, str]
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
    """(active now, planned within `horizon`) occurrences, soonest first (the evaluator's API)."""
    if "maintenance_window" not in have:
        return [], []
    from sqlmodel import Session

    from monitor.incidents.maintenance import active_maintenance, planned_maintenance

    def record(o: Any) -> MaintenanceRecord:
        title: str | dict[str, str] = dict(o.title_i18n) if o.title_i18n else o.title
        return MaintenanceRecord(o.window_id, title, list(o.components), o.starts_at, o.ends_at)

    with Session(bind=conn) as session:
        active = sorted((record(o) for o in active_maintenance(session, now)), key=lambda m: (m.starts_at, m.id))
        planned = [record(o) for o in planned_maintenance(session, now, horizon)]
    return active, planned


def latency_samples(
    conn: sa.Connection, have: set[str], checks: Sequence[str], since: datetime
) -> list[tuple[datetime, float]]:
    """(ts, latency_ms) of the given checks' results since `since` (every location)."""
    if not checks or "check_result" not in have:
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
