"""Bounded history: what the nightly job and `invoicewatch prune` delete, and how SQLite gives
the space back.

    Policy                  how long each history is kept (monitor.result_retention and
                            monitor.retention.*)
    prune_all(engine, now)  every table, in small batches, each its own short transaction
    reclaim(engine)         SQLite: PRAGMA incremental_vacuum after pruning
    ensure_incremental_vacuum(engine)   SQLite: switch a database to auto_vacuum=INCREMENTAL

What goes, table by table
    check_result            passing results stored without evidence (like the one before
                            them) older than `passing_results` (a check that learns from its
                            own results, `keep_passing`, keeps them for what it learns from): once their hour is rolled they
                            add nothing the rollup does not hold (count, seconds, latency in
                            the sketch); every other result (failures, changes, the evidence)
                            older than `results`. Never above the rollup mark (an hour not
                            rolled yet is never pruned: its rollup would be lost). SLO series
                            read the rollups where passing results are gone (rollups.outcomes)
    outbox, delivery_attempt  sent or failed rows created before `outbox` (pending rows stay)
    incident_update         of incidents resolved before `incident_timelines`: every update
                            but the first and the last (the opening and the resolution)
    incident, announcement  resolved (closed) before `incidents`, with their updates
    component_status_change older than `status_changes`, except each component's newest
                            change before the cutoff (the status the kept history starts in)
    check_rollup, component_rollup   starting before `rollups`
    heartbeat_ping          older than `pings`, except each check's newest of each kind

SQLite: deleting leaves free pages inside the file. With auto_vacuum=INCREMENTAL they are
handed back to the file system by `PRAGMA incremental_vacuum` after pruning (cheap: it only
moves pages from the end). A database made before auto_vacuum was on needs one full VACUUM
to switch (it rewrites the file: about 10 s per GB here, bench/storage.py); the monitor does
it once at start (`Store.migrate`), logging how long it took. PostgreSQL: prune by the time
indexes in batches; autovacuum makes the space reusable (see README "Storage").
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.store import pings, results, rollups
from monitor.store.announcements import ANNOUNCEMENTS
from monitor.store.incidents import CHANGES, INCIDENTS, UPDATES
from monitor.store.outbox import ATTEMPTS, OUTBOX

CHUNK = 5000  # rows per delete transaction: short enough never to hold up the writer


@dataclass(frozen=True)
class Policy:
    results: timedelta = timedelta(days=14)
    passing_results: timedelta = timedelta(days=1)
    # Checks that learn from their own passing results keep them longer (freshness's `learn.days`).
    keep_passing: Mapping[str, timedelta] = field(default_factory=dict)
    outbox: timedelta = timedelta(days=30)
    incident_timelines: timedelta = timedelta(days=90)
    incidents: timedelta = timedelta(days=400)
    status_changes: timedelta = timedelta(days=400)
    rollups: timedelta = timedelta(days=400)
    pings: timedelta = timedelta(days=14)


def prune_all(engine: Engine, now: datetime, policy: Policy, *, chunk: int = CHUNK) -> dict[str, int]:
    """Prune every history table; returns rows deleted per table."""
    with engine.connect() as conn:
        rolled = rollups.mark(conn, "hour")
        complete = rollups.mark(conn, "passing")
    out = {"check_result": 0}
    if rolled is not None:  # nothing rolled yet: keep every raw result until it is
        passing = rollups.hour_floor(min(now - policy.passing_results, rolled))
        if complete is None or passing > complete:
            out["check_result"] += results.prune(engine, passing, chunk=chunk, passing_only=True,
                                                 exclude=list(policy.keep_passing))
            with engine.begin() as conn:
                rollups.set_mark(conn, "passing", passing)
        for check, span in policy.keep_passing.items():
            cut = rollups.hour_floor(min(now - max(span, policy.passing_results), rolled))
            out["check_result"] += results.prune(engine, cut, chunk=chunk, passing_only=True, only=check)
        out["check_result"] += results.prune(engine, min(now - policy.results, rolled), chunk=chunk)
    out["delivery_attempt"], out["outbox"] = _prune_outbox(engine, now - policy.outbox, chunk)
    out["incident_update"] = _trim_timelines(engine, now - policy.incident_timelines, chunk)
    gone = _prune_incidents(engine, now - policy.incidents, chunk)
    out["incident_update"] += gone[0]
    out["incident"], out["announcement"] = gone[1], gone[2]
    out["component_status_change"] = _prune_changes(engine, now - policy.status_changes, chunk)
    out["rollup"] = rollups.prune(engine, now - policy.rollups)
    out["heartbeat_ping"] = pings.prune(engine, now - policy.pings, chunk=chunk)
    return out


def _delete_ids(engine: Engine, table: sa.Table, ids: sa.ScalarSelect[int], chunk: int) -> int:
    """Delete the rows whose id `ids` selects (it must carry its own LIMIT chunk), until none."""
    total = 0
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(sa.delete(table).where(table.c.id.in_(ids))).rowcount or 0
        total += deleted
        if deleted < chunk:
            return total


def _prune_outbox(engine: Engine, before: datetime, chunk: int) -> tuple[int, int]:
    o = OUTBOX.c
    done = sa.and_(o.status.in_(("sent", "failed")), o.created_at < before)
    attempts = _delete_ids(
        engine, ATTEMPTS,
        sa.select(ATTEMPTS.c.id).where(ATTEMPTS.c.outbox_id.in_(sa.select(o.id).where(done))).limit(chunk).scalar_subquery(),
        chunk,
    )
    rows = _delete_ids(engine, OUTBOX, sa.select(o.id).where(done).limit(chunk).scalar_subquery(), chunk)
    return attempts, rows


def _trim_timelines(engine: Engine, before: datetime, chunk: int) -> int:
    u, i = UPDATES.c, INCIDENTS.c
    old = sa.select(i.id).where(i.resolved_at.is_not(None), i.resolved_at < before)
    ends = sa.union(
        sa.select(sa.func.min(u.id)).where(u.incident_id.in_(old)).group_by(u.incident_id),
        sa.select(sa.func.max(u.id)).where(u.incident_id.in_(old)).group_by(u.incident_id),
    )
    ids = sa.select(u.id).where(u.incident_id.in_(old), u.id.not_in(ends)).limit(chunk).scalar_subquery()
    return _delete_ids(engine, UPDATES, ids, chunk)


def _prune_incidents(engine: Engine, before: datetime, chunk: int) -> tuple[int, int, int]:
    i, u, a = INCIDENTS.c, UPDATES.c, ANNOUNCEMENTS.c
    old = sa.select(i.id).where(i.resolved_at.is_not(None), i.resolved_at < before)
    updates = _delete_ids(engine, UPDATES, sa.select(u.id).where(u.incident_id.in_(old)).limit(chunk).scalar_subquery(), chunk)
    closed = sa.select(a.id).where(a.closed_at.is_not(None), a.closed_at < before).limit(chunk).scalar_subquery()
    announcements = _delete_ids(engine, ANNOUNCEMENTS, closed, chunk)
    incidents = _delete_ids(engine, INCIDENTS, old.limit(chunk).scalar_subquery(), chunk)
    return updates, incidents, announcements


def _prune_changes(engine: Engine, before: datetime, chunk: int) -> int:
    c = CHANGES.c
    seeds = sa.select(sa.func.max(c.id)).where(c.at < before).group_by(c.component)
    ids = sa.select(c.id).where(c.at < before, c.id.not_in(seeds)).limit(chunk).scalar_subquery()
    return _delete_ids(engine, CHANGES, ids, chunk)


# space ---------------------------------------------------------------------------------------
def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def auto_vacuum_mode(engine: Engine) -> int | None:
    """SQLite's auto_vacuum (0 none, 1 full, 2 incremental); None on other engines."""
    if not is_sqlite(engine):
        return None
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA auto_vacuum").scalar_one())


def ensure_incremental_vacuum(engine: Engine) -> float | None:
    """Switch a SQLite database to auto_vacuum=INCREMENTAL; returns the seconds the one-time
    VACUUM took, or None when nothing had to be done (not SQLite, already incremental)."""
    mode = auto_vacuum_mode(engine)
    if mode is None or mode == 2:
        return None
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("PRAGMA auto_vacuum=INCREMENTAL")
        conn.exec_driver_sql("VACUUM")
    return time.perf_counter() - t0


def reclaim(engine: Engine) -> int:
    """Give free pages back to the file system (SQLite, auto_vacuum=INCREMENTAL); returns
    the pages freed. A no-op elsewhere."""
    if not is_sqlite(engine):
        return 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar_one())
        if free:
            # The pragma frees one page per step, and the sqlite3 module steps a statement
            # without result columns once: executescript runs it to the end.
            conn.connection.driver_connection.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]
        return free - int(conn.exec_driver_sql("PRAGMA freelist_count").scalar_one())


def database_bytes(engine: Engine) -> int:
    """The database's size: page_count x page_size on SQLite, pg_database_size on PostgreSQL."""
    with engine.connect() as conn:
        if is_sqlite(engine):
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
            return pages * int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
        return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
