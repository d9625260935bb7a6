"""The mapping between the rulebook's incidents and the store's rows: load the engine's Book,
write its Actions (incident rows and one timeline entry each), save and load check states.
The SQL is monitor.store's; every function works inside the caller's session and never
commits: the service commits state, incident and outbox rows together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from monitor.rulebook.check_state import CheckState
from monitor.rulebook.incident_book import COMPONENT, OPENED, RESOLVED, Action, Book, IncidentView
from monitor.store import incidents, results
from monitor.store.incidents import Incident

# How long a symptom that closed with its root is remembered (Book.released): its next result
# brings evidence newer than the root's recovery long before this.
RELEASED_FOR = timedelta(days=1)


def load_book(session: Session, *, lock: bool = True, now: datetime | None = None) -> Book:
    """Open incidents (locked FOR UPDATE on PostgreSQL, so a CLI change cannot interleave),
    the last resolution time of each component, and (with `now`) the symptoms that closed
    with their root lately."""
    opened: dict[str, IncidentView] = {}
    for row in incidents.open_incidents(session, lock=lock):
        opened.setdefault(row.component, view_of(row))
    released = incidents.released_symptoms(session, now - RELEASED_FOR) if now is not None else {}
    return Book(open=opened, last_resolved=incidents.last_resolved(session), released=released)


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
        affected=tuple(d.get("affected") or ()),
        platform=d.get("platform"),
        cause=d.get("cause"),
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
        affected=list(view.affected),
        platform=view.platform,
        cause=view.cause,
        recovered_at=_iso(view.recovered_at),
        status_at=_iso(view.status_at),
        notified=view.notified,
        evidence=dict(view.evidence) if view.evidence is not None else None,
        title_i18n=dict(view.title_i18n),
    )
    row.component = view.component  # a component incident that became a platform incident
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
            row = incidents.get(session, view.id)
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
        incidents.save(session, row)
        assert row.id is not None
        rows[view.component] = row
        if action.kind == RESOLVED:
            rows.pop(view.component, None)
        entry = incidents.add_update(
            session, row.id, at=action.at, status=view.status, kind="auto", message=action.message[:4000],
            data={"action": action.kind, **dict(action.data)},
        )
        assert entry.id is not None
        out.incident_ids.add(row.id)
        out.entries.append((action, row.id, entry.id))
    return out


def save_states(session: Session, states: Iterable[CheckState], location: str) -> None:
    """The deciding service's columns of check_state (status, since, data) for `location`;
    the latest-result columns stay the result writer's."""
    results.save_decided(session, [
        {"check": st.check, "location": location, "status": st.status, "since": st.since, "data": st.to_json()}
        for st in states
    ])


def load_states(session: Session, location: str) -> dict[str, CheckState]:
    return {r.check: CheckState.from_json(r.check, r.since, r.data) for r in results.states(session, location)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
