"""Tables of the notifiers: the outbox, every delivery attempt, staff announcements.

The outbox is the boundary between deciding and sending: rows are written in the transaction
that changed the incident, and the dispatcher only ever reads them. A row is one message to
one target (one Apprise URL of one channel); `(key, channel, target_index)` is unique, which
is what makes enqueueing idempotent across retries and restarts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

from monitor.store.types import UTCDateTime


class OutboxRow(SQLModel, table=True):
    """One message to one channel target. Status: pending -> sent | failed.

    A dispatcher claims a pending row by setting `claimed_by`/`claimed_until` with a
    compare-and-set UPDATE; another dispatcher may take it over only after the lease ends.
    `group_until` is set when the route groups messages: pending rows of one incident to one
    target created before it go out together as one message.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key", "channel", "target_index", name="uq_outbox_key_target"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_incident", "incident_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    key: str = Field(sa_column=Column(String(200), nullable=False))
    channel: str = Field(sa_column=Column(String(64), nullable=False))
    target_index: int = Field(sa_column=Column(Integer, nullable=False))
    event: str = Field(sa_column=Column(String(64), nullable=False))
    incident_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    component: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    severity: str = Field(default="info", sa_column=Column(String(16), nullable=False, server_default="info"))
    audience: str = Field(sa_column=Column(String(64), nullable=False))
    language: str = Field(sa_column=Column(String(8), nullable=False))
    title: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    body: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    body_format: str = Field(default="text", sa_column=Column(String(16), nullable=False, server_default="text"))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False, server_default="pending"))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    group_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    claimed_by: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class DeliveryAttemptRow(SQLModel, table=True):
    """One try at delivering one outbox row: when, whether it worked, why not, how long.

    Written when the row is claimed, with `ok` NULL while the delivery is in flight, and
    completed with the outcome. A dispatcher that takes over a row whose attempt is still
    NULL (its process died mid-delivery) marks that attempt interrupted: the message may
    have arrived, and is sent again with the same idempotency key.
    """

    __tablename__ = "delivery_attempt"
    __table_args__ = (Index("ix_delivery_attempt_outbox", "outbox_id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    outbox_id: int = Field(sa_column=Column(Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ok: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    duration_ms: float | None = Field(default=None, sa_column=Column(Float, nullable=True))


class AnnouncementRow(SQLModel, table=True):
    """A staff announcement (automatic for an incident, or by hand), shown on the status page
    while status != closed. `title` is {lang: text}; `body` is {lang: {phenomenon, scope,
    workaround, contact}}; `data` keeps what the automatic text was built from (incident
    status/impact at the last update) so a change is noticed."""

    __tablename__ = "announcement"
    __table_args__ = (UniqueConstraint("incident_id", name="uq_announcement_incident"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    incident_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    components: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="published", sa_column=Column(String(16), nullable=False))
    title: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    next_update_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    manual: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    author: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
