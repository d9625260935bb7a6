"""The canary ledger: the `platform_canary` table (every canary invoice we asked for, until it
is voided or red-flushed) and every query on it.

Why durable: a crash between "issue" and "void" would otherwise leave a real tax document
behind. A row is written *before* the submit (with our own order number, which the platform
accepts only once), filled in as the canary progresses, and closed when cleanup succeeds.
The same rows count canaries per day, so the daily cap survives restarts.

Checks reach it only through `ctx.services` as `checks.platform.ledger.CanaryLedger` (a
Protocol); `SqlCanaryLedger` is the implementation the composition root puts there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, Integer, String, Text
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from monitor.store.database import Store
from monitor.store.types import UTCDateTime

# The `state` column: a canary is open (something may exist on the platform) until cleaned.
OPEN_STATES = ("submitting", "pending", "issued")
CLOSED_STATES = ("cleaned", "nothing")  # nothing: the platform never made an invoice
T = TypeVar("T")


class CanaryRow(SQLModel, table=True):
    __tablename__ = "platform_canary"
    __table_args__ = (
        Index("ix_platform_canary_open", "platform", "state"),
        Index("ix_platform_canary_day", "platform", "check", "created_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    platform: str = Field(sa_column=Column(String(120), nullable=False))
    check: str = Field(sa_column=Column(String(120), nullable=False))
    order_no: str = Field(sa_column=Column(String(64), nullable=False))
    serial: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    number: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    cleaned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    variables: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


CANARIES: sa.Table = CanaryRow.__table__  # type: ignore[attr-defined]


# the queries ---------------------------------------------------------------------------------
def open_canary(engine: Engine, platform: str, check: str, order_no: str, variables: dict[str, Any], now: datetime) -> int:
    """Record a canary about to be submitted (state "submitting"); returns its row id."""
    with engine.begin() as conn:
        key = conn.execute(
            sa.insert(CANARIES).values(
                platform=platform, check=check, order_no=order_no, state="submitting",
                created_at=now, updated_at=now, attempts=0, variables=variables,
            )
        ).inserted_primary_key
    assert key is not None
    return int(key[0])


def update_canary(engine: Engine, row_id: int, now: datetime, **values: Any) -> None:
    """Set columns of one canary (serial, number, state, cleaned_at, attempts, last_error)."""
    with engine.begin() as conn:
        conn.execute(sa.update(CANARIES).where(CANARIES.c.id == row_id).values(updated_at=now, **values))


def unfinished(engine: Engine, platform: str) -> list[CanaryRow]:
    """The platform's canaries still open, oldest first."""
    stmt = select(CanaryRow).where(CANARIES.c.platform == platform, CANARIES.c.state.in_(OPEN_STATES))
    with Session(engine) as s:
        return list(s.exec(stmt.order_by(CANARIES.c.id)))


def count_since(engine: Engine, platform: str, check: str, since: datetime) -> int:
    """Canaries a check asked for since `since` (open or not): the daily cap."""
    stmt = sa.select(sa.func.count()).select_from(CANARIES).where(
        CANARIES.c.platform == platform, CANARIES.c.check == check, CANARIES.c.created_at >= since
    )
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


# what checks get through ctx.services ------------------------------------------------------
class SqlCanaryLedger:
    """The ledger in the monitor's database: the queries above, run in worker threads.

    The schema is migrated once, lazily: `invoicewatch check` runs a single check without
    starting the monitor, so the ledger makes sure its table exists itself (migrating an
    up-to-date database changes nothing).
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self._store: Store | None = None
        self._ready = asyncio.Lock()

    async def _engine(self) -> Engine:
        async with self._ready:
            if self._store is None:
                store = Store(self.database)
                await asyncio.to_thread(store.migrate)
                self._store = store
        return self._store.engine

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        engine = await self._engine()
        return await asyncio.to_thread(fn, engine, *args, **kwargs)

    async def prepare(self) -> None:
        """Open the database and make sure the table exists (done lazily otherwise)."""
        await self._engine()

    async def open(self, platform: str, check: str, order_no: str, variables: dict[str, Any], now: datetime) -> int:
        return await self._run(open_canary, platform, check, order_no, variables, now)

    async def update(self, row_id: int, now: datetime, **values: Any) -> None:
        await self._run(update_canary, row_id, now, **values)

    async def unfinished(self, platform: str) -> list[CanaryRow]:
        return await self._run(unfinished, platform)

    async def count_since(self, platform: str, check: str, since: datetime) -> int:
        return await self._run(count_since, platform, check, since)

    async def close(self) -> None:
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
            self._store = None
