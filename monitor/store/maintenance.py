"""Holds on alerts: `maintenance_window` and `silence`, and every query on them.

Rows only: what a window covers at a moment (recurrence, time zones) is the rulebook's
arithmetic (`monitor.rulebook.maintenance`) over these rows, and which windows the config
asks for is `monitor.incidents.maintenance`'s to decide. Functions work in the caller's
session and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, Integer, String, Text
from sqlmodel import Field, Session, SQLModel, select

from monitor.store.readout import silence_in_force
from monitor.store.types import UTCDateTime


class MaintenanceWindow(SQLModel, table=True):
    """A planned window. One-off: starts_at..ends_at. Recurring: `recurrence` (5-field
    crontab, 0 = Sunday) gives each occurrence's start in `timezone`, each lasting
    `duration_s`, between starts_at and ends_at (NULL: no end). `ended_at` ends it early
    (a one-off) or stops the series (a recurring one). Config windows are mirrored here with
    source "config" and a stable `config_key`."""

    __tablename__ = "maintenance_window"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    title: str = Field(sa_column=Column(Text, nullable=False))
    title_i18n: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    components: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    recurrence: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    duration_s: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    timezone: str = Field(default="UTC", sa_column=Column(String(64), nullable=False, server_default="UTC"))
    created_by: str = Field(default="", sa_column=Column(String(120), nullable=False, server_default=""))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    source: str = Field(default="cli", sa_column=Column(String(16), nullable=False, server_default="cli"))
    config_key: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, unique=True))


class Silence(SQLModel, table=True):
    """Alerts held for a check or a component until `ends_at`; the page is not changed."""

    __tablename__ = "silence"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    target: str = Field(sa_column=Column(String(120), nullable=False))
    target_kind: str = Field(sa_column=Column(String(16), nullable=False))  # check | component
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_by: str = Field(sa_column=Column(String(120), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


WINDOWS: sa.Table = MaintenanceWindow.__table__  # type: ignore[attr-defined]
SILENCES: sa.Table = Silence.__table__  # type: ignore[attr-defined]


# maintenance windows -------------------------------------------------------------------------
def all_windows(session: Session) -> list[MaintenanceWindow]:
    """Every window, ended ones too (an SLO leaves out maintenance that is over)."""
    return list(session.exec(select(MaintenanceWindow)))


def current_windows(session: Session) -> list[MaintenanceWindow]:
    """Windows that may still have an occurrence now or later (not ended by hand)."""
    return list(session.exec(select(MaintenanceWindow).where(WINDOWS.c.ended_at.is_(None))))


def config_windows(session: Session) -> dict[str, MaintenanceWindow]:
    """The mirrored config windows by their config_key."""
    rows = session.exec(select(MaintenanceWindow).where(WINDOWS.c.source == "config"))
    return {str(r.config_key): r for r in rows}


def add_window(session: Session, row: MaintenanceWindow) -> MaintenanceWindow:
    """Insert a window; after this its `id` is known."""
    session.add(row)
    session.flush()
    return row


def delete_windows(session: Session, rows: Iterable[MaintenanceWindow]) -> None:
    for row in rows:
        session.delete(row)
    session.flush()


def end_window(session: Session, window_id: int, now: datetime) -> MaintenanceWindow | None:
    """End a window now (a one-off early; a recurring one for good). None if unknown."""
    row = session.get(MaintenanceWindow, window_id)
    if row is None:
        return None
    if row.ended_at is None:
        row.ended_at = now
        session.add(row)
    return row


# silences --------------------------------------------------------------------------------------
def add_silence(session: Session, row: Silence) -> Silence:
    """Insert a silence; after this its `id` is known."""
    session.add(row)
    session.flush()
    return row


def active_silences(session: Session, now: datetime) -> list[Silence]:
    stmt = select(Silence).where(silence_in_force(SILENCES.c, now))
    return list(session.exec(stmt.order_by(SILENCES.c.id)))


def end_silence(session: Session, silence_id: int, now: datetime) -> Silence | None:
    """End a silence now; None if unknown (one already ended is returned as it is)."""
    row = session.get(Silence, silence_id)
    if row is not None and row.ended_at is None:
        row.ended_at = now
        session.add(row)
    return row
