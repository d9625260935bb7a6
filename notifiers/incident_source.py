"""The one adapter between the evaluator's `incident` table and the notifiers.

ISOLATED ON PURPOSE: the incident table belongs to the evaluator room (CONTRACTS.md) and had
not landed when this was written, so it is read here through a lightweight Core
`sa.table()` naming only the contracted columns (id, component, title, status, impact,
started_at, detected_at, acked_at, acked_by, resolved_at, data, public). Nothing here
creates or migrates that table. When monitor/incidents/tables.py lands, this module may
import its model instead; nothing else in notifiers/ touches incident rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.store.types import UTCDateTime
from notifiers.decide import IncidentView

INCIDENT = sa.table(
    "incident",
    sa.column("id", sa.Integer()),
    sa.column("component", sa.String()),
    sa.column("title", sa.String()),
    sa.column("status", sa.String()),
    sa.column("impact", sa.String()),
    sa.column("started_at", UTCDateTime()),
    sa.column("detected_at", UTCDateTime()),
    sa.column("acked_at", UTCDateTime()),
    sa.column("acked_by", sa.String()),
    sa.column("resolved_at", UTCDateTime()),
    sa.column("data", sa.JSON()),
    sa.column("public", sa.Boolean()),
)

# How long after resolution an incident is still looked at (to send "resolved", close its
# announcement) if the monitor was down when it was resolved.
RESOLVED_HORIZON = timedelta(days=1)


def incident_table_exists(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table("incident")


def _view(row: Any) -> IncidentView:
    m = row._mapping
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


def load_incidents(conn: sa.Connection, now: datetime, ids: list[int] | None = None) -> list[IncidentView]:
    """Open incidents, those resolved within RESOLVED_HORIZON, and any of `ids`."""
    if not incident_table_exists(conn):
        return []
    recent = sa.or_(INCIDENT.c.resolved_at.is_(None), INCIDENT.c.resolved_at >= now - RESOLVED_HORIZON)
    where = sa.or_(recent, INCIDENT.c.id.in_(ids)) if ids else recent
    return [_view(r) for r in conn.execute(sa.select(INCIDENT).where(where).order_by(INCIDENT.c.id))]
