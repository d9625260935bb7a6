"""Who decides and sends: one elected controller at a time on PostgreSQL, with standbys.

    Leader        what the deciding and sending services ask: `is_leader` now, and `fence`
                  inside every transaction that matters (it refuses a deposed node's write)
    SOLE          the one process on SQLite: always the leader, nothing to fence
    NEVER         a probe node: never the leader
    Leadership    the election on PostgreSQL

The election holds a session advisory lock on a dedicated connection, and a term number in
the `controller_lease` row as the fencing token. Why both:

* The lock is what makes takeover fast and race-free. It belongs to the connection: when the
  leader's process dies (SIGKILL included) or its connection is cut (`pg_terminate_backend`,
  a restarted server), PostgreSQL releases it at once, and exactly one standby's
  `pg_try_advisory_lock` wins it. A leader that is alive but silent (a hung process, a
  network split the server has not noticed yet) keeps it, so the leader renews the row every
  lease/5 and a standby that finds it unrenewed for a lease terminates the holder's backend.
* The term orders the writes. A new leader first takes the row `FOR UPDATE` and bumps the
  term; every transaction that matters (a deciding tick, an outbox claim) reads the row
  `FOR KEY SHARE` and goes on only if the term is still its own. So the old leader's last
  transaction either commits before the new term exists (the bump waits for it) or sees the
  new term and is refused. Renewals change no key column, so they never wait for those
  readers, nor the readers for them.

A deposed leader stops acting before the new one starts, also for what no database can
fence (a message handed to a webhook): the leader counts its lease from the moment it *sent*
its last successful renewal and stops acting `lease - lease/5` after it; the new leader,
having bumped the term, waits until the old renewal is a whole lease old on the database's
clock before it acts. A leader that lost its connection stands back for one lease before it
competes again, so a standby that saw the same outage takes over instead of the connection
flapping leadership back and forth. At a clean stop the leader marks its lease expired, so a
standby starts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import socket
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Integer, String
from sqlmodel import Field, SQLModel

from monitor.core.aio import cancel
from monitor.core.errors import Deposed
from monitor.store import readout
from monitor.store.engine import is_postgres, libpq_params
from monitor.store.types import UTCDateTime

# The PostgreSQL driver is an extra (`pip install invoicewatch[postgres]`); SQLite needs none.
# It is imported where a PostgreSQL connection is made: a store on SQLite (and every command
# that reads one) never pays its ~0.2 s.
HAVE_PSYCOPG = importlib.util.find_spec("psycopg") is not None

log = logging.getLogger(__name__)

NAME = readout.LEASE_NAME
LOCK_CLASS = 0x1AC0  # first key of the two-key advisory lock; the second is the schema's
_NOW = "timezone('UTC', clock_timestamp())"  # naive UTC, like every time column of the store


class LeaseRow(SQLModel, table=True):
    """The elected controller: its term (the fencing token), who holds it, and when it last
    renewed (database clock)."""

    __tablename__ = "controller_lease"

    name: str = Field(sa_column=Column(String(32), primary_key=True))
    term: int = Field(sa_column=Column(BigInteger, nullable=False))
    holder: str = Field(sa_column=Column(String(200), nullable=False))
    holder_pid: int = Field(sa_column=Column(Integer, nullable=False))  # backend pid of its lock connection
    acquired_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    renewed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


LEASES: sa.Table = LeaseRow.__table__  # type: ignore[attr-defined]


class Leader(Protocol):
    """What the services that decide and send ask of leadership."""

    @property
    def is_leader(self) -> bool: ...

    def fence(self, conn: sa.Connection) -> None: ...


class _Sole:
    """SQLite: one process probes, decides and sends; it is always the leader."""

    is_leader = True

    def fence(self, conn: sa.Connection) -> None:
        return None


class _Never:
    """A probe node: it never decides nor sends."""

    is_leader = False

    def fence(self, conn: sa.Connection) -> None:
        raise Deposed("a probe node does not decide")


SOLE: Leader = _Sole()
NEVER: Leader = _Never()


def check_term(conn: sa.Connection, term: int) -> None:
    """Refuse (Deposed) unless `term` is the current one. FOR KEY SHARE: a successor's term
    bump (FOR UPDATE) waits until the caller's transaction ends."""
    if not is_postgres(conn):
        return
    found = conn.execute(
        sa.select(LEASES.c.term).where(LEASES.c.name == NAME).with_for_update(key_share=True)
    ).scalar()
    if found != term:
        raise Deposed(f"term {term} is over (the current term is {found})")


