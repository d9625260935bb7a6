"""Results and check states: the `check_result` and `check_state` tables and every query on them.

`check_result` holds one row per probe, written in batches: one `executemany` of plain
tuples on the driver per statement (~16 us of CPU a row on SQLite WAL, bench/store_write.py;
SQLAlchemy's per-row Core processing took twice that), rolled up hourly and daily
(monitor.store.rollups) and pruned after `monitor.result_retention`. A row keeps only what its result adds: the evidence (per-
condition and per-step outcomes, phase timings) of a result that is not up or whose status
differs from the previous result of its check and location; a passing probe like the one
before it is status, latency, message and values (its conditions passed: "up" says so). `check_state` holds one row per check
and location with two owners: the result writer keeps the latest-result columns (`last_*`,
never moved backwards), the deciding service keeps `status`, `since` and `data` (the
rulebook's state as JSON, so it can evolve without a migration per counter).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, select

from monitor.core.errors import StoreError
from monitor.core.results import ConditionResult, Result, Status, StepResult, condition_data
from monitor.store import nodes
from monitor.store.engine import bad_data, describe, is_postgres, json_dumps, upsert
from monitor.store.types import UTCDateTime, naive_utc, sqlite_text


class CheckResultRow(SQLModel, table=True):
    """One probe's outcome; pruned after monitor.result_retention (passing ones without
    evidence after monitor.retention.passing_results). Empty JSON is SQL NULL (none_as_null):
    no bytes, and what the prune of passing results looks for."""

    __tablename__ = "check_result"
    __table_args__ = (
        Index("ix_check_result_check_ts", "check", "ts"),
        Index("ix_check_result_ts", "ts"),
        Index("uq_check_result_node_seq", "node", "seq", unique=True),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    ts: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    check: str = Field(sa_column=Column(String(120), nullable=False))
    location: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    latency_ms: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    message: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    phases: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    values: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    # Which node wrote it and its number in that node's sequence (monitor.store.nodes): what
    # the deciding leader reads other nodes' results by. Empty / NULL for rows written
    # without a node (the first releases, tests of the store alone).
    node: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


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


RESULTS: sa.Table = CheckResultRow.__table__  # type: ignore[attr-defined]
STATES: sa.Table = CheckStateRow.__table__  # type: ignore[attr-defined]


# writing -----------------------------------------------------------------------------------
def row_of(result: Result, *, evidence: bool = True) -> dict[str, Any]:
    """The `check_result` row of a Result (message capped, NUL replaced: PostgreSQL text
    cannot hold it and a body echoed into a message may). `evidence=False` leaves out the
    conditions, steps and phases (a passing probe like the one before it); its measured
    values stay (checks learn from them: freshness's arrivals)."""
    if not evidence:
        return {
            "ts": result.started_at, "check": result.check, "location": result.location,
            "status": str(result.status), "latency_ms": result.latency_ms,
            "message": result.message[:4000].replace("\x00", "\ufffd"), "phases": None,
            "values": result.values or None, "detail": None,
        }
    detail = result.detail()
    return {
        "ts": result.started_at,
        "check": result.check,
        "location": result.location,
        "status": str(result.status),
        "latency_ms": result.latency_ms,
        "message": result.message[:4000].replace("\x00", "\ufffd"),
        "phases": result.phases or None,
        "values": result.values or None,
        "detail": detail if (detail["conditions"] or detail["steps"]) else None,
    }


class EvidenceFilter:
    """Decides which results keep their evidence: those not up, and those whose status
    differs from the previous result of the same check and location (the first one seen
    after a start counts as a change). One per Store. What a batch saw is remembered only
    once the batch is written (`commit`), so a batch retried after a failure is judged the
    same way again."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], str] = {}

    def flags(self, results: Sequence[Result]) -> tuple[list[bool], dict[tuple[str, str], str]]:
        seen: dict[tuple[str, str], str] = {}
        out = []
        for result in results:
            key = (result.check, result.location)
            status = str(result.status)
            previous = seen.get(key, self._last.get(key))
            seen[key] = status
            out.append(status != "up" or previous != status)
        return out, seen

    def commit(self, seen: dict[tuple[str, str], str]) -> None:
        self._last.update(seen)


def write_batch(
    engine: Engine, results: Sequence[Result], keep: EvidenceFilter | None = None, *, node: str | None = None
) -> list[tuple[Result, str]]:
    """Insert a batch of results and refresh the latest-result columns of check_state.
    `keep` decides which results keep their evidence (default: all). With `node`, number
    them in that node's sequence and NOTIFY the controllers (monitor.store.nodes).

    All or nothing, except for results the database refuses *as data* (a naive time from
    a buggy check, a value it cannot store): those are set aside and returned with the
    reason, so one bad result cannot jam every later batch. Any other failure (database
    gone, locked, table missing) raises StoreError and writes nothing.

    Rows go to the driver as plain tuples in one executemany per statement (the SQL
    compiled once per dialect, JSON encoded here, evidence fragments that repeat encoded
    once): SQLAlchemy's per-row parameter processing was most of the writer's CPU
    (bench/store_write.py, bench/capacity.py).
    """
    if not results:
        return []
    flags, seen = keep.flags(results) if keep is not None else ([True] * len(results), {})
    sql = _statements(engine)
    rows, rejected = sql.rows(results, flags)
    try:
        with engine.begin() as conn:
            params, last = _number(conn, rows, len(results), node)
            sql.run(conn, sql.insert, params)
            sql.upsert_latest(conn, rows)
            if node is not None:
                nodes.notify(conn, node, last)
    except SQLAlchemyError as exc:
        if not bad_data(exc):
            raise StoreError(f"cannot write results: {describe(exc)}") from None
        rejected += _write_sorting_out(engine, sql, rows, len(results), node)
    if keep is not None:
        keep.commit(seen)
    return rejected


class _Row:
    """A result as the driver gets it: the check_result columns before node and seq."""

    __slots__ = ("at", "key", "params", "result", "ts")

    def __init__(self, at: int, result: Result, ts: datetime, params: tuple[Any, ...]) -> None:
        self.at = at  # its place in the batch: its number in the node's sequence
        self.result = result
        self.ts = ts  # the aware time, for ordering and the node's newest
        self.key = (result.check, result.location)
        self.params = params


# The columns written, in order (id is the database's; node and seq come last).
_COLUMNS = ("ts", "check", "location", "status", "latency_ms", "message", "phases", "values", "detail", "node", "seq")
_STATE_COLUMNS = ("check", "location", "status", "since", "last_result_at", "last_status", "last_latency_ms", "last_message")


class _Statements:
    """The two statements of a batch compiled once for a dialect (positional parameters,
    with the dialect's bind casts), and the one column type that needs converting (ts)."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        same_kind: Any = type(dialect)  # this dialect, binding by position
        positional = same_kind(paramstyle="qmark" if dialect.paramstyle == "qmark" else "format")
        insert = sa.insert(RESULTS).compile(dialect=positional, column_keys=list(_COLUMNS), for_executemany=True)
        self.insert = insert.string
        stmt = upsert(engine, STATES)
        stmt = stmt.on_conflict_do_update(
            index_elements=["check", "location"],
            set_={
                "last_result_at": stmt.excluded.last_result_at,
                "last_status": stmt.excluded.last_status,
                "last_latency_ms": stmt.excluded.last_latency_ms,
                "last_message": stmt.excluded.last_message,
            },
            where=STATES.c.last_result_at.is_(None) | (stmt.excluded.last_result_at >= STATES.c.last_result_at),
        )
        state = stmt.compile(dialect=positional, column_keys=list(_STATE_COLUMNS), for_executemany=True)
        self.upsert = state.string
        if tuple(insert.positiontup or ()) != _COLUMNS or tuple(state.positiontup or ()) != _STATE_COLUMNS:
            raise RuntimeError("check_result / check_state statements bind their columns in another order")
        # ts as SQLAlchemy would bind it (UTCDateTime's naive UTC; SQLite keeps it as text),
        # what every reader and index of the column expects; SQLAlchemy's own processor if
        # ours ever disagrees with it (it is ~2x slower: two calls and a format by dict).
        processor = RESULTS.c.ts.type.dialect_impl(dialect).bind_processor(dialect)
        ours = sqlite_text if dialect.name == "sqlite" else naive_utc
        sample = datetime(2026, 3, 2, 1, 2, 3, tzinfo=UTC)
        agrees = processor is None or all(processor(t) == ours(t) for t in (sample, sample.replace(microsecond=5)))
        self.ts: Callable[[datetime], Any] = ours if agrees else processor  # type: ignore[assignment]

    def rows(self, results: Sequence[Result], flags: Sequence[bool]) -> tuple[list[_Row], list[tuple[Result, str]]]:
        """The rows of a batch, and the results refused before the database sees them (a
        value no column can take: a naive time)."""
        out, refused = [], []
        ts_of = self.ts
        for at, (result, evidence) in enumerate(zip(results, flags, strict=True)):
            try:
                ts = ts_of(result.started_at)
                message = result.message[:4000].replace("\x00", "\ufffd")
                values = json_dumps(result.values) if result.values else None
                if evidence:
                    phases = json_dumps(result.phases) if result.phases else None
                    detail = detail_json(result)
                else:
                    phases = detail = None
                params = (ts, result.check, result.location, str(result.status), result.latency_ms, message,
                          phases, values, detail)
            except (ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
                # (what SQLAlchemy's processors turned into a StatementError: this row's data)
                refused.append((result, f"{type(exc).__name__}: {exc}".splitlines()[0]))
                continue
            out.append(_Row(at, result, result.started_at, params))
        return out, refused

    def upsert_latest(self, conn: sa.Connection, rows: Sequence[_Row]) -> None:
        """Refresh last_* of each (check, location) from its newest row. Never moves them
        backwards: a re-check can finish after a newer run was written."""
        newest: dict[tuple[str, str], _Row] = {}
        for row in rows:
            had = newest.get(row.key)
            if had is None or row.ts >= had.ts:
                newest[row.key] = row
        self.run(conn, self.upsert, [
            (p[1], p[2], p[3], p[0], p[0], p[3], p[4], p[5][:1000]) for p in (r.params for r in newest.values())
        ])

    @staticmethod
    def run(conn: sa.Connection, statement: str, params: Sequence[tuple[Any, ...]]) -> None:
        """`statement` for every row of `params`, in one executemany: on SQLite it steps one
        prepared statement; psycopg pipelines it (measured against multi-row VALUES of up
        to 1,000 rows, which took 3x the CPU per row and ran at a third of the rows/s)."""
        if params:
            conn.exec_driver_sql(statement, list(params))


_COMPILED: dict[tuple[str, str], _Statements] = {}


def _statements(engine: Engine) -> _Statements:
    key = (engine.dialect.name, engine.dialect.driver)
    sql = _COMPILED.get(key)
    if sql is None:
        sql = _COMPILED[key] = _Statements(engine)
    return sql


def detail_json(result: Result) -> str | None:
    """`json_dumps(result.detail())` when there is evidence, else None; the text of a
    condition result seen before (`[STATUS] == 200` passing with 200) is encoded once."""
    if result.steps:
        return json_dumps(result.detail())
    if not result.conditions:
        return None
    return '{"conditions": [' + ", ".join(map(_condition_json, result.conditions)) + '], "steps": []}'


_CONDITION_TEXT: dict[tuple[Any, ...], str] = {}


def _condition_json(c: ConditionResult) -> str:
    try:  # the actual's type too: 1, 1.0 and true are equal keys but different JSON
        key = (c.condition, c.ok, c.actual.__class__, c.actual, c.error)
        text = _CONDITION_TEXT.get(key)
    except TypeError:  # an unhashable actual (a list, an object)
        return json_dumps(condition_data(c))
    if text is None:
        if len(_CONDITION_TEXT) >= 10_000:
            _CONDITION_TEXT.clear()
        text = _CONDITION_TEXT[key] = json_dumps(condition_data(c))
    return text


def _number(conn: sa.Connection, rows: Sequence[_Row], count: int, node: str | None) -> tuple[list[tuple[Any, ...]], int]:
    """The insert's parameters (each row with its node and number in the node's sequence,
    taken in the caller's transaction when `node` is given: one per result of the batch,
    so a refused one leaves a gap, which readers step over) and the last number."""
    if node is None:
        return [(*r.params, "", None) for r in rows], 0
    first = nodes.allocate(conn, node, count, max((r.ts for r in rows), default=None))
    return [(*r.params, node, first + r.at) for r in rows], first + count - 1


def _write_sorting_out(
    engine: Engine, sql: _Statements, rows: Sequence[_Row], count: int, node: str | None
) -> list[tuple[Result, str]]:
    """Row by row in one transaction (a savepoint each on PostgreSQL, whose failed
    statement aborts the transaction), keeping the good rows and returning the refused
    ones. A refused row leaves a gap in the node's sequence, which readers step over."""
    rejected: list[tuple[Result, str]] = []
    postgres = is_postgres(engine)
    try:
        with engine.begin() as conn:
            kept = []
            params, last = _number(conn, rows, count, node)
            for row, one in zip(rows, params, strict=True):
                try:
                    with conn.begin_nested() if postgres else contextlib.nullcontext():
                        sql.run(conn, sql.insert, [one])
                    kept.append(row)
                except SQLAlchemyError as exc:
                    if not bad_data(exc):
                        raise
                    rejected.append((row.result, describe(exc)))
            sql.upsert_latest(conn, kept)
            if node is not None:
                nodes.notify(conn, node, last)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write results: {describe(exc)}") from None
    return rejected


def prune(
    engine: Engine, before: datetime, *, chunk: int = 10000, passing_only: bool = False,
    only: str | None = None, exclude: Sequence[str] = (),
) -> int:
    """Delete results older than `before`, in chunks so a big backlog never locks for long.
    `passing_only`: only passing results stored without evidence (like the one before them);
    `only` / `exclude`: one check's, or every check's but these."""
    total = 0
    c = RESULTS.c
    old = c.ts < before
    if only is not None:
        old = sa.and_(old, c.check == only)
    if exclude:
        old = sa.and_(old, c.check.not_in(list(exclude)))
    if passing_only:  # (rows written before none_as_null hold a JSON 'null')
        old = sa.and_(old, c.status == "up", sa.or_(c.detail.is_(None), sa.cast(c.detail, sa.Text) == "null"))
    while True:
        with engine.begin() as conn:
            ids = sa.select(RESULTS.c.id).where(old).limit(chunk).scalar_subquery()
            deleted = conn.execute(sa.delete(RESULTS).where(RESULTS.c.id.in_(ids))).rowcount or 0
        total += deleted
        if deleted < chunk:
            return total


# reading results ----------------------------------------------------------------------------
def query(
    session: Session,
    check: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    location: str | None = None,
    limit: int | None = None,
    newest_first: bool = True,
) -> list[CheckResultRow]:
    stmt = select(CheckResultRow)
    if check is not None:
        stmt = stmt.where(CheckResultRow.check == check)
    if location is not None:
        stmt = stmt.where(CheckResultRow.location == location)
    if since is not None:
        stmt = stmt.where(CheckResultRow.ts >= since)
    if until is not None:
        stmt = stmt.where(CheckResultRow.ts < until)
    order = RESULTS.c.id.desc() if newest_first else RESULTS.c.id.asc()
    stmt = stmt.order_by(order)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.exec(stmt))


def count(session: Session, check: str | None = None) -> int:
    stmt = sa.select(sa.func.count()).select_from(RESULTS)
    if check is not None:
        stmt = stmt.where(RESULTS.c.check == check)
    return int(session.connection().execute(stmt).scalar_one())


def result_of(row: CheckResultRow) -> Result:
    """A stored row as the Result it was written from (conditions and steps included)."""
    detail = row.detail or {}
    steps = [
        StepResult(**{**s, "status": Status(s["status"]), "conditions": [ConditionResult(**c) for c in s.get("conditions", [])]})
        for s in detail.get("steps", [])
    ]
    return Result(
        check=row.check, status=Status(row.status), started_at=row.ts, latency_ms=row.latency_ms, message=row.message,
        phases=row.phases or {}, conditions=[ConditionResult(**c) for c in detail.get("conditions", [])],
        steps=steps, values=row.values or {}, location=row.location,
    )


# check states -------------------------------------------------------------------------------
def states(session: Session, location: str | None = None) -> list[CheckStateRow]:
    """Every check's state (at one location when given), by check and location."""
    stmt = select(CheckStateRow)
    if location is not None:
        stmt = stmt.where(CheckStateRow.location == location)
    return list(session.exec(stmt.order_by(STATES.c.check, STATES.c.location)))


def state(session: Session, check: str, location: str = "") -> CheckStateRow | None:
    return session.get(CheckStateRow, (check, location))


def merge_states(session: Session, rows: Iterable[CheckStateRow]) -> None:
    """Write whole state rows (every column), inserting or replacing."""
    for row in rows:
        session.merge(row)


def save_decided(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert the deciding service's columns of check_state (check, location, status,
    since, data), leaving the latest-result columns the result writer owns untouched.
    Does not commit: the state changes go with the incident changes they cause."""
    if not rows:
        return
    conn = session.connection()
    stmt = upsert(conn, STATES)
    stmt = stmt.on_conflict_do_update(
        index_elements=["check", "location"],
        set_={"status": stmt.excluded.status, "since": stmt.excluded.since, "data": stmt.excluded.data},
    )
    conn.execute(stmt, [dict(r) for r in rows])
