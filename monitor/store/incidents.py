"""Incidents: `incident`, its timeline `incident_update`, `component_status` and its history
`component_status_change`, and every query on them (but the `incidents` command's listing,
which monitor.store.readout makes without the ORM).

Everything an incident needs to resume after a restart is in these rows: the deciding
service reloads open incidents on every pass, so nothing about an incident lives only in
memory. No function here commits: the deciding transaction writes incident, timeline, check
states and outbox rows together, and a CLI action commits its change with its notice.
On PostgreSQL the deciding transaction takes an advisory lock and open incidents are read
FOR UPDATE, so two controllers (or a controller and the CLI) decide one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, Session, SQLModel, select

from monitor.store.engine import is_postgres
from monitor.store.types import UTCDateTime

DECIDING_LOCK = 0x1A_C1DE  # pg advisory lock key of the deciding transaction


class Incident(SQLModel, table=True):
    """One outage of one component (or of our own network), from detection to resolution.

    `data` keeps what the engine needs to carry on (member checks, symptoms folded in,
    recovery time, whether on-call was told) and the evidence (failed check and step,
    envelope code and message, HTTP status, timings, last results).
    """

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_component_resolved", "component", "resolved_at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    component: str = Field(sa_column=Column(String(64), nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    impact: str = Field(sa_column=Column(String(16), nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detected_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    acked_by: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    root_check: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    public: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))

    @property
    def time_to_detect_s(self) -> float:
        return (self.detected_at - self.started_at).total_seconds()

    @property
    def time_to_resolve_s(self) -> float | None:
        return (self.resolved_at - self.started_at).total_seconds() if self.resolved_at else None


class IncidentUpdate(SQLModel, table=True):
    """One timeline entry: automatic (evidence of what changed) or manual (who said what)."""

    __tablename__ = "incident_update"
    __table_args__ = (Index("ix_incident_update_incident", "incident_id", "at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incident.id"), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # auto | manual
    message: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    author: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ComponentStatus(SQLModel, table=True):
    """The current status of each component, in Statuspage's vocabulary."""

    __tablename__ = "component_status"

    component: str = Field(sa_column=Column(String(64), primary_key=True))
    status: str = Field(sa_column=Column(String(32), nullable=False))
    since: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ComponentStatusChange(SQLModel, table=True):
    """One row per component transition: the history uptime is computed from."""

    __tablename__ = "component_status_change"
    __table_args__ = (Index("ix_component_status_change_component_at", "component", "at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    component: str = Field(sa_column=Column(String(64), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(sa_column=Column(String(32), nullable=False))


INCIDENTS: sa.Table = Incident.__table__  # type: ignore[attr-defined]
UPDATES: sa.Table = IncidentUpdate.__table__  # type: ignore[attr-defined]
CURRENT: sa.Table = ComponentStatus.__table__  # type: ignore[attr-defined]
CHANGES: sa.Table = ComponentStatusChange.__table__  # type: ignore[attr-defined]


def lock_deciding(session: Session) -> None:
    """Decide one controller at a time (PostgreSQL; SQLite has one writer anyway): the second
    then sees the first's incident instead of opening its own, so outbox keys match too.
    Held until the transaction ends."""
    if is_postgres(session.connection()):
        session.connection().execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": DECIDING_LOCK})


# incidents -----------------------------------------------------------------------------------
def open_incidents(session: Session, *, lock: bool = False) -> list[Incident]:
    """Every incident not yet resolved, oldest first (locked FOR UPDATE on PostgreSQL with
    `lock`, so a CLI change cannot interleave with a decision)."""
    stmt = select(Incident).where(INCIDENTS.c.resolved_at.is_(None)).order_by(INCIDENTS.c.id)
    if lock and is_postgres(session.connection()):
        stmt = stmt.with_for_update()
    return list(session.exec(stmt))


def last_resolved(session: Session) -> dict[str, datetime]:
    """When each component's last incident was resolved (components never resolved: absent)."""
    stmt = sa.select(INCIDENTS.c.component, sa.func.max(INCIDENTS.c.resolved_at)).group_by(INCIDENTS.c.component)
    return {c: _aware(t) for c, t in session.connection().execute(stmt) if t is not None}


def get(session: Session, incident_id: int, *, lock: bool = False) -> Incident | None:
    """One incident (locked FOR UPDATE on PostgreSQL with `lock`), or None."""
    if not lock:
        return session.get(Incident, incident_id)
    stmt = select(Incident).where(INCIDENTS.c.id == incident_id)
    if is_postgres(session.connection()):
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def save(session: Session, row: Incident) -> Incident:
    """Insert or update an incident row; after this its `id` is known."""
    session.add(row)
    session.flush()
    return row


def open_or_resolved_since(session: Session, since: datetime) -> list[Incident]:
    """Open incidents and those resolved at or after `since`, oldest first: what paging and
    announcements still look at (a resolved one still owes its "resolved" messages)."""
    recent = sa.or_(INCIDENTS.c.resolved_at.is_(None), INCIDENTS.c.resolved_at >= since)
    return list(session.exec(select(Incident).where(recent).order_by(INCIDENTS.c.id)))


def released_symptoms(session: Session, since: datetime) -> dict[str, datetime]:
    """check -> the latest recovery of an incident resolved at or after `since` that it was a
    symptom of (it closed with that root; see rulebook.incidents)."""
    stmt = sa.select(INCIDENTS.c.data).where(INCIDENTS.c.resolved_at >= since)
    out: dict[str, datetime] = {}
    for (data,) in session.connection().execute(stmt):
        recovered = (data or {}).get("recovered_at")
        if not recovered:
            continue
        at = _aware(recovered)
        for name in (data or {}).get("symptoms") or ():
            if name not in out or at > out[name]:
                out[name] = at
    return out


# timeline ------------------------------------------------------------------------------------
def add_update(
    session: Session,
    incident_id: int,
    *,
    at: datetime,
    status: str,
    kind: str,
    message: str,
    author: str | None = None,
    data: dict[str, Any] | None = None,
) -> IncidentUpdate:
    """Append one timeline entry; after this its `id` is known (notices cite it)."""
    entry = IncidentUpdate(
        incident_id=incident_id, at=at, status=status, kind=kind, message=message, author=author, data=data
    )
    session.add(entry)
    session.flush()
    return entry


def timeline(session: Session, incident_id: int) -> list[IncidentUpdate]:
    stmt = select(IncidentUpdate).where(UPDATES.c.incident_id == incident_id).order_by(UPDATES.c.id)
    return list(session.exec(stmt))


# component status ------------------------------------------------------------------------------
def component_statuses(session: Session) -> dict[str, ComponentStatus]:
    return {row.component: row for row in session.exec(select(ComponentStatus))}


def write_component_statuses(session: Session, statuses: Mapping[str, str | None], now: datetime) -> list[str]:
    """Store each component's status; one history row per transition. Returns changed ids.
    A None status (nothing reporting) leaves the component as it was."""
    current = component_statuses(session)
    changed = []
    for cid, status in statuses.items():
        if status is None:
            continue
        row = current.get(cid)
        if row is not None and row.status == status:
            continue
        if row is None:
            row = ComponentStatus(component=cid, status=status, since=now, updated_at=now)
        else:
            row.status, row.since, row.updated_at = status, now, now
        session.add(row)
        session.add(ComponentStatusChange(component=cid, at=now, status=status))
        changed.append(cid)
    return changed


def _aware(value: Any) -> datetime:
    """An aggregate (max) bypasses the column type: SQLite hands back text, both engines
    naive UTC."""
    when: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
