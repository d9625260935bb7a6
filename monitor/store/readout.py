"""What the read-only commands read (`status`, `incidents`, `outbox`, `silences`), through
SQLAlchemy Core alone, returned as plain records.

A command that only reads answers before a person notices the wait, so this module imports
neither sqlmodel nor the aggregate modules: building their ORM classes and mappers costs more
than the whole read (bench/cli_start.py). It names the columns it reads of each table as a
lightweight `sa.table` clause, with the types of the real columns (aware UTC times, JSON);
tests/store/test_store_readout.py holds each clause to the table of the same name in
monitor.store.metadata(), so a column renamed or retyped there fails a test, not a command.
The aggregate modules use the same reads and record builders where they read the same thing
(`nodes.listing`, the status page's incidents, the outbox listing), so
each query is written once.

A table that does not exist yet reads as empty: the listings take `have` (`tables(conn)`,
the tables that exist), as the status page's reads do (monitor.store.pages).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, Text

from monitor.store.types import UTCDateTime

LEASE_NAME = "controller"  # the one row of controller_lease (monitor.store.leadership)

STATES = sa.table(
    "check_state",
    sa.column("check", String), sa.column("location", String), sa.column("status", String),
    sa.column("since", UTCDateTime()), sa.column("last_result_at", UTCDateTime()), sa.column("last_status", String),
    sa.column("last_latency_ms", Float), sa.column("last_message", Text), sa.column("data", JSON),
)
INCIDENTS = sa.table(
    "incident",
    sa.column("id", Integer), sa.column("component", String), sa.column("title", Text), sa.column("status", String),
    sa.column("impact", String), sa.column("started_at", UTCDateTime()), sa.column("detected_at", UTCDateTime()),
    sa.column("acked_at", UTCDateTime()), sa.column("acked_by", String), sa.column("resolved_at", UTCDateTime()),
    sa.column("root_check", String), sa.column("data", JSON), sa.column("public", Boolean),
)
SILENCES = sa.table(
    "silence",
    sa.column("id", Integer), sa.column("target", String), sa.column("target_kind", String), sa.column("reason", Text),
    sa.column("created_by", String), sa.column("starts_at", UTCDateTime()), sa.column("ends_at", UTCDateTime()),
    sa.column("ended_at", UTCDateTime()),
)
NODES = sa.table(
    "monitor_node",
    sa.column("name", String), sa.column("role", String), sa.column("location", String), sa.column("host", String),
    sa.column("pid", Integer), sa.column("version", String), sa.column("started_at", UTCDateTime()),
    sa.column("seen_at", UTCDateTime()), sa.column("stopped_at", UTCDateTime()), sa.column("seq", BigInteger),
    sa.column("results", BigInteger), sa.column("last_result_at", UTCDateTime()),
)
LEASES = sa.table(
    "controller_lease",
    sa.column("name", String), sa.column("term", BigInteger), sa.column("holder", String),
    sa.column("holder_pid", Integer), sa.column("acquired_at", UTCDateTime()), sa.column("renewed_at", UTCDateTime()),
)
OUTBOX = sa.table(
    "outbox",
    sa.column("id", Integer), sa.column("key", String), sa.column("channel", String), sa.column("target_index", Integer),
    sa.column("event", String), sa.column("status", String), sa.column("attempts", Integer),
    sa.column("next_attempt_at", UTCDateTime()), sa.column("created_at", UTCDateTime()),
    sa.column("sent_at", UTCDateTime()), sa.column("last_error", Text), sa.column("claimed_until", UTCDateTime()),
)
CLAUSES = (STATES, INCIDENTS, SILENCES, NODES, LEASES, OUTBOX)


# records -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StateRecord:
    """One check at one location (check_state; monitor.store.results owns the table)."""

    check: str
    location: str
    status: str
    since: datetime
    last_result_at: datetime | None
    last_status: str | None
    last_latency_ms: float | None
    last_message: str
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    id: int
    incident_id: int
    at: datetime
    status: str
    kind: str
    message: str
    author: str | None
    data: dict[str, Any] | None


@dataclass(slots=True)
class IncidentRecord:
    """One incident (monitor.store.incidents owns the table); `updates` only where asked for."""

    id: int
    component: str
    title: str
    status: str
    impact: str
    started_at: datetime | None
    detected_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    resolved_at: datetime | None
    root_check: str | None
    data: dict[str, Any] | None
    public: bool
    updates: list[UpdateRecord] = field(default_factory=list)

    @property
    def time_to_detect_s(self) -> float | None:
        if self.detected_at is None or self.started_at is None:
            return None
        return (self.detected_at - self.started_at).total_seconds()

    @property
    def time_to_resolve_s(self) -> float | None:
        if self.resolved_at is None or self.started_at is None:
            return None
        return (self.resolved_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """A silence in force (monitor.store.maintenance owns the table)."""

    id: int
    target: str
    target_kind: str
    reason: str
    created_by: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a node says about itself when it registers (monitor.store.nodes.register)."""

    name: str
    role: str
    location: str
    host: str
    pid: int
    version: str


@dataclass(frozen=True, slots=True)
class NodeRecord(NodeInfo):
    """One process sharing the database, as its row holds it: what it said when it registered
    and what it has done since (monitor.store.nodes owns the table)."""

    started_at: datetime | None
    seen_at: datetime | None
    stopped_at: datetime | None
    seq: int
    results: int
    last_result_at: datetime | None


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The elected controller's lease (monitor.store.leadership owns the table)."""

    name: str
    term: int
    holder: str
    holder_pid: int
    acquired_at: datetime
    renewed_at: datetime


