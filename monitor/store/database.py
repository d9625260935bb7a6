"""`Store`: one database (SQLite by default, PostgreSQL by URL), its engine, its sessions, its
schema, and the result-store interface the writer, the CLI and the tests use.

Transactions belong to the callers: `session()` hands out a session that commits only when
told, so a deciding pass writes incident, timeline, check states and outbox rows in one
transaction. SQL runs in worker threads (`asyncio.to_thread`) so the event loop never blocks
on the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from monitor.core.results import Result
from monitor.core.secrets import safe_url
from monitor.store import migrate, results, retention, rollups
from monitor.store.engine import describe, open_engine
from monitor.store.results import CheckResultRow, CheckStateRow, EvidenceFilter

log = logging.getLogger(__name__)


class Store:
    """Synchronous store API; async callers use `ResultWriter` or `asyncio.to_thread`."""

    def __init__(self, url: str, *, engine: Engine | None = None, name: str | None = None) -> None:
        """`name` is the node's: its connections carry it as application_name."""
        self.url = url
        self.application_name = f"invoicewatch {name}" if name else "invoicewatch"
        self.engine = engine or open_engine(url, application_name=self.application_name)
        self.evidence = EvidenceFilter()

    # schema -----------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the head of the one Alembic chain (adopting a database made
        by the four-branch releases first; see monitor.store.migrate)."""
        migrate.upgrade(self.engine, self.url)
        try:
            took = retention.ensure_incremental_vacuum(self.engine)
        except SQLAlchemyError as exc:
            # Not a reason to stay down (a full disk refuses the VACUUM's copy): pruning still
            # works, the file just keeps its size until a later start succeeds.
            log.warning("could not switch %s to incremental vacuum (tried again at the next start): %s",
                        safe_url(self.url), describe(exc), extra={"event": "store.vacuum_failed"})
            return
        if took is not None:
            log.info("database switched to auto_vacuum=INCREMENTAL (one VACUUM, %.1f s)", took,
                     extra={"event": "store.vacuumed", "fields": {"seconds": round(took, 1)}})

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # results -----------------------------------------------------------------------------
    def write_results(self, batch: Sequence[Result], *, node: str | None = None) -> list[tuple[Result, str]]:
        """See monitor.store.results.write_batch: all or nothing, refused values set aside;
        numbered in `node`'s sequence when given (how nodes write, so the leader reads them)."""
        return results.write_batch(self.engine, batch, self.evidence, node=node)

    def results(self, check: str | None = None, **filters: Any) -> list[CheckResultRow]:
        """Stored results, newest first; filters as monitor.store.results.query (since,
        until, location, limit, newest_first)."""
        with self.session() as s:
            return results.query(s, check, **filters)

    def count_results(self, check: str | None = None) -> int:
        with self.session() as s:
            return results.count(s, check)

    def prune_results(self, before: datetime, *, chunk: int = 10000) -> int:
        """Delete results older than `before`, in chunks so a big backlog never locks for long."""
        return results.prune(self.engine, before, chunk=chunk)

    # history -----------------------------------------------------------------------------
    def roll_up(self, now: datetime, *, components: Mapping[str, str], tz: tzinfo) -> rollups.RollStats:
        """Roll every closed hour and local day not rolled yet (monitor.store.rollups)."""
        hours = days = count = 0
        upto = None
        while True:
            stats = rollups.roll(self.engine, now, components=components, tz=tz)
            hours, days, count, upto = hours + stats.hours, days + stats.days, count + stats.results, stats.upto
            if stats.hours == 0:
                return rollups.RollStats(hours, days, count, upto)

    def prune_history(self, now: datetime, policy: retention.Policy) -> dict[str, int]:
        """Delete what the policy no longer keeps, then give SQLite's free pages back."""
        deleted = retention.prune_all(self.engine, now, policy)
        deleted["pages_reclaimed"] = retention.reclaim(self.engine)
        return deleted

    # state -------------------------------------------------------------------------------
    def states(self) -> list[CheckStateRow]:
        with self.session() as s:
            return results.states(s)

    def state(self, check: str, location: str = "") -> CheckStateRow | None:
        with self.session() as s:
            return results.state(s, check, location)

    def save_states(self, rows: Iterable[CheckStateRow]) -> None:
        with self.session() as s:
            results.merge_states(s, rows)
            s.commit()
