"""Tables of the core: raw check results and per-check state.

Later capabilities add their own tables in their own modules (incidents, outbox, ...) and
their own Alembic branch; `monitor.store.metadata()` imports them all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from monitor.store.types import UTCDateTime


class CheckResultRow(SQLModel, table=True):
    """One probe's outcome. ~100-300 bytes a row; pruned after monitor.result_retention."""

    __tablename__ = "check_result"
    __table_args__ = (Index("ix_check_result_check_ts", "check", "ts"), Index("ix_check_result_ts", "ts"))

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    ts: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    check: str = Field(sa_column=Column(String(120), nullable=False))
    location: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    latency_ms: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    message: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    phases: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    values: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class CheckStateRow(SQLModel, table=True):
    """What the monitor currently believes about one check at one location.

    `data` is the evaluator's own state (counters, flapping window, ...), kept as JSON so the
    evaluator can evolve without a migration per counter; the columns beside it are what the
    CLI and the status page read.
    """

    __tablename__ = "check_state"

    check: str = Field(sa_column=Column(String(120), primary_key=True))
    location: str = Field(default="", sa_column=Column(String(64), primary_key=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    since: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_result_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_status: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    last_latency_ms: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    last_message: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