class Leadership:
    """The election on PostgreSQL (see the module docstring). `on_change(leading)` is called
    in the event loop when this node starts or stops acting as the leader."""

    def __init__(
        self, url: str, node: str, *, lease: float, on_change: Callable[[bool], None] | None = None,
        application_name: str | None = None,
    ) -> None:
        self.url = url
        self.node = node
        self.lease = lease
        self.poll = lease / 5
        self.holder = f"{node} {socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.on_change = on_change
        self.application_name = application_name or f"invoicewatch {node} leadership"
        self.term: int | None = None
        self.terms_won = 0
        self.last_error: str | None = None
        self._valid_until = 0.0  # monotonic: stop acting at this moment without a renewal
        self._acting_from = 0.0  # monotonic: the predecessor's lease has run out by then
        self._standing_back_until = 0.0
        self._leading = False  # what on_change was last told
        self._conn: Any = None
        self._key: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._no_terminate = False
        self._fenced_out: str | None = None

    # what the services ask ---------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        now = time.monotonic()
        return self.term is not None and self._acting_from <= now < self._valid_until

    def fence(self, conn: sa.Connection) -> None:
        """Inside a transaction that matters: go on only as the current term's leader."""
        term = self.term
        if term is None or not self.is_leader:
            raise Deposed(f"{self.node} is not the leader")
        try:
            check_term(conn, term)
        except Deposed as exc:
            self._fenced_out = str(exc)
            self._valid_until = 0.0  # stop acting now; the loop steps down at its next turn
            raise

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """One attempt now (a lone controller leads from its first tick), then the loop."""
        if not HAVE_PSYCOPG:
            raise RuntimeError("leadership on PostgreSQL needs psycopg: pip install 'invoicewatch[postgres]'")
        await self._turn()
        self._task = asyncio.create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        """Stop competing; as the leader, end the lease so a standby starts at once. Call it
        after the services that act as the leader have stopped."""
        await cancel(self._task)
        self._task = None
        term, conn = self.term, self._conn
        self._set_leading(False)
        self.term = None
        if term is not None and conn is not None:
            try:
                await asyncio.wait_for(self._release(conn, term), timeout=self.poll * 2)
            except Exception as exc:
                log.warning("could not end the lease of term %d (%s); a standby waits it out", term, type(exc).__name__)
        await self._close()

    # the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._pause())
            await self._turn()

    def _pause(self) -> float:
        now = time.monotonic()
        if self.term is not None:
            waiting = self._acting_from - now
            return min(self.poll, waiting) if waiting > 0 else self.poll
        return max(self.poll, self._standing_back_until - now)

    async def _turn(self) -> None:
        """Renew as the leader, or try to become it; any trouble with the connection ends
        leadership at once (the lease would end it anyway)."""
        before = self.last_error
        try:
            if self.term is not None and time.monotonic() >= self._valid_until:
                raise Deposed(self._fenced_out or "the lease ran out without a renewal")
            conn = await self._connection()
            if self.term is not None:
                await asyncio.wait_for(self._renew(conn), timeout=max(0.1, self._valid_until - time.monotonic()))
            elif time.monotonic() >= self._standing_back_until:
                # The server gives up first (statement_timeout): a successor waiting for a
                # deposed leader's long transaction rolls back cleanly and tries again.
                await asyncio.wait_for(self._try_acquire(conn), timeout=2 * self.lease)
            self.last_error = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # psycopg.Error, OSError, TimeoutError, Deposed
            self.last_error = f"{type(exc).__name__}: {exc}".strip()
            lost = self.term is not None
            if lost:
                log.warning("leadership lost (term %s): %s", self.term, self.last_error,
                            extra={"event": "leadership.lost", "fields": {"node": self.node, "term": self.term}})
                self._standing_back_until = time.monotonic() + self.lease
            elif before is None:
                log.warning("leadership: cannot reach the database (%s); retrying every %.1f s", self.last_error, self.poll)
            self.term = None
            self._fenced_out = None
            self._set_leading(False)
            await self._close()
            return
        self._set_leading(self.is_leader)

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        if leading:
            log.info("leading as term %d (%s)", self.term, self.node,
                     extra={"event": "leadership.won", "fields": {"node": self.node, "term": self.term}})
        if self.on_change is not None:
            try:
                self.on_change(leading)
            except Exception:
                log.exception("a leadership callback failed")

    # SQL on the dedicated connection -----------------------------------------------------
    async def _connection(self) -> Any:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        import psycopg  # lazy: see HAVE_PSYCOPG

        beat = max(1, round(self.poll))
        params = libpq_params(self.url, self.application_name)
        conn = await psycopg.AsyncConnection.connect(
            autocommit=True, connect_timeout=max(2, round(self.lease / 2)),
            keepalives=1, keepalives_idle=beat, keepalives_interval=beat, keepalives_count=3,
            tcp_user_timeout=int(self.lease * 1000), **params,
        )
        # The server's side of the same: a client that vanished without a word (power, a
        # split) loses its backend, and with it the lock, within about a lease.
        # And no statement of ours waits longer than a lease (a lock wait included).
        for setting, value in (("tcp_keepalives_idle", beat), ("tcp_keepalives_interval", beat),
                               ("tcp_keepalives_count", 3), ("tcp_user_timeout", int(self.lease * 1000)),
                               ("statement_timeout", int(self.lease * 1000))):
            await conn.execute(f"SET {setting} = {int(value)}")
        schema = (await (await conn.execute("SELECT current_schema()")).fetchone() or [""])[0]
        self._key = zlib.crc32(str(schema).encode()) & 0x7FFFFFFF
        self._conn = conn
        return conn

    async def _try_acquire(self, conn: Any) -> None:
        import psycopg  # lazy: see HAVE_PSYCOPG (loaded by _connection already)

        got = (await (await conn.execute("SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (LOCK_CLASS, self._key))).fetchone())[0]
        if not got:
            if await self._depose_silent(conn):
                got = await self._retry_lock(conn)
            if not got:
                return
        try:
            term, wait, sent = await self._bump(conn)
        except psycopg.errors.QueryCanceled:  # statement_timeout: the old term's writer is slow
            log.info("holding the lock; the deposed leader's last transaction is still running")
            return
        self.term = term + 1
        self.terms_won += 1
        self._valid_until = sent + self.lease - self.poll
        self._acting_from = time.monotonic() + max(0.0, wait)
        if wait > 0:
            log.info("won term %d; acting in %.1f s, once term %d's lease has run out", self.term, float(wait), term)

    async def _bump(self, conn: Any) -> tuple[int, float, float]:
        """Take the next term; returns the old one, how long its lease still runs, and when
        (monotonic) the new lease was sent to start: our lease is counted from there."""
        async with conn.transaction():
            await conn.execute(
                f"INSERT INTO controller_lease (name, term, holder, holder_pid, acquired_at, renewed_at) "
                f"VALUES (%s, 0, '', 0, {_NOW}, {_NOW} - interval '1 day') ON CONFLICT (name) DO NOTHING", (NAME,))
            # FOR UPDATE waits for every transaction still fenced by the old term.
            term, wait = (await (await conn.execute(
                f"SELECT term, EXTRACT(EPOCH FROM renewed_at + make_interval(secs => %s) - {_NOW}) "
                "FROM controller_lease WHERE name = %s FOR UPDATE", (self.lease, NAME))).fetchone())
            sent = time.monotonic()
            await conn.execute(
                f"UPDATE controller_lease SET term = %s, holder = %s, holder_pid = pg_backend_pid(), "
                f"acquired_at = {_NOW}, renewed_at = {_NOW} WHERE name = %s", (int(term) + 1, self.holder, NAME))
        return int(term), float(wait), sent

    async def _retry_lock(self, conn: Any) -> bool:
        """Right after terminating a silent holder: its backend takes a moment to exit."""
        for _ in range(20):
            await asyncio.sleep(0.1)
            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (LOCK_CLASS, self._key))).fetchone()
            if row[0]:
                return True
        return False

    async def _depose_silent(self, conn: Any) -> bool:
        """Terminate the lock holder's backend if it has not renewed for a whole lease (it is
        hung or cut off, and it stopped acting on its own clock by now). Needs the same
        database role as the holder (or pg_signal_backend); without, we wait for the
        server's keepalive to end that connection."""
        import psycopg  # lazy: see HAVE_PSYCOPG (loaded by _connection already)

        if self._no_terminate:
            return False
        try:
            row = await (await conn.execute(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN controller_lease c ON c.holder_pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.classid::int8 = %s AND l.objid::int8 = %s AND l.objsubid = 2 "
                f"AND l.granted AND c.name = %s AND c.renewed_at < {_NOW} - make_interval(secs => %s)",
                (LOCK_CLASS, self._key, NAME, self.lease))).fetchone()
        except psycopg.errors.InsufficientPrivilege:
            self._no_terminate = True
            log.warning("cannot terminate a silent leader's connection (needs the same database role); "
                        "waiting for the server to drop it")
            return False
        if row is not None and row[0]:
            log.warning("the leader stopped renewing its lease; its connection was terminated")
            return True
        return False

    async def _renew(self, conn: Any) -> None:
        sent = time.monotonic()
        row = await (await conn.execute(
            f"UPDATE controller_lease SET renewed_at = {_NOW} "
            "WHERE name = %s AND term = %s AND holder_pid = pg_backend_pid() RETURNING term", (NAME, self.term))).fetchone()
        if row is None:
            raise Deposed(f"term {self.term} is no longer ours")
        self._valid_until = sent + self.lease - self.poll

    async def _release(self, conn: Any, term: int) -> None:
        await conn.execute(
            f"UPDATE controller_lease SET renewed_at = {_NOW} - make_interval(secs => %s) WHERE name = %s AND term = %s",
            (self.lease * 2, NAME, term))
        await conn.execute("SELECT pg_advisory_unlock(%s::int4, %s::int4)", (LOCK_CLASS, self._key))

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await asyncio.wait_for(conn.close(), timeout=2)
        except Exception:
            # An operation cut short may still hold the connection's lock: close the socket
            # itself, so the server ends the backend (and whatever it holds) at once.
            with contextlib.suppress(Exception):
                conn.pgconn.finish()
