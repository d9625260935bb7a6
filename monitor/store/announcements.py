"""Staff announcements: the `announcement` table and every query on it.

A row is shown on the status page while its status is not "closed". At most one row per
incident (unique `incident_id`), so the automatic announcement of an incident is found, and
replaced by a person's text, without a second one appearing. The text and when to send it
are the notifiers' (`notifiers.announce`); nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Boolean, Column, Integer, String, UniqueConstraint, false
from sqlmodel import Field, Session, SQLModel, select

from monitor.store.types import UTCDateTime


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


ANNOUNCEMENTS: sa.Table = AnnouncementRow.__table__  # type: ignore[attr-defined]


def save(session: Session, row: AnnouncementRow) -> AnnouncementRow:
    """Insert or update an announcement; after this its `id` is known (message keys cite it)."""
    session.add(row)
    session.flush()
    return row


def get(session: Session, announcement_id: int) -> AnnouncementRow | None:
    return session.get(AnnouncementRow, announcement_id)


def active(session: Session) -> list[AnnouncementRow]:
    """Announcements the status page shows (status != closed), newest first."""
    stmt = select(AnnouncementRow).where(ANNOUNCEMENTS.c.status != "closed").order_by(ANNOUNCEMENTS.c.id.desc())
    return list(session.exec(stmt))


def for_incident(session: Session, incident_id: int) -> AnnouncementRow | None:
    return session.exec(select(AnnouncementRow).where(ANNOUNCEMENTS.c.incident_id == incident_id)).first()


def update_due(session: Session, now: datetime) -> list[AnnouncementRow]:
    """Open announcements whose promised next update is due at `now`."""
    stmt = select(AnnouncementRow).where(ANNOUNCEMENTS.c.status != "closed", ANNOUNCEMENTS.c.next_update_at <= now)
    return list(session.exec(stmt))