@dataclass
class Overview:
    """What `invoicewatch status` reads, in one transaction: every check's state, the open
    incidents (each check they hold, as root or as a symptom folded in), the silences in
    force, and the nodes sharing the database with the elected controller's lease."""

    states: list[StateRecord] = field(default_factory=list)
    incidents: list[IncidentRecord] = field(default_factory=list)
    silences: list[SilenceRecord] = field(default_factory=list)
    nodes: list[NodeRecord] = field(default_factory=list)
    lease: LeaseRecord | None = None
    tables: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        """No invoicewatch table at all: a database the monitor has never run on."""
        return "check_state" not in self.tables


# reads -----------------------------------------------------------------------------------------
def tables(conn: sa.Connection) -> set[str]:
    """Names of the tables that exist, so a missing table reads as empty."""
    return set(sa.inspect(conn).get_table_names())


def overview(conn: sa.Connection, now: datetime) -> Overview:
    have = tables(conn)
    out = Overview(tables=have, states=states(conn, have),
                   incidents=incidents(conn, have, limit=None, include_resolved=False, newest_first=False),
                   silences=active_silences(conn, have, now))
    if "monitor_node" in have:
        out.nodes = nodes(conn)
    if "controller_lease" in have:
        out.lease = lease(conn)
    return out


def states(conn: sa.Connection, have: set[str]) -> list[StateRecord]:
    """Every check's state, by check and location."""
    if "check_state" not in have:
        return []
    c = STATES.c
    return [StateRecord(*r) for r in conn.execute(sa.select(*STATES.c).order_by(c.check, c.location))]  # fields in column order (a test holds them to it)


def incidents(
    conn: sa.Connection, have: set[str], *, limit: int | None, include_resolved: bool, newest_first: bool = True
) -> list[IncidentRecord]:
    """Open incidents (all of them with `include_resolved`), newest first or oldest first."""
    if "incident" not in have:
        return []
    c = INCIDENTS.c
    stmt = sa.select(*INCIDENTS.c).order_by(c.id.desc() if newest_first else c.id)
    if not include_resolved:
        stmt = stmt.where(c.resolved_at.is_(None))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [incident_record(r) for r in conn.execute(stmt)]


def incident_record(r: Any) -> IncidentRecord:
    """An incident row (of this module's clause or of monitor.store.incidents' table) as a record."""
    return IncidentRecord(
        id=r.id, component=r.component or "", title=r.title or "", status=r.status or "investigating",
        impact=r.impact or "none", started_at=r.started_at, detected_at=r.detected_at, acked_at=r.acked_at,
        acked_by=r.acked_by, resolved_at=r.resolved_at, root_check=r.root_check, data=r.data, public=bool(r.public),
    )


class _SilenceColumns(Protocol):
    @property
    def starts_at(self) -> sa.ColumnElement[datetime]: ...

    @property
    def ends_at(self) -> sa.ColumnElement[datetime]: ...

    @property
    def ended_at(self) -> sa.ColumnElement[datetime]: ...


def silence_in_force(c: _SilenceColumns, now: datetime) -> sa.ColumnElement[bool]:
    """A silence holds alerts from its start until its end, unless ended by hand (here and in
    monitor.store.maintenance.active_silences: one meaning of "active")."""
    return sa.and_(c.ends_at > now, c.starts_at <= now, c.ended_at.is_(None))


def active_silences(conn: sa.Connection, have: set[str], now: datetime) -> list[SilenceRecord]:
    """Silences in force at `now`, oldest first."""
    if "silence" not in have:
        return []
    c = SILENCES.c
    stmt = sa.select(c.id, c.target, c.target_kind, c.reason, c.created_by, c.starts_at, c.ends_at)
    return [SilenceRecord(**r._mapping) for r in conn.execute(stmt.where(silence_in_force(c, now)).order_by(c.id))]


def nodes(conn: sa.Connection) -> list[NodeRecord]:
    """Every node, by name."""
    return [NodeRecord(**r._mapping) for r in conn.execute(sa.select(*NODES.c).order_by(NODES.c.name))]


def lease(conn: sa.Connection) -> LeaseRecord | None:
    """The controllers' lease row as it is (None before the first election)."""
    row = conn.execute(sa.select(*LEASES.c).where(LEASES.c.name == LEASE_NAME)).first()
    return None if row is None else LeaseRecord(**row._mapping)


def outbox(conn: sa.Connection, have: set[str], *, limit: int, include_sent: bool) -> list[dict[str, Any]]:
    """Newest first: messages not sent yet (pending, given up), or all of them."""
    if "outbox" not in have:
        return []
    stmt = sa.select(*OUTBOX.c).order_by(OUTBOX.c.id.desc()).limit(limit)
    if not include_sent:
        stmt = stmt.where(OUTBOX.c.status != "sent")
    return [dict(r._mapping) for r in conn.execute(stmt)]


class _StateLike(Protocol):
    @property
    def check(self) -> str: ...

    @property
    def last_result_at(self) -> datetime | None: ...


S = TypeVar("S", bound=_StateLike)


def states_by_check(rows: Iterable[S]) -> dict[str, list[S]]:
    """Each check's state rows to show, one per location. A controller's row holds only its
    verdict, no result of its own: it is shown only when the check has no other row."""
    out: dict[str, list[S]] = {}
    for row in rows:
        out.setdefault(row.check, []).append(row)
    return {check: [r for r in found if r.last_result_at is not None] or found for check, found in out.items()}
