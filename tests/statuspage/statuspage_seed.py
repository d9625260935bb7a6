"""Rows in the real tables the status page reads, for tests and the benchmark.

The store's models (monitor.store.incidents: incident, incident_update, component_status,
component_status_change; monitor.store.maintenance: maintenance_window;
monitor.store.announcements: announcement), created by the migration. Inserts are plain Core
inserts into those models' tables, never the page's view-model types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.store import Store
from monitor.store.announcements import AnnouncementRow
from monitor.store.incidents import ComponentStatus, ComponentStatusChange, Incident, IncidentUpdate
from monitor.store.maintenance import MaintenanceWindow

TABLES: dict[str, sa.Table] = {
    m.__tablename__: m.__table__  # type: ignore[attr-defined, misc]
    for m in (ComponentStatus, ComponentStatusChange, Incident, IncidentUpdate, MaintenanceWindow, AnnouncementRow)
}


class Seed:
    """Insert contract rows. Each method commits; ids come back for linking."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate()

    def t(self, name: str) -> sa.Table:
        return TABLES[name]

    def _insert(self, name: str, rows: list[dict[str, Any]] | dict[str, Any]) -> int | None:
        table = self.t(name)
        with self.store.engine.begin() as conn:
            if isinstance(rows, list):
                conn.execute(sa.insert(table), rows)
                return None
            return conn.execute(sa.insert(table).values(**rows)).inserted_primary_key[0]  # type: ignore[index]

    def status(self, component: str, status: str, at: datetime) -> None:
        """A transition: one change row, and the current status row moved to it."""
        self.history(component, [(at, status)])

    def history(self, component: str, changes: list[tuple[datetime, str]]) -> None:
        if not changes:
            return
        self._insert("component_status_change", [{"component": component, "at": at, "status": s} for at, s in changes])
        at, status = changes[-1]
        table = self.t("component_status")
        with self.store.engine.begin() as conn:
            conn.execute(sa.delete(table).where(table.c.component == component))
            conn.execute(sa.insert(table).values(component=component, status=status, since=at, updated_at=at))

    def bulk_history(self, rows: list[dict[str, Any]], current: list[dict[str, Any]]) -> None:
        self._insert("component_status_change", rows)
        self._insert("component_status", current)

    def incident(self, component: str, *, impact: str = "critical", status: str = "investigating",
                 started_at: datetime, detected_at: datetime | None = None, resolved_at: datetime | None = None,
                 title: str = "", public: bool = True, root_check: str | None = None,
                 data: dict[str, Any] | None = None) -> int:
        ident = self._insert("incident", {
            "component": component, "title": title or f"{component} {impact}", "status": status, "impact": impact,
            "started_at": started_at, "detected_at": detected_at or started_at, "resolved_at": resolved_at,
            "root_check": root_check, "data": data or {}, "public": public, "updated_at": resolved_at or started_at,
        })
        assert ident is not None
        return int(ident)

    def update(self, incident_id: int, at: datetime, status: str, message: str, *, kind: str = "auto",
               author: str | None = None) -> int:
        ident = self._insert("incident_update", {
            "incident_id": incident_id, "at": at, "status": status, "kind": kind, "message": message,
            "author": author, "data": {},
        })
        return int(ident or 0)

    def announcement(self, *, title: dict[str, str], body: dict[str, dict[str, str]], components: list[str],
                     created_at: datetime, next_update_at: datetime | None = None, status: str = "published",
                     incident_id: int | None = None, closed_at: datetime | None = None) -> int:
        ident = self._insert("announcement", {
            "incident_id": incident_id, "components": components, "status": status, "title": title, "body": body,
            "next_update_at": next_update_at, "manual": True, "created_at": created_at, "updated_at": created_at,
            "closed_at": closed_at, "author": "tester",
        })
        return int(ident or 0)

    def maintenance(self, title: str, *, starts_at: datetime, ends_at: datetime, components: list[str],
                    recurrence: str | None = None, duration_s: int | None = None, timezone: str = "Asia/Shanghai",
                    ended_at: datetime | None = None) -> int:
        ident = self._insert("maintenance_window", {
            "title": title, "components": components, "starts_at": starts_at, "ends_at": ends_at,
            "recurrence": recurrence, "duration_s": duration_s, "timezone": timezone, "created_by": "tester",
            "created_at": starts_at, "ended_at": ended_at, "source": "cli",
        })
        return int(ident or 0)
