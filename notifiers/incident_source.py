"""The one adapter between the evaluator's `incident` table (monitor/incidents/tables.py,
CONTRACTS.md) and the notifiers: it turns rows into notifiers.decide.IncidentView, the
only shape the reminder/escalation/announcement decisions know. Nothing else in notifiers/
reads incident rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from monitor.incidents.tables import Incident
from monitor.rulebook.paging import IncidentView

INCIDENT = Incident.__table__  # type: ignore[attr-defined]

# How long after resolution an incident is still looked at (to send "resolved", close its
# announcement) if the monitor was down when it was resolved.
RESOLVED_HORIZON = timedelta(days=1)


def view_of(row: Incident | sa.Row[tuple[object, ...]]) -> IncidentView:
    m = row._mapping if isinstance(row, sa.Row) else row.model_dump()
    return IncidentView(
        id=int(m["id"]),
        component=m["component"] or "",
        impact=m["impact"] or "major",
        title=m["title"] or "",
        status=m["status"] or "investigating",
        detected_at=m["detected_at"] or m["started_at"],
        acked_at=m["acked_at"],
        resolved_at=m["resolved_at"],
        started_at=m["started_at"],
        acked_by=m["acked_by"],
        public=bool(m["public"]) if m["public"] is not None else True,
        data=dict(m["data"] or {}),
    )


def load_incidents(conn: sa.Connection, now: datetime) -> list[IncidentView]:
    """Open incidents and those resolved within RESOLVED_HORIZON, oldest first."""
    recent = sa.or_(INCIDENT.c.resolved_at.is_(None), INCIDENT.c.resolved_at >= now - RESOLVED_HORIZON)
    return [view_of(r) for r in conn.execute(sa.select(INCIDENT).where(recent).order_by(INCIDENT.c.id))]
