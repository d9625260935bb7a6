"""The outbox: `outbox` (one message to one channel target) and `delivery_attempt` (every try),
and every query on them (but the `outbox` command's listing: monitor.store.readout).

The outbox is the boundary between deciding and sending: rows are inserted in the
transaction that changed the incident (`insert` never commits), and the dispatcher only ever
reads them. `(key, channel, target_index)` is unique and `insert` is ON CONFLICT DO NOTHING
on SQLite and PostgreSQL alike, so a second enqueue of one key (a retry, a restart, a second
controller) adds nothing and never aborts the caller's transaction.

A dispatcher claims each target's oldest due row (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a
compare-and-set UPDATE on SQLite): two dispatchers on one database never both win a row, and
a target whose oldest row another holds is left alone, so messages keep their order. Each claim writes an attempt
with `ok` NULL; a dispatcher that takes over a row whose attempt is still NULL (its process
died mid-delivery) marks that attempt interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from monitor.core.events import DOWN_EVENTS, MONITOR_PROBLEM
from monitor.store.engine import is_postgres, upsert
from monitor.store.types import UTCDateTime

INTERRUPTED = (
    "interrupted: the dispatcher stopped before recording the outcome; the message may have "
    "arrived and is sent again with the same X-Invoicewatch-Key"
)
TargetKey = tuple[str, int]  # (channel, target_index)


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
    node: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))  # the dispatcher's node


OUTBOX: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
ATTEMPTS: sa.Table = DeliveryAttemptRow.__table__  # type: ignore[attr-defined]


# enqueueing (inside the deciding transaction) -----------------------------------------------
def insert(session: Session, row: dict[str, Any]) -> int:
    """Add one message unless its (key, channel, target_index) is there; 1 if added, else 0."""
    stmt = (
        upsert(session.connection(), OUTBOX)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["key", "channel", "target_index"])
        .returning(OUTBOX.c.id)  # rowcount is unreliable here on psycopg; count what came back
    )
    return len(session.connection().execute(stmt).all())


def told_targets(session: Session, incident_id: int) -> set[TargetKey]:
    """Targets that were sent (or are about to be sent) word that this incident is down."""
    stmt = (
        sa.select(OUTBOX.c.channel, OUTBOX.c.target_index)
        .where(OUTBOX.c.incident_id == incident_id, OUTBOX.c.event.in_(sorted(DOWN_EVENTS)))
        .distinct()
    )
    return {(c, int(i)) for c, i in session.connection().execute(stmt)}


def incident_targets(session: Session, incident_id: int, severities: Sequence[str] | None = None) -> set[TargetKey]:
    """Targets that have any message about this incident (queued, sent or failed), or with
    `severities` any of those severities."""
    stmt = sa.select(OUTBOX.c.channel, OUTBOX.c.target_index).where(OUTBOX.c.incident_id == incident_id)
    if severities is not None:
        stmt = stmt.where(OUTBOX.c.severity.in_(list(severities)))
    return {(c, int(i)) for c, i in session.connection().execute(stmt.distinct())}


def keys_for_incident(session: Session, incident_id: int) -> list[tuple[str, str]]:
    """(key, event) of every message ever queued about the incident."""
    stmt = sa.select(OUTBOX.c.key, OUTBOX.c.event).where(OUTBOX.c.incident_id == incident_id).distinct()
    return [(k, e) for k, e in session.connection().execute(stmt)]


# claiming and recording (the dispatcher) ------------------------------------------------------
def _lease_free(now: datetime) -> Any:
    return sa.or_(OUTBOX.c.claimed_until.is_(None), OUTBOX.c.claimed_until < now)


def _due_by_time(now: datetime) -> Any:
    return sa.and_(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now)


def _heads(now: datetime, targets: Sequence[TargetKey] | None = None) -> Any:
    """The id of each target's head: its oldest pending message due by time, leased or not
    (a target whose head another dispatcher holds is busy; see `claim`)."""
    stmt = sa.select(sa.func.min(OUTBOX.c.id)).where(_due_by_time(now))
    if targets is not None:
        stmt = stmt.where(sa.tuple_(OUTBOX.c.channel, OUTBOX.c.target_index).in_(list(targets)))
    return stmt.group_by(OUTBOX.c.channel, OUTBOX.c.target_index)


def due_targets(engine: Engine, now: datetime, only: TargetKey | None = None, *, limit: int = 1000) -> list[TargetKey]:
    """Targets whose head is due now and not leased, the longest-waiting first."""
    stmt = (
        sa.select(OUTBOX.c.channel, OUTBOX.c.target_index)
        .where(OUTBOX.c.id.in_(_heads(now, None if only is None else [only])), _lease_free(now))
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(c, int(i)) for c, i in conn.execute(stmt)]


def next_due(engine: Engine, now: datetime) -> datetime | None:
    """When the first pending message not due yet comes due (held by a route's group window,
    waiting out a retry's backoff or quiet hours); None if there is none."""
    stmt = sa.select(sa.func.min(OUTBOX.c.next_attempt_at)).where(OUTBOX.c.status == "pending",
                                                                   OUTBOX.c.next_attempt_at > now)
    with engine.connect() as conn:
        due: datetime | None = conn.execute(stmt).scalar()
    return due


@dataclass(frozen=True)
class Claim:
    """What one claim won: the rows (as dicts, in id order), the attempt row of each, and how
    many earlier attempts were found in flight (their dispatcher died) and marked interrupted."""

    rows: list[dict[str, Any]]
    attempt_of: dict[int, int]
    interrupted: int


def claim(
    engine: Engine,
    targets: Sequence[TargetKey],
    now: datetime,
    token: str,
    lease_until: datetime,
    *,
    fence: Callable[[sa.Connection], None] | None = None,
    node: str | None = None,
) -> Claim:
    """Claim the oldest due message of each target, in one transaction; with it, when its
    route groups, the incident's other pending messages for that target. Returns what this
    token won (another dispatcher may have won the rest). `fence(conn)` runs first in the
    transaction and raises to refuse the claim (a deposed controller's: see
    monitor.store.leadership); `node` is recorded on the attempts.

    A target's head is its oldest pending message that is due by time, leased or not: while
    another dispatcher holds it, the target is busy and nothing behind it is taken, so a
    failover can never deliver a "resolved" before the "opened" still in flight elsewhere.
    On PostgreSQL the heads are locked `FOR UPDATE SKIP LOCKED` (a head another transaction
    is claiming right now is skipped, not waited for) and then leased. SQLite has one writer:
    there the transaction starts with the compare-and-set UPDATE, so it takes its write lock
    at once instead of upgrading a read transaction (which fails under concurrency)."""
    mine = OUTBOX.c.claimed_by == token
    heads = _heads(now, targets)
    lease = {"claimed_by": token, "claimed_until": lease_until}
    with engine.begin() as conn:
        if fence is not None:
            fence(conn)
        if is_postgres(conn):
            free = conn.execute(
                sa.select(OUTBOX.c.id).where(OUTBOX.c.id.in_(heads), _lease_free(now))
                .with_for_update(skip_locked=True)
            ).scalars().all()
            won = conn.execute(sa.update(OUTBOX).where(OUTBOX.c.id.in_(free)).values(**lease)).rowcount if free else 0
        else:
            won = conn.execute(
                sa.update(OUTBOX).where(OUTBOX.c.id.in_(heads), OUTBOX.c.status == "pending", _lease_free(now))
                .values(**lease)
            ).rowcount
        if not won:
            return Claim([], {}, 0)
        leads = conn.execute(
            sa.select(OUTBOX.c.channel, OUTBOX.c.target_index, OUTBOX.c.incident_id)
            .where(mine, OUTBOX.c.group_until.is_not(None), OUTBOX.c.incident_id.is_not(None))
        ).all()
        for lead in leads:
            conn.execute(
                sa.update(OUTBOX)
                .where(
                    OUTBOX.c.channel == lead.channel, OUTBOX.c.target_index == lead.target_index,
                    OUTBOX.c.incident_id == lead.incident_id, OUTBOX.c.status == "pending",
                    OUTBOX.c.group_until.is_not(None), _lease_free(now),
                )
                .values(**lease)
            )
        rows = [dict(r._mapping) for r in conn.execute(sa.select(OUTBOX).where(mine).order_by(OUTBOX.c.id))]
        ids = [r["id"] for r in rows]
        in_flight = sa.and_(ATTEMPTS.c.outbox_id.in_(ids), ATTEMPTS.c.ok.is_(None))
        interrupted = conn.execute(sa.update(ATTEMPTS).where(in_flight).values(ok=False, error=INTERRUPTED)).rowcount
        conn.execute(sa.insert(ATTEMPTS), [{"outbox_id": i, "at": now, "ok": None, "node": node} for i in ids])
        attempt_of = {
            int(o): int(a) for o, a in conn.execute(sa.select(ATTEMPTS.c.outbox_id, ATTEMPTS.c.id).where(in_flight))
        }
    return Claim(rows, attempt_of, int(interrupted or 0))


def mark_sent(conn: sa.Connection, ids: Sequence[int], token: str, now: datetime) -> int:
    """Rows delivered: sent, lease released. Returns how many were still this token's (fewer
    means the lease ran out during delivery and another dispatcher may send them again)."""
    mine = sa.and_(OUTBOX.c.id.in_(list(ids)), OUTBOX.c.claimed_by == token)
    return int(conn.execute(
        sa.update(OUTBOX).where(mine).values(
            status="sent", sent_at=now, attempts=OUTBOX.c.attempts + 1, last_error=None,
            claimed_by=None, claimed_until=None,
        )
    ).rowcount or 0)


def mark_failed(
    conn: sa.Connection, row_id: int, token: str, *, attempts: int, error: str | None,
    retry_at: datetime | None,
) -> None:
    """A delivery failed: count it, release the lease, and retry at `retry_at` (None: give up,
    the row is failed). Only while the row is still this token's."""
    values: dict[str, Any] = {"attempts": attempts, "last_error": error, "claimed_by": None, "claimed_until": None}
    if retry_at is None:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = retry_at
    conn.execute(sa.update(OUTBOX).where(OUTBOX.c.id == row_id, OUTBOX.c.claimed_by == token).values(**values))


def finish_attempts(
    conn: sa.Connection, attempt_ids: Sequence[int], *, ok: bool, error: str | None, duration_ms: float | None
) -> None:
    conn.execute(
        sa.update(ATTEMPTS).where(ATTEMPTS.c.id.in_(list(attempt_ids))).values(ok=ok, error=error, duration_ms=duration_ms)
    )


def oldest_failing(conn: sa.Connection, channel: str) -> tuple[int, datetime] | None:
    """(id, created_at) of the channel's oldest message that has failed at least once and is
    not yet sent (pending first, then given up), monitor problems aside."""
    row = conn.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.created_at)
        .where(OUTBOX.c.channel == channel, OUTBOX.c.status.in_(("pending", "failed")),
               OUTBOX.c.attempts > 0, OUTBOX.c.event != MONITOR_PROBLEM)
        .order_by(OUTBOX.c.status.desc(), OUTBOX.c.created_at, OUTBOX.c.id)  # pending first
        .limit(1)
    ).first()
    return None if row is None else (int(row.id), row.created_at)


def fail_pending(engine: Engine, target: TargetKey, reason: str, now: datetime) -> int:
    """Give up on every unleased pending message of a target (its channel is gone)."""
    with engine.begin() as conn:
        return int(conn.execute(
            sa.update(OUTBOX)
            .where(OUTBOX.c.channel == target[0], OUTBOX.c.target_index == target[1],
                   OUTBOX.c.status == "pending", _lease_free(now))
            .values(status="failed", last_error=reason)
        ).rowcount or 0)


# by hand (the CLI) ----------------------------------------------------------------------------
def retry(engine: Engine, ids: Sequence[int], now: datetime) -> int:
    """Make failed or pending messages due now, lease released; returns how many matched."""
    with engine.begin() as conn:
        return int(conn.execute(
            sa.update(OUTBOX).where(OUTBOX.c.id.in_(list(ids)), OUTBOX.c.status.in_(("failed", "pending")))
            .values(status="pending", next_attempt_at=now, claimed_by=None, claimed_until=None)
        ).rowcount or 0)
