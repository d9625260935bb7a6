"""Incidents in the database: load the engine's Book, write its Actions, keep component
status and its history, save check states. Every function works inside the caller's
session and never commits: the service commits state, incident and outbox rows together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from monitor.incidents.tables import ComponentStatus, ComponentStatusChange, Incident, IncidentUpdate
from monitor.rulebook.check_state import CheckState
from monitor.rulebook.incident_book import COMPONENT, OPENED, RESOLVED, Action, Book, IncidentView
from monitor.store.tables import CheckStateRow


def open_incidents(session: Session) -> list[Incident]:
    """Every incident not yet resolved, oldest first."""
    stmt = select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id)  # type: ignore[union-attr,arg-type]
    return list(session.exec(stmt))


def load_book(session: Session, *, lock: bool = True) -> Book:
    """Open incidents (locked FOR UPDATE on PostgreSQL, so a CLI change cannot interleave)
    and the last resolution time of each component."""
    stmt = select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id)  # type: ignore[union-attr,arg-type]
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    opened: dict[str, IncidentView] = {}
    for row in session.exec(stmt):
        opened.setdefault(row.component, view_of(row))
    last = session.exec(
        select(Incident.component, sa.func.max(Incident.resolved_at)).group_by(Incident.component)
    )
    last_resolved = {c: _aware(t) for c, t in last if t is not None}
    return Book(open=opened, last_resolved=last_resolved)


def view_of(row: Incident) -> IncidentView:
    d = dict(row.data or {})
    return IncidentView(
        id=row.id,
        component=row.component,
        title=row.title,
        status=row.status,
        impact=row.impact,
        started_at=row.started_at,
        detected_at=row.detected_at,
        root_check=row.root_check,
        kind=d.get("kind", COMPONENT),
        checks=tuple(d.get("checks") or ()),
        symptoms=tuple(d.get("symptoms") or ()),
        recovered_at=_dt(d.get("recovered_at")),
        status_at=_dt(d.get("status_at")),
        notified=bool(d.get("notified")),
        public=row.public,
        evidence=d.get("evidence"),
        title_i18n=d.get("title_i18n") or {},
        resolved_at=row.resolved_at,
    )


def _fill(row: Incident, view: IncidentView, now: datetime) -> None:
    data = dict(row.data or {})
    data.update(
        kind=view.kind,
        checks=list(view.checks),
        symptoms=list(view.symptoms),
        recovered_at=_iso(view.recovered_at),
        status_at=_iso(view.status_at),
        notified=view.notified,
        evidence=dict(view.evidence) if view.evidence is not None else None,
        title_i18n=dict(view.title_i18n),
    )
    row.title = view.title
    row.status = view.status
    row.impact = view.impact
    row.resolved_at = view.resolved_at
    row.root_check = view.root_check
    row.public = view.public
    row.data = data
    row.updated_at = now


@dataclasses.dataclass
class Written:
    """What one write did, for the caller to publish and enqueue after/within the commit."""

    incident_ids: set[int] = dataclasses.field(default_factory=set)
    # (action, incident id, timeline row id) in order, for notices
    entries: list[tuple[Action, int, int]] = dataclasses.field(default_factory=list)


def write_actions(session: Session, actions: Iterable[Action]) -> Written:
    """Insert/update incident rows and one auto timeline entry per action."""
    out = Written()
    rows: dict[str, Incident] = {}
    for action in actions:
        view = action.incident
        row = rows.get(view.component)
        if row is None and view.id is not None:
            row = session.get(Incident, view.id)
        if row is None:
            if action.kind != OPENED:
                continue  # the incident vanished under us (deleted by hand); nothing to write
            row = Incident(
                component=view.component,
                title=view.title,
                status=view.status,
                impact=view.impact,
                started_at=view.started_at,
                detected_at=view.detected_at,
                root_check=view.root_check,
                public=view.public,
                data={},
            )
        _fill(row, view, action.at)
        session.add(row)
        session.flush()
        assert row.id is not None
        rows[view.component] = row
        if action.kind == RESOLVED:
            rows.pop(view.component, None)
        entry = IncidentUpdate(
            incident_id=row.id,
            at=action.at,
            status=view.status,
            kind="auto",
            message=action.message[:4000],
            data={"action": action.kind, **dict(action.data)},
        )
        session.add(entry)
        session.flush()
        assert entry.id is not None
        out.incident_ids.add(row.id)
        out.entries.append((action, row.id, entry.id))
    return out


def write_component_statuses(
    session: Session, statuses: Mapping[str, str | None], now: datetime
) -> list[str]:
    """Store each component's status; one history row per transition. Returns changed ids.
    A None status (nothing reporting) leaves the component as it was."""
    current = {row.component: row for row in session.exec(select(ComponentStatus))}
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


def save_states(session: Session, states: Iterable[CheckState], location: str) -> None:
    """Upsert the evaluator's columns of check_state (status, since, data) for `location`,
    leaving the latest-result columns the result writer owns untouched."""
    values = [
        {"check": st.check, "location": location, "status": st.status, "since": st.since, "data": st.to_json()}
        for st in states
    ]
    if not values:
        return
    table = CheckStateRow.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    stmt = dialect_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["check", "location"],
        set_={"status": stmt.excluded.status, "since": stmt.excluded.since, "data": stmt.excluded.data},
    )
    session.connection().execute(stmt, values)


def load_states(session: Session, location: str) -> dict[str, CheckState]:
    rows = session.exec(select(CheckStateRow).where(CheckStateRow.location == location))
    return {r.check: CheckState.from_json(r.check, r.since, r.data) for r in rows}


def timeline(session: Session, incident_id: int) -> list[IncidentUpdate]:
    stmt = select(IncidentUpdate).where(IncidentUpdate.incident_id == incident_id).order_by(IncidentUpdate.id)  # type: ignore[arg-type]
    return list(session.exec(stmt))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _aware(value: Any) -> datetime:
    from datetime import UTC

    when: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
