"""Rows in the real tables the status page reads, for tests and the benchmark.

The store's models (monitor.store.incidents: incident, incident_update, component_status,
component_status_change; monitor.store.maintenance: maintenance_window;
monitor.store.announcements: announcement), created by the migration. Inserts are plain Core
inserts into those models' tables, never the page's view-model types.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.core import sketch
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
        end_us = _us(upto)
        spans: dict[str, list[tuple[int, str]]] = {}
        for r in sorted(rows, key=lambda r: (r["component"], r["at"])):  # the roll-up's order (ties: as written)
            spans.setdefault(r["component"], []).append((_us(r["at"]), r["status"]))
        column = [rollups._SECONDS_COLUMN[s] for s in rollups.COMPONENT_STATUSES]
        of_status = {s: i for i, s in enumerate(rollups.COMPONENT_STATUSES)}
        empty = sketch.pack({})
        no_latency = (sketch.quantile({}, 0.50), sketch.quantile({}, 0.95), sketch.quantile({}, 0.99))
        hour_us = 3_600_000_000
        hourly: list[tuple[Any, ...]] = []
        daily: list[tuple[Any, ...]] = []
        day_of: dict[int, int] = {}  # hour start -> its local day's start (us)
        day_end: dict[int, int] = {}  # a local day's start -> the next one's (epoch seconds)
        for cid, changes in spans.items():
            hours: dict[int, list[float]] = {}  # hour start (us) -> seconds per status, as the roll-up adds them
            for (a, status), (b, _) in zip(changes, [*changes[1:], (end_us, "")], strict=True):
                b = min(b, end_us)
                i = of_status[status]
                while a < b:
                    h = a - a % hour_us
                    e = min(b, h + hour_us)
                    hours.setdefault(h, [0.0] * 5)[i] += (e - a) / 1_000_000
                    a = e
            days: dict[int, list[float]] = {}
            for h in sorted(hours):
                seconds = hours[h]
                hourly.append(("h", h // 1_000_000, cid, *seconds, 0, 0, *no_latency, empty))
                if (d := day_of.get(h)) is None:
                    d = day_of[h] = _us(rollups.local_midnight(_at(h), tz))
                    day_end[d // 1_000_000] = int(rollups.next_local_midnight(_at(d), tz).timestamp())
                day = days.setdefault(d, [0.0] * 5)
                for i, v in enumerate(seconds):
                    day[i] += v
            daily += [("d", d // 1_000_000, cid, *seconds, 0, 0, *no_latency, empty) for d, seconds in days.items()]
        # Written in the roll-up's order, so the file's pages are laid out as its are: 24 hours a
        # transaction from the first hour, component by component, then the days they close.
        first, window, upto_s = min((r[1] for r in hourly), default=0), 24 * 3600, end_us // 1_000_000
        hourly.sort(key=lambda r: ((r[1] - first) // window, r[2], r[1]))
        daily.sort(key=lambda r: (r[1], r[2]))
        table = rollups.COMPONENT_ROLLUPS
        names = ["grain", "start", "component", *column, "count", "failures", "p50", "p95", "p99", "sketch"]
        mark = "?" if self.store.engine.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})"
        h = d = 0
        while h < len(hourly):
            end = min(first + ((hourly[h][1] - first) // window + 1) * window, upto_s)
            n, k = h, d
            while n < len(hourly) and hourly[n][1] < end:
                n += 1
            while k < len(daily) and day_end[daily[k][1]] <= end:
                k += 1
            with self.store.engine.begin() as conn:
                conn.exec_driver_sql(sql, hourly[h:n])
                if k > d:
                    conn.exec_driver_sql(sql, daily[d:k])
            h, d = n, k
        with self.store.engine.begin() as conn:
            for name in ("hour", "day"):
                rollups.set_mark(conn, name, upto)
        return len(hourly), len(daily)

    def bulk_incidents(self, incidents: Sequence[dict[str, Any]], updates: Sequence[Sequence[dict[str, Any]]]) -> list[int]:
        """Incidents (the columns `incident` takes) with their updates (`update`'s, without
        incident_id), each table in one executemany; their ids, in order."""
        table = self.t("incident")
        with self.store.engine.begin() as conn:
            first = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()) + 1
            ids = list(range(first, first + len(incidents)))
            rows = [{"detected_at": i["started_at"], "resolved_at": None, "title": f"{i['component']} {i.get('impact', 'critical')}",
                     "impact": "critical", "status": "investigating", "root_check": None, "data": {}, "public": True,
                     "updated_at": i.get("resolved_at") or i["started_at"], **i, "id": ident}
                    for ident, i in zip(ids, incidents, strict=True)]
            if rows:
                conn.execute(sa.insert(table), rows)
            ups = [{"kind": "auto", "author": None, "data": {}, **u, "incident_id": ident}
                   for ident, us in zip(ids, updates, strict=True) for u in us]
            if ups:
                conn.execute(sa.insert(self.t("incident_update")), ups)
        return ids

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


def _us(when: datetime) -> int:
    """Microseconds since the epoch, exactly (what the roll-up's timedeltas hold)."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
