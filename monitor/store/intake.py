"""What the deciding leader reads of the nodes' results: by each node's own sequence
(monitor.store.nodes explains why that cannot skip a late commit), woken by LISTEN/NOTIFY on
PostgreSQL, with the deciding service's periodic pass as the sweep that catches anything a
lost notification or a reconnect missed.

    intake_cursor   how far the leader had folded each node's results into the check states
                    it saved: a new leader starts from there, so a failover neither skips a
                    node's results nor starts over
    read_new        the results after each cursor, up to the node's committed head
    Listener        one dedicated connection in LISTEN; every notification (and every
                    reconnect, after which some may have been missed) calls `on_notify`
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, Session, SQLModel, select

from monitor.core.aio import cancel
from monitor.core.results import Result
from monitor.store.engine import libpq_params, upsert
from monitor.store.nodes import CHANNEL_SQL
from monitor.store.results import RESULTS, CheckResultRow, result_of

# The PostgreSQL driver is an extra (`pip install invoicewatch[postgres]`); SQLite needs none.
# It is imported where a PostgreSQL connection is made: a store on SQLite (and every command
# that reads one) never pays its ~0.2 s.
HAVE_PSYCOPG = importlib.util.find_spec("psycopg") is not None

log = logging.getLogger(__name__)


class IntakeCursorRow(SQLModel, table=True):
    """The last number of a node's sequence whose result is in the check states saved with it."""

    __tablename__ = "intake_cursor"

    node: str = Field(sa_column=Column(String(64), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))


CURSORS: sa.Table = IntakeCursorRow.__table__  # type: ignore[attr-defined]


def load_cursors(session: Session) -> dict[str, int]:
    return {c.node: int(c.seq) for c in session.exec(select(IntakeCursorRow))}


def save_cursors(session: Session, cursors: Mapping[str, int]) -> None:
    """Upsert the cursors in the caller's transaction (the deciding one: with the states)."""
    if not cursors:
        return
    conn = session.connection()
    stmt = upsert(conn, CURSORS)
    stmt = stmt.on_conflict_do_update(index_elements=["node"], set_={"seq": stmt.excluded.seq})
    conn.execute(stmt, [{"node": n, "seq": s} for n, s in cursors.items()])


def read_new(
    session: Session,
    cursors: Mapping[str, int],
    heads: Mapping[str, int],
    *,
    skip: Collection[str] = (),
    batch: int = 5000,
) -> tuple[dict[str, int], list[Result]]:
    """Each node's results numbered after its cursor and up to its head (read before, so
    committed), oldest first per node, at most `batch` per node. Returns the moved cursors
    (nodes without one start from their first result) and the results."""
    moved = dict(cursors)
    out: list[Result] = []
    for node, head in sorted(heads.items()):
        after = cursors.get(node, 0)
        if node in skip or head <= after:
            continue
        stmt = (
            select(CheckResultRow)
            .where(RESULTS.c.node == node, RESULTS.c.seq > after, RESULTS.c.seq <= head)
            .order_by(RESULTS.c.seq)
            .limit(batch)
        )
        rows = list(session.exec(stmt))
        # Fewer than a batch: everything up to the head was there (numbers of refused rows
        # are gaps), so the cursor may jump to the head.
        moved[node] = int(rows[-1].seq or head) if len(rows) == batch else head
        out.extend(result_of(r) for r in rows)
    return moved, out


class Listener:
    """LISTEN for result writes on a dedicated connection; `on_notify()` for each one, and
    once after every (re)connect, since notifications sent while we were away are lost.

    Reconnects with a backoff (1 s doubling to 30 s) and never raises out of its task."""

    def __init__(self, url: str, on_notify: Callable[[], None], *, application_name: str = "invoicewatch listen") -> None:
        self.url = url
        self.on_notify = on_notify
        self.application_name = application_name
        self.received = 0
        self.connected = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not HAVE_PSYCOPG:
            log.warning("psycopg is not installed: no LISTEN; results are read by the periodic sweep only")
            return
        self._task = asyncio.create_task(self._run(), name="results-listener")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the listener must outlive any database trouble
                if self.connected:
                    log.warning("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            else:
                backoff = 1.0

    async def _listen(self) -> None:
        import psycopg  # lazy: see HAVE_PSYCOPG

        params: dict[str, Any] = libpq_params(self.url, self.application_name)
        conn = await psycopg.AsyncConnection.connect(autocommit=True, connect_timeout=10, **params)
        try:
            channel = (await (await conn.execute(f"SELECT {CHANNEL_SQL}")).fetchone() or [""])[0]
            await conn.execute(f'LISTEN "{channel}"')
            self.connected = True
            self.on_notify()  # whatever was written while we were not listening
            async for _ in conn.notifies():
                self.received += 1
                self.on_notify()
        finally:
            self.connected = False
            await conn.close()
