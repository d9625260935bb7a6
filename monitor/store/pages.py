"""The reads the status page makes (the internal page and /metrics too): read-only, across the
tables the other modules own, returned as plain records so the page never holds a session.

Bulk reads (status history, incidents with their updates, latency samples) go through
SQLAlchemy Core, which is what keeps 1,000 components x 90 days fast. Announcements use the
announcements module's own query, so "active" means the same everywhere. A table that does
not exist (a database not migrated yet) reads as empty: pass `tables(conn)` as `have`.
Maintenance windows come as rows: which occurrences are in force is the rulebook's
arithmetic, the same the deciding service uses. The incident records, `tables` and
`states_by_check` are monitor.store.readout's (what the read-only commands read without the
ORM), named here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from monitor.store import announcements, maintenance
from monitor.store.incidents import CHANGES, CURRENT, INCIDENTS, UPDATES
from monitor.store.maintenance import MaintenanceWindow
from monitor.store.outbox import ATTEMPTS, OUTBOX
from monitor.store.readout import IncidentRecord as IncidentRecord
from monitor.store.readout import UpdateRecord as UpdateRecord
from monitor.store.readout import incident_record
from monitor.store.readout import states_by_check as states_by_check
from monitor.store.readout import tables as tables
from monitor.store.results import RESULTS, STATES

_CHUNK = 500  # ids per IN (...) list: far below every engine's bound-parameter limit


@dataclass(frozen=True, slots=True)
class CurrentStatus:
    status: str
    since: datetime | None
    updated_at: datetime | None


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


def current_statuses(conn: sa.Connection, have: set[str]) -> dict[str, CurrentStatus]:
    if "component_status" not in have:
        return {}
    t = CURRENT.c
    rows = conn.execute(sa.select(t.component, t.status, t.since, t.updated_at)).all()
    return {r.component: CurrentStatus(r.status, r.since, r.updated_at) for r in rows}


def status_changes(conn: sa.Connection, have: set[str], since: datetime) -> dict[str, list[tuple[datetime, str]]]:
    """Per component, its changes at or after `since` plus the last one before (the status
    `since` starts in), sorted by time: the spans uptime is tallied over."""
    if "component_status_change" not in have:
        return {}
    t = CHANGES.c
    out: dict[str, list[tuple[datetime, str]]] = {}
    last_before = (
        sa.select(t.component, sa.func.max(t.at).label("at"))
        .where(t.at < since)
        .group_by(t.component)
        .subquery()
    )
    seed = sa.select(t.component, t.at, t.status, t.id).join(
        last_before, sa.and_(t.component == last_before.c.component, t.at == last_before.c.at)
    ).order_by(t.component, t.id)
    for component, at, status, _ in conn.execute(seed).all():  # one fetchall, not a fetch per row
        out[component] = [(at, status)]  # the newest id wins a tie
    recent = sa.select(t.component, t.at, t.status).where(t.at >= since).order_by(t.component, t.at, t.id)
    for component, at, status in conn.execute(recent).all():
        out.setdefault(component, []).append((at, status))
    return out


def incidents(
    conn: sa.Connection, have: set[str], since: datetime, ids: Sequence[int] | None = None
) -> list[IncidentRecord]:
    """Open incidents and those resolved at or after `since` (with `ids`, only those of them),
    newest first, with updates."""
    if "incident" not in have or (ids is not None and not ids):
        return []
    c = INCIDENTS.c
    stmt = (
        sa.select(INCIDENTS)
        .where(_open_or_resolved_since(since))
        .order_by(sa.func.coalesce(c.started_at, c.detected_at).desc(), c.id.desc())
    )
    if ids is not None:
        found: list[IncidentRecord] = []
        for chunk in _chunks(list(ids), _CHUNK):
            found.extend(_incidents_of(conn, have, stmt.where(c.id.in_(chunk))))
        return found
    return _incidents_of(conn, have, stmt)


def incident_versions(conn: sa.Connection, have: set[str], since: datetime) -> dict[int, tuple[Any, ...]]:
    """Open incidents and those resolved at or after `since`: id -> its row as stored (every
    column, without type conversion: cheap to read, compared as it is) and its timeline's
    number of entries and last id. Any write to the row, or a timeline entry added or
    pruned (entries are only ever appended, monitor.store.incidents.add_update), is a new
    version: what the page keeps an incident's record and view by (a few ms for 2,000
    incidents, against reading and converting them with their updates)."""
    if "incident" not in have:
        return {}
    c, u = INCIDENTS.c, UPDATES.c
    raw = [col if isinstance(col.type, sa.Integer | sa.String | sa.Boolean) else sa.type_coerce(col, sa.String)
           for col in INCIDENTS.columns]
    versions: dict[int, tuple[Any, ...]] = {
        r.id: tuple(r) for r in conn.execute(sa.select(*raw).where(_open_or_resolved_since(since))).all()
    }
    if versions and "incident_update" in have:
        ids = sa.select(c.id).where(_open_or_resolved_since(since)).scalar_subquery()
        stmt = sa.select(u.incident_id, sa.func.count(), sa.func.max(u.id)).where(u.incident_id.in_(ids))
        for incident_id, count, last in conn.execute(stmt.group_by(u.incident_id)).all():
            if incident_id in versions:
                versions[incident_id] += (count, last)
    return versions


def _open_or_resolved_since(since: datetime) -> sa.ColumnElement[bool]:
    c = INCIDENTS.c
    return sa.or_(c.resolved_at.is_(None), c.resolved_at >= since)


def _incidents_of(conn: sa.Connection, have: set[str], stmt: sa.Select[Any]) -> list[IncidentRecord]:
    """The incidents a select of whole incident rows finds, in its order, with their updates."""
    found = [incident_record(r) for r in conn.execute(stmt)]
    if found and "incident_update" in have:
        by_id = {i.id: i for i in found}
        u = UPDATES.c
        for chunk in _chunks(list(by_id), _CHUNK):
            timeline = sa.select(UPDATES).where(u.incident_id.in_(chunk)).order_by(u.at.desc(), u.id.desc())
            for r in conn.execute(timeline):
                by_id[r.incident_id].updates.append(
                    UpdateRecord(r.id, r.incident_id, r.at, r.status or "", r.kind or "auto",
                                 r.message or "", r.author, r.data)
                )
    return found


def active_announcements(conn: sa.Connection, have: set[str]) -> list[AnnouncementRecord]:
    """Announcements not closed, newest first."""
    if "announcement" not in have:
        return []
    with Session(bind=conn) as session:
        return [
            AnnouncementRecord(
                id=int(r.id or 0), incident_id=r.incident_id, components=list(r.components or []), status=r.status,
                title=_text_map(r.title), body=_body_map(r.body), next_update_at=r.next_update_at,
                created_at=r.created_at, updated_at=r.updated_at,
            )
            for r in announcements.active(session)
            if r.closed_at is None
        ]


def maintenance_windows(conn: sa.Connection, have: set[str]) -> list[MaintenanceWindow]:
    """Windows not ended by hand (their occurrences now and to come are the rulebook's)."""
    if "maintenance_window" not in have:
        return []
    with Session(bind=conn) as session:
        return maintenance.current_windows(session)


def failing_checks(conn: sa.Connection, have: set[str]) -> set[str]:
    """Checks whose state is down or degraded at some location (what "affected" needs)."""
    if "check_state" not in have:
        return set()
    c = STATES.c
    return set(conn.execute(sa.select(c.check).where(c.status.in_(("down", "degraded"))).distinct()).scalars())


def latency_samples(
    conn: sa.Connection, have: set[str], checks: Sequence[str], since: datetime
) -> list[tuple[datetime, float]]:
    """(ts, latency_ms) of the given checks' results since `since` (every location)."""
    if not checks or "check_result" not in have:
        return []
    c = RESULTS.c
    stmt = sa.select(c.ts, c.latency_ms).where(
        c.check.in_(list(checks)), c.ts >= since, c.latency_ms.is_not(None)
    )
    return [(r.ts, float(r.latency_ms)) for r in conn.execute(stmt)]


def outbox_pending(conn: sa.Connection, have: set[str]) -> dict[str, tuple[int, datetime]]:
    """Per channel: pending rows and the oldest one's creation time (uses ix_outbox_due)."""
    if "outbox" not in have:
        return {}
    stmt = (
        sa.select(OUTBOX.c.channel, sa.func.count(), sa.func.min(OUTBOX.c.created_at))
        .where(OUTBOX.c.status == "pending")
        .group_by(OUTBOX.c.channel)
    )
    # min() keeps the column's type, so `oldest` comes back as an aware datetime.
    return {channel: (int(count), oldest) for channel, count, oldest in conn.execute(stmt)}


def delivery_failures(conn: sa.Connection, have: set[str]) -> dict[str, int]:
    """Per channel: delivery attempts that failed, over the kept history (all processes)."""
    if "delivery_attempt" not in have:
        return {}
    stmt = (
        sa.select(OUTBOX.c.channel, sa.func.count())
        .select_from(ATTEMPTS.join(OUTBOX, OUTBOX.c.id == ATTEMPTS.c.outbox_id))
        .where(ATTEMPTS.c.ok.is_(False))
        .group_by(OUTBOX.c.channel)
    )
    return {channel: int(count) for channel, count in conn.execute(stmt)}


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
