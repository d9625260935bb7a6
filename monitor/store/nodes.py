"""Nodes: `monitor_node`, one row per invoicewatch process sharing this database (a probe node
per location, the controllers, or the one `all` node), and the numbering of each node's results.

Why each node numbers its own results: the deciding leader must read every node's results
once, soon after they are committed, and an id drawn from one shared sequence cannot promise
that on PostgreSQL: a row whose id was drawn first may commit after a newer one, and a cursor
by id passes it by for good. So a node's write transaction takes the next numbers of its own
row (`allocate`: `seq = seq + n`, RETURNING). That row stays locked until the transaction
ends, so the node's next batch waits for it: one node's batches commit strictly in the order
of their numbers (two processes misconfigured under one name included), and a reader that
sees `seq = s` on the node's row sees every result of that node numbered up to s. The reader
keeps one cursor per node (monitor.store.intake). The same transaction sends a NOTIFY on
PostgreSQL, which the server delivers only once it has committed.

A node registers at start, reports on its own clock every few seconds (`beat`) and says
goodbye at a clean stop, so `status` tells a node that stopped from one that went silent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Integer, String
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from monitor.core.aio import wait_event
from monitor.core.clock import Clock
from monitor.store import readout
from monitor.store.engine import describe, is_postgres, upsert
from monitor.store.readout import NodeInfo as NodeInfo  # what a node says when it registers
from monitor.store.types import UTCDateTime

log = logging.getLogger(__name__)

# The NOTIFY channel of this schema's result writes: computed by the server on both sides, so
# the writer needs no extra round trip and two installations sharing one database (one schema
# each) do not wake each other.
CHANNEL_SQL = "'invoicewatch_' || substr(md5(current_schema()), 1, 16)"


class NodeRow(SQLModel, table=True):
    """One process sharing the database: what it is, where it probes from, when it last
    reported (`seen_at`, on its own clock), and the last number of its result sequence."""

    __tablename__ = "monitor_node"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    role: str = Field(default="", sa_column=Column(String(16), nullable=False, server_default=""))
    location: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    host: str = Field(default="", sa_column=Column(String(120), nullable=False, server_default=""))
    pid: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    version: str = Field(default="", sa_column=Column(String(32), nullable=False, server_default=""))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    seen_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    stopped_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    results: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    last_result_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


NODES: sa.Table = NodeRow.__table__  # type: ignore[attr-defined]


def register(engine: Engine, info: NodeInfo, now: datetime) -> dict[str, Any] | None:
    """Insert or refresh this node's row (its sequence is kept); returns the row as it was
    (None when new), so the caller can warn about a second live process under one name."""
    values = {"role": info.role, "location": info.location, "host": info.host[:120], "pid": info.pid,
              "version": info.version[:32], "started_at": now, "seen_at": now, "stopped_at": None}
    with engine.begin() as conn:
        before = conn.execute(sa.select(NODES).where(NODES.c.name == info.name)).first()
        stmt = upsert(conn, NODES).values(name=info.name, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))
    return None if before is None else dict(before._mapping)


def beat(engine: Engine, name: str, now: datetime) -> None:
    """This node is alive and reporting (its clock's now)."""
    with engine.begin() as conn:
        conn.execute(sa.update(NODES).where(NODES.c.name == name).values(seen_at=now, stopped_at=None))


def goodbye(engine: Engine, name: str, now: datetime) -> None:
    """A clean stop: the node is not silent, it left."""
    with engine.begin() as conn:
        conn.execute(sa.update(NODES).where(NODES.c.name == name).values(seen_at=now, stopped_at=now))


def allocate(conn: sa.Connection, node: str, count: int, newest: datetime | None) -> int:
    """Take the next `count` numbers of `node`'s sequence inside the caller's write
    transaction and return the first (a node never registered gets a bare row). The row
    stays locked until that transaction ends, which is what orders the node's commits."""
    stmt = upsert(conn, NODES).values(name=node, seq=count, results=count, last_result_at=newest)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={
            "seq": NODES.c.seq + stmt.excluded.seq,
            "results": NODES.c.results + stmt.excluded.results,
            "last_result_at": sa.case(
                (NODES.c.last_result_at.is_(None) | (stmt.excluded.last_result_at > NODES.c.last_result_at),
                 stmt.excluded.last_result_at),
                else_=NODES.c.last_result_at,
            ),
        },
    ).returning(NODES.c.seq)
    last = int(conn.execute(stmt).scalar_one())
    return last - count + 1


def notify(conn: sa.Connection, node: str, last: int) -> None:
    """Tell listeners (the controllers) that `node` wrote up to `last`; PostgreSQL delivers it
    when the caller's transaction commits, never before the rows are visible. No-op on SQLite."""
    if is_postgres(conn):
        conn.execute(sa.text(f"SELECT pg_notify({CHANNEL_SQL}, :payload)"), {"payload": f"{node}:{last}"})


def listing(conn: sa.Connection) -> list[readout.NodeRecord]:
    """Every node, by name (as `status` reads them: monitor.store.readout)."""
    return readout.nodes(conn)


def heads(nodes: Sequence[readout.NodeRecord]) -> dict[str, int]:
    """The last committed number of each node's sequence."""
    return {n.name: int(n.seq) for n in nodes}


class NodePresence:
    """This node's row: registered at start, reported every `every` seconds on the injected
    clock (whatever the node is doing: a probe node with only 15-minute checks still
    reports), a goodbye at a clean stop. A database that cannot be reached is retried at the
    next report; silence is what the leader makes of it."""

    def __init__(self, engine: Engine, info: NodeInfo, *, clock: Clock, every: float, silent_after: timedelta) -> None:
        self.engine = engine
        self.info = info
        self.clock = clock
        self.every = every
        self.silent_after = silent_after
        self.reports = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        now = self.clock.now()
        before = await asyncio.to_thread(register, self.engine, self.info, now)
        if before is not None and before.get("stopped_at") is None and before.get("seen_at") is not None \
                and now - before["seen_at"] < self.silent_after \
                and (before.get("host"), before.get("pid")) != (self.info.host[:120], self.info.pid):
            log.warning("node %r reported from %s (pid %s) %.0f s ago and did not stop: two processes share one "
                        "node name (give each its own monitor.node)", self.info.name, before.get("host"),
                        before.get("pid"), (now - before["seen_at"]).total_seconds())
        self._task = asyncio.create_task(self._loop(), name="node-presence")

    async def _loop(self) -> None:
        while not await wait_event(self._stop, self.every):
            try:
                await asyncio.to_thread(beat, self.engine, self.info.name, self.clock.now())
                self.reports += 1
            except Exception as exc:  # the database may be away; the next report tries again
                log.debug("node report failed: %s", describe(exc) if isinstance(exc, sa.exc.SQLAlchemyError) else exc)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.to_thread(goodbye, self.engine, self.info.name, self.clock.now())
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            log.warning("could not record this node's stop: %s", exc)
