"""Rows in the real tables the status page reads, for tests and the benchmark.

The evaluator room owns component_status, component_status_change, incident, incident_update
and maintenance_window; the notifiers room owns announcement (CONTRACTS.md). Their
migrations create those tables; `ensure_contract_tables` creates, with the contract's columns,
only those a migrated database still lacks (a room whose branch has not landed here yet), so
the same seeding code works before and after they land. Inserts go through SQL on the table
names, never through our own view-model types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.store import Store
from monitor.store.types import UTCDateTime

_md = sa.MetaData()
_T = UTCDateTime
CONTRACT_TABLES = [
    sa.Table(
        "component_status", _md,
        sa.Column("component", sa.String(64), primary_key=True), sa.Column("status", sa.String(32), nullable=False),
        sa.Column("since", _T(), nullable=False), sa.Column("updated_at", _T(), nullable=False),
    ),
    sa.Table(
        "component_status_change", _md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("component", sa.String(64), nullable=False),
        sa.Column("at", _T(), nullable=False), sa.Column("status", sa.String(32), nullable=False),
        sa.Index("ix_csc_component_at", "component", "at"),
    ),
    sa.Table(
        "incident", _md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("component", sa.String(64)),
        sa.Column("title", sa.Text), sa.Column("status", sa.String(16)), sa.Column("impact", sa.String(16)),
        sa.Column("started_at", _T()), sa.Column("detected_at", _T()), sa.Column("acked_at", _T()),
        sa.Column("acked_by", sa.Text), sa.Column("resolved_at", _T()), sa.Column("root_check", sa.Text),
        sa.Column("data", sa.JSON), sa.Column("public", sa.Boolean),
    ),
    sa.Table(
        "incident_update", _md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id")), sa.Column("at", _T()),
        sa.Column("status", sa.String(16)), sa.Column("kind", sa.String(16)), sa.Column("message", sa.Text),
        sa.Column("author", sa.Text), sa.Column("data", sa.JSON),
    ),
    sa.Table(
        "maintenance_window", _md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("title", sa.Text),
        sa.Column("components", sa.JSON), sa.Column("starts_at", _T()), sa.Column("ends_at", _T()),
        sa.Column("recurrence", sa.Text), sa.Column("duration_s", sa.Integer), sa.Column("timezone", sa.Text),
        sa.Column("created_by", sa.Text), sa.Column("created_at", _T()), sa.Column("ended_at", _T()),
        sa.Column("source", sa.String(16)),
    ),
    sa.Table(
        "announcement", _md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True), sa.Column("incident_id", sa.Integer),
        sa.Column("components", sa.JSON), sa.Column("status", sa.String(16)), sa.Column("title", sa.JSON),
        sa.Column("body", sa.JSON), sa.Column("next_update_at", _T()), sa.Column("manual", sa.Boolean),
        sa.Column("created_at", _T()), sa.Column("updated_at", _T()), sa.Column("closed_at", _T()),
        sa.Column("author", sa.Text),
    ),
]


def ensure_contract_tables(store: Store) -> list[str]:
    """Create the contract tables the migrated database lacks; return their names."""
    have = set(sa.inspect(store.engine).get_table_names())
    missing = [t for t in CONTRACT_TABLES if t.name not in have]
    if missing:
        _md.create_all(store.engine, tables=missing)
    return [t.name for t in missing]


def _table(store: Store, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=store.engine)


class Seed:
    """Insert contract rows. Each method commits; ids come back for linking."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate()
        ensure_contract_tables(store)
        self._tables: dict[str, sa.Table] = {}

    def t(self, name: str) -> sa.Table:
        if name not in self._tables:
            self._tables[name] = _table(self.store, name)
        return self._tables[name]

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
            "root_check": root_check, "data": data or {}, "public": public,
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
