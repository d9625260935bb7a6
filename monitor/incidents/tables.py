"""Tables of deciding: incidents and their timeline, component status and its
history, maintenance windows, silences, SLO status. Alembic branch "incidents".

Everything an incident needs to resume after a restart is here: the engine reloads open
incidents from these rows on every pass, so nothing about an incident lives only in memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from monitor.store.types import UTCDateTime


class Incident(SQLModel, table=True):
    """One outage of one component (or of our own network), from detection to resolution.

    `data` keeps what the engine needs to carry on (member checks, symptoms folded in,
    recovery time, whether on-call was told) and the evidence (failed check and step,
    envelope code and message, HTTP status, timings, last results).
    """

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_component_resolved", "component", "resolved_at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    component: str = Field(sa_column=Column(String(64), nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    impact: str = Field(sa_column=Column(String(16), nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detected_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    acked_by: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    root_check: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    public: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))

    @property
    def time_to_detect_s(self) -> float:
        return (self.detected_at - self.started_at).total_seconds()

    @property
    def time_to_resolve_s(self) -> float | None:
        return (self.resolved_at - self.started_at).total_seconds() if self.resolved_at else None


class IncidentUpdate(SQLModel, table=True):
    """One timeline entry: automatic (evidence of what changed) or manual (who said what)."""

    __tablename__ = "incident_update"
    __table_args__ = (Index("ix_incident_update_incident", "incident_id", "at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incident.id"), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # auto | manual
    message: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    author: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class ComponentStatus(SQLModel, table=True):
    """The current status of each component, in Statuspage's vocabulary."""

    __tablename__ = "component_status"

    component: str = Field(sa_column=Column(String(64), primary_key=True))
    status: str = Field(sa_column=Column(String(32), nullable=False))
    since: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ComponentStatusChange(SQLModel, table=True):
    """One row per component transition: the history uptime is computed from."""

    __tablename__ = "component_status_change"
    __table_args__ = (Index("ix_component_status_change_component_at", "component", "at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    component: str = Field(sa_column=Column(String(64), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(sa_column=Column(String(32), nullable=False))


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
