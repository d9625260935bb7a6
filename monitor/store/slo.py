"""SLO status: the `slo_status` table (the latest figures of each SLO and the burn-rate alert
it is in). The series behind the figures live in memory and are refilled from `check_result`
at start (`monitor.store.rollups.outcomes`); only the outcome is stored, for the CLI and the
page. Written in the deciding transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, Integer, String
from sqlmodel import Field, Session, SQLModel, select

from monitor.store.types import UTCDateTime


class SloStatus(SQLModel, table=True):
    """The latest figures of one SLO, and the burn-rate alert it is in (none|ticket|page)."""

    __tablename__ = "slo_status"

    slo: str = Field(sa_column=Column(String(64), primary_key=True))
    component: str = Field(sa_column=Column(String(64), nullable=False))
    objective: float = Field(sa_column=Column(Float, nullable=False))
    budget_remaining: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    good: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    total: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    burn: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    alert: str = Field(default="none", sa_column=Column(String(16), nullable=False, server_default="none"))
    alert_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def statuses(session: Session) -> dict[str, SloStatus]:
    """Every stored SLO by id."""
    return {row.slo: row for row in session.exec(select(SloStatus))}


def save(session: Session, row: SloStatus) -> None:
    session.add(row)
