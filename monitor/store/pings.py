"""Heartbeat pings: the `heartbeat_ping` table. A job's `/push/<token>` (monitor/server.py)
inserts one row here and does nothing else; the `heartbeat` check reads the newest pings of
its check through ctx (`ctx.services["pings"]`, a `SqlPingLedger`), never the store itself.

Kept in the database so a restart neither forgets a ping (the check would go down for no
reason) nor invents one; pruned after `monitor.retention.pings`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Column, Index, Integer, String
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from monitor.core.errors import StoreError
from monitor.store.engine import describe, make_engine
from monitor.store.types import UTCDateTime

KINDS = ("success", "fail", "start")


class PingRow(SQLModel, table=True):
    __tablename__ = "heartbeat_ping"
    __table_args__ = (Index("ix_heartbeat_ping_check_at", "check", "at"), Index("ix_heartbeat_ping_at", "at"))

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    check: str = Field(sa_column=Column(String(120), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(sa_column=Column(String(8), nullable=False))


PINGS: sa.Table = PingRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class LastPings:
    """The newest ping of each kind of one check (None: never)."""

    success: datetime | None = None
    fail: datetime | None = None
    start: datetime | None = None

    @property
    def last(self) -> tuple[str, datetime] | None:
        """The newest success or fail ping, with its kind."""
        found = [(at, kind) for kind, at in (("success", self.success), ("fail", self.fail)) if at is not None]
        if not found:
            return None
        at, kind = max(found)
        return kind, at


def record(engine: Engine, check: str, kind: str, at: datetime) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown ping kind {kind!r}")
    with engine.begin() as conn:
        conn.execute(sa.insert(PINGS), [{"check": check, "at": at, "kind": kind}])


def last_pings(engine: Engine, check: str) -> LastPings:
    c = PINGS.c
    stmt = sa.select(c.kind, sa.func.max(c.at)).where(c.check == check).group_by(c.kind)
    with engine.connect() as conn:
        found = {kind: at for kind, at in conn.execute(stmt)}
    return LastPings(found.get("success"), found.get("fail"), found.get("start"))


def prune(engine: Engine, before: datetime, *, chunk: int = 5000) -> int:
    """Delete pings older than `before`, but never a check's newest of each kind (a weekly
    job's last ping must outlive a shorter retention)."""
    c = PINGS.c
    newest = sa.select(sa.func.max(c.id)).group_by(c.check, c.kind).scalar_subquery()
    total = 0
    while True:
        with engine.begin() as conn:
            ids = sa.select(c.id).where(c.at < before, c.id.not_in(newest)).limit(chunk).scalar_subquery()
            deleted = conn.execute(sa.delete(PINGS).where(c.id.in_(ids))).rowcount or 0
        total += deleted
        if deleted < chunk:
            return total


class SqlPingLedger:
    """What checks and the server get: record a ping, read a check's newest pings. Its own
    small engine (like the canary ledger), SQL in worker threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._watched: dict[str, datetime] = {}

    def watched_since(self, check: str, now: datetime) -> datetime:
        """When this process first asked about `check`: a check never pinged counts from here."""
        return self._watched.setdefault(check, now)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    async def record(self, check: str, kind: str, at: datetime) -> None:
        try:
            await asyncio.to_thread(record, self.engine, check, kind, at)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot record the ping of {check}: {describe(exc)}") from None

    async def last(self, check: str) -> LastPings:
        try:
            return await asyncio.to_thread(last_pings, self.engine, check)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read the pings of {check}: {describe(exc)}") from None

    async def aclose(self) -> None:
        if self._engine is not None:
            await asyncio.to_thread(self._engine.dispose)
            self._engine = None
