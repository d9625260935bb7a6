"""The canary ledger: every canary invoice we asked for, until it is voided or red-flushed.

Why durable: a crash between "issue" and "void" would otherwise leave a real tax document
behind. A row is written *before* the submit (with our own order number, which the platform
accepts only once), filled in as the canary progresses, and closed when cleanup succeeds.
At start (and before each new canary) every open row of the platform is cleaned up.
The same rows count canaries per day, so the daily cap survives restarts.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel, select

from monitor.store.types import UTCDateTime

OPEN_STATES = ("submitting", "pending", "issued")
CLOSED_STATES = ("cleaned", "nothing")  # nothing: the platform never made an invoice


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


class CanaryLedger:
    """Synchronous SQL in worker threads; the schema is migrated once, lazily.

    `invoicewatch check` runs a single check without `Monitor.start`, so the ledger makes
    sure its table exists itself (an Alembic upgrade to heads is idempotent).
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self._store: Any = None
        self._ready = asyncio.Lock()

    async def _engine(self) -> sa.Engine:
        async with self._ready:
            if self._store is None:
                from monitor.store import Store

                store = Store(self.database)
                await asyncio.to_thread(store.migrate)
                self._store = store
        return self._store.engine  # type: ignore[no-any-return]

    async def prepare(self) -> None:
        """Open the database and make sure the table exists (done lazily otherwise)."""
        await self._engine()

    async def open(self, platform: str, check: str, order_no: str, variables: dict[str, Any], now: datetime) -> int:
        engine = await self._engine()

        def write() -> int:
            with engine.begin() as conn:
                row = conn.execute(
                    sa.insert(CanaryRow.__table__).values(  # type: ignore[attr-defined]
                        platform=platform, check=check, order_no=order_no, state="submitting",
                        created_at=now, updated_at=now, attempts=0, variables=variables,
                    )
                )
                key = row.inserted_primary_key
                assert key is not None
                return int(key[0])

        return await asyncio.to_thread(write)

    async def update(self, row_id: int, now: datetime, **values: Any) -> None:
        engine = await self._engine()
        table = CanaryRow.__table__  # type: ignore[attr-defined]

        def write() -> None:
            with engine.begin() as conn:
                conn.execute(sa.update(table).where(table.c.id == row_id).values(updated_at=now, **values))

        await asyncio.to_thread(write)

    async def unfinished(self, platform: str) -> list[CanaryRow]:
        engine = await self._engine()

        def read() -> list[CanaryRow]:
            from sqlmodel import Session

            with Session(engine) as s:
                stmt = select(CanaryRow).where(CanaryRow.platform == platform, CanaryRow.state.in_(OPEN_STATES))  # type: ignore[attr-defined]
                return list(s.exec(stmt.order_by(CanaryRow.id)))  # type: ignore[arg-type]

        return await asyncio.to_thread(read)

    async def count_since(self, platform: str, check: str, since: datetime) -> int:
        engine = await self._engine()
        table = CanaryRow.__table__  # type: ignore[attr-defined]

        def read() -> int:
            with engine.connect() as conn:
                stmt = sa.select(sa.func.count()).select_from(table).where(
                    table.c.platform == platform, table.c.check == check, table.c.created_at >= since
                )
                return int(conn.execute(stmt).scalar_one())

        return await asyncio.to_thread(read)

    async def close(self) -> None:
        if self._store is not None:
            await asyncio.to_thread(self._store.close)
            self._store = None
