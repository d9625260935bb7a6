"""Rows in the real tables the status page reads, for tests and the benchmark.

The store's models (monitor.store.incidents: incident, incident_update, component_status,
component_status_change; monitor.store.maintenance: maintenance_window;
monitor.store.announcements: announcement), created by the migration. Inserts are plain Core
inserts into those models' tables, never the page's view-model types.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.core import sketch
from monitor.statuspage.uptime import from_us, to_us
from monitor.store import Store, rollups
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

    def rolled_history(self, rows: list[dict[str, Any]], upto: datetime, tz: Any) -> tuple[int, int]:
        """The component rollups the monitor's roll-up makes of the history `rows` (as
        bulk_history takes them, already written) before `upto`, a local midnight of `tz`:
        hourly rows from each component's first change, then a daily row per whole local day,
        of components whose checks have no results before `upto`. Plain tuples, one executemany
        per 24 hours, and both rollup marks set to `upto`, so `Store.roll_up` goes on from there
        as if it had rolled every hour itself (tests/statuspage/test_statuspage_seed.py holds
        the rows to the roll-up's own). Returns the hourly and daily rows written.

        Rolling 92 days of 1,000 components' history through the roll-up itself (every row
        through SQLAlchemy's Core, the daily rows read back and added up) was ~175 s of
        bench/statuspage_render.py's 180 s seed."""
        end_us = to_us(upto)
        spans: dict[str, list[tuple[int, str]]] = {}
        for r in sorted(rows, key=lambda r: (r["component"], r["at"])):  # the roll-up's order (ties: as written)
            spans.setdefault(r["component"], []).append((to_us(r["at"]), r["status"]))
        ends = {cid: [a for a, _ in changes[1:]] + [end_us] for cid, changes in spans.items()}
        of_status = {s: i for i, s in enumerate(rollups.COMPONENT_STATUSES)}
        tail = (0, 0, sketch.quantile({}, 0.50), sketch.quantile({}, 0.95), sketch.quantile({}, 0.99), sketch.pack({}))
        names = ("grain", "start", "component", *(rollups.SECONDS_COLUMN[s] for s in rollups.COMPONENT_STATUSES),
                 "count", "failures", "p50", "p95", "p99", "sketch")
        window = 24 * _HOUR_US
        day_of: dict[int, int] = {}  # hour start -> its local day's start
        day_end: dict[int, int] = {}  # a local day's start -> the next one's
        days: dict[int, dict[str, list[float]]] = {}  # open local days: seconds per component
        pos = dict.fromkeys(spans, 0)  # each component's first span not over yet
        n_hours = n_days = 0
        # As the roll-up goes, so the file's pages are laid out as its are: 24 hours a transaction
        # from the first hour, component by component, then the local days those hours close.
        w0 = min((changes[0][0] for changes in spans.values()), default=end_us)
        w0 -= w0 % _HOUR_US
        while w0 < end_us:
            w1 = min(w0 + window, end_us)
            hourly: list[tuple[Any, ...]] = []
            for cid in sorted(spans):
                changes, stops = spans[cid], ends[cid]
                held = _seconds_by_hour(changes, stops, pos[cid], w0, w1, of_status)
                while pos[cid] < len(changes) and stops[pos[cid]] <= w1:
                    pos[cid] += 1
                for h in sorted(held):
                    seconds = held[h]
                    hourly.append(("h", h // 1_000_000, cid, *seconds, *tail))
                    if h not in day_of:
                        day = rollups.local_midnight(from_us(h), tz)
                        day_of[h] = to_us(day)
                        day_end[day_of[h]] = to_us(rollups.next_local_midnight(day, tz))
                    total = days.setdefault(day_of[h], {}).setdefault(cid, [0.0] * 5)
                    for k, v in enumerate(seconds):
                        total[k] += v
            closed = sorted(d for d in days if day_end[d] <= w1)
            daily = [("d", d // 1_000_000, cid, *days[d][cid], *tail) for d in closed for cid in sorted(days[d])]
            with self.store.engine.begin() as conn:
                for grain_rows in (hourly, daily):
                    insert_tuples(conn, rollups.COMPONENT_ROLLUPS, names, grain_rows)
            for d in closed:
                del days[d]
            n_hours, n_days, w0 = n_hours + len(hourly), n_days + len(daily), w1
        with self.store.engine.begin() as conn:
            for name in ("hour", "day"):
                rollups.set_mark(conn, name, upto)
        return n_hours, n_days

    def bulk_incidents(self, incidents: Sequence[dict[str, Any]], updates: Sequence[Sequence[dict[str, Any]]]) -> list[int]:
        """Incidents (incident_row's keywords) with their updates (update_row's, without the
        incident's id), each table in one executemany; their ids, in order."""
        table = self.t("incident")
        with self.store.engine.begin() as conn:
            first = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()) + 1
            ids = list(range(first, first + len(incidents)))
            rows = [{**incident_row(**i), "id": ident} for ident, i in zip(ids, incidents, strict=True)]
            if rows:
                conn.execute(sa.insert(table), rows)
            ups = [update_row(ident, **u) for ident, us in zip(ids, updates, strict=True) for u in us]
            if ups:
                conn.execute(sa.insert(self.t("incident_update")), ups)
        return ids

    def incident(self, component: str, *, impact: str = "critical", status: str = "investigating",
                 started_at: datetime, detected_at: datetime | None = None, resolved_at: datetime | None = None,
                 title: str = "", public: bool = True, root_check: str | None = None,
                 data: dict[str, Any] | None = None) -> int:
        ident = self._insert("incident", incident_row(
            component, impact=impact, status=status, started_at=started_at, detected_at=detected_at,
            resolved_at=resolved_at, title=title, public=public, root_check=root_check, data=data,
        ))
        assert ident is not None
        return int(ident)

    def update(self, incident_id: int, at: datetime, status: str, message: str, *, kind: str = "auto",
               author: str | None = None) -> int:
        ident = self._insert("incident_update", update_row(incident_id, at, status, message, kind=kind, author=author))
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


_HOUR_US = 3_600_000_000


def _seconds_by_hour(changes: Sequence[tuple[int, str]], stops: Sequence[int], first: int, w0: int, w1: int,
                     of_status: dict[str, int]) -> dict[int, list[float]]:
    """Hour start (us) -> seconds in each status (in `of_status`' order), as the roll-up adds
    them, of one component's spans from `first` on (span i runs from changes[i] to stops[i])
    cut to the window [w0, w1)."""
    held: dict[int, list[float]] = {}
    i = first
    while i < len(changes) and changes[i][0] < w1:
        a, b, k = max(changes[i][0], w0), min(stops[i], w1), of_status[changes[i][1]]
        while a < b:
            h = a - a % _HOUR_US
            e = min(b, h + _HOUR_US)
            held.setdefault(h, [0.0] * len(of_status))[k] += (e - a) / 1_000_000
            a = e
        i += 1
    return held


def insert_tuples(conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """`rows` (values in `columns`' order, as the driver binds them: times and JSON already as
    the column stores them) in one executemany, past SQLAlchemy's per-row processing, which
    took most of a seed of millions of rows (bench/storage.py, bench/statuspage_render.py)."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(f'"{c}"' for c in columns)  # quoted: "check" is a keyword
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join([mark] * len(columns))})", rows)


def incident_row(component: str, *, impact: str = "critical", status: str = "investigating", started_at: datetime,
                 detected_at: datetime | None = None, resolved_at: datetime | None = None, title: str = "",
                 public: bool = True, root_check: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """An `incident` row (Seed.incident, Seed.bulk_incidents): detected when it started unless
    said, titled by component and impact unless given, last updated when resolved or started."""
    return {
        "component": component, "title": title or f"{component} {impact}", "status": status, "impact": impact,
        "started_at": started_at, "detected_at": detected_at or started_at, "resolved_at": resolved_at,
        "root_check": root_check, "data": data or {}, "public": public, "updated_at": resolved_at or started_at,
    }


def update_row(incident_id: int, at: datetime, status: str, message: str, *, kind: str = "auto",
               author: str | None = None) -> dict[str, Any]:
    """An `incident_update` row (Seed.update, Seed.bulk_incidents)."""
    return {"incident_id": incident_id, "at": at, "status": status, "kind": kind, "message": message,
            "author": author, "data": {}}
