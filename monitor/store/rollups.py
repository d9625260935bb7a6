"""Hourly and daily rollups per check and per component: `check_rollup`, `component_rollup`,
and `rollup_mark` (how far rolling has got), kept `monitor.retention.rollups` (400 days).

What a bucket holds
    checks      results (count) and results per status (up, degraded, down); seconds per
                status (each result's status holds until that check's next result at the
                same location, at most `HOLD`; summed over locations); latency p50/p95/p99
                and the latency sketch they come from (monitor.core.sketch).
    components  seconds in each public status (from `component_status_change`, the same
                history the page's live figures come from), the results and failures of the
                component's checks, and their merged latency sketch.

How rows are made
    `roll(engine, now, ...)` rolls every closed hour not rolled yet (an hour is closed
    `SETTLE` after its end, so a batch written a little late is still counted), streaming
    the raw results in time order (one index range scan, no sort), then every closed local
    day from its hours (sketches add up: no raw result is read for a day). Rolling an hour
    twice replaces its rows, so a crash between two steps is repaired by the next run.
    Raw results are pruned only below the hour mark (monitor.store.retention), so nothing
    is deleted before it is rolled.

Daily buckets start at local midnight (monitor.timezone). In a zone whose offset is not a
whole number of hours a day is made of the hours that start within it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Float, Integer, LargeBinary, String
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from monitor.core import sketch
from monitor.store.incidents import CHANGES
from monitor.store.results import RESULTS
from monitor.store.types import EpochSeconds, UTCDateTime

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SETTLE = timedelta(minutes=2)  # an hour is rolled this long after it ends
HOLD = timedelta(hours=2)  # longest a result's status is taken to hold without a next result
COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")
SECONDS_COLUMN = {  # a component status -> its column of seconds in component_rollup
    "operational": "operational_s",
    "degraded_performance": "degraded_s",
    "partial_outage": "partial_s",
    "major_outage": "major_s",
    "under_maintenance": "maintenance_s",
}
_CHECK_STATUSES = ("up", "degraded", "down")


# Both rollup tables are clustered on (grain, start, key) (SQLite: WITHOUT ROWID, so the table
# is its primary key and there is no second copy of the key in an index): rows are appended in
# time order, pruning takes whole starts off the front, and the page reads a time range of one
# grain. Starts are epoch seconds, sketches packed (monitor.core.sketch.pack).
_CLUSTERED = {"sqlite_with_rowid": False}


class CheckRollupRow(SQLModel, table=True):
    """One check's hour ("h") or local day ("d")."""

    __tablename__ = "check_rollup"
    __table_args__ = (_CLUSTERED,)

    grain: str = Field(sa_column=Column(String(1), primary_key=True))
    start: datetime = Field(sa_column=Column(EpochSeconds(), primary_key=True))
    check: str = Field(sa_column=Column(String(120), primary_key=True))
    count: int = Field(sa_column=Column(Integer, nullable=False))
    up: int = Field(sa_column=Column(Integer, nullable=False))
    degraded: int = Field(sa_column=Column(Integer, nullable=False))
    down: int = Field(sa_column=Column(Integer, nullable=False))
    up_s: float = Field(sa_column=Column(Float, nullable=False))
    degraded_s: float = Field(sa_column=Column(Float, nullable=False))
    down_s: float = Field(sa_column=Column(Float, nullable=False))
    p50: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    p95: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    p99: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    sketch: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class ComponentRollupRow(SQLModel, table=True):
    """One component's hour ("h") or local day ("d")."""

    __tablename__ = "component_rollup"
    __table_args__ = (_CLUSTERED,)

    grain: str = Field(sa_column=Column(String(1), primary_key=True))
    start: datetime = Field(sa_column=Column(EpochSeconds(), primary_key=True))
    component: str = Field(sa_column=Column(String(64), primary_key=True))
    operational_s: float = Field(sa_column=Column(Float, nullable=False))
    degraded_s: float = Field(sa_column=Column(Float, nullable=False))
    partial_s: float = Field(sa_column=Column(Float, nullable=False))
    major_s: float = Field(sa_column=Column(Float, nullable=False))
    maintenance_s: float = Field(sa_column=Column(Float, nullable=False))
    count: int = Field(sa_column=Column(Integer, nullable=False))
    failures: int = Field(sa_column=Column(Integer, nullable=False))
    p50: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    p95: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    p99: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    sketch: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class RollupMarkRow(SQLModel, table=True):
    """How far rolling has got: "hour" (every hour before `upto` is rolled), "day"; and
    "passing": passing results without evidence before `upto` are pruned (retention)."""

    __tablename__ = "rollup_mark"

    name: str = Field(sa_column=Column(String(16), primary_key=True))
    upto: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


CHECK_ROLLUPS: sa.Table = CheckRollupRow.__table__  # type: ignore[attr-defined]
COMPONENT_ROLLUPS: sa.Table = ComponentRollupRow.__table__  # type: ignore[attr-defined]
MARKS: sa.Table = RollupMarkRow.__table__  # type: ignore[attr-defined]


@dataclass
class Bucket:
    """A bucket being summed: counts, seconds per status, latency sketch."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_CHECK_STATUSES, 0))
    seconds: dict[str, float] = field(default_factory=dict)
    sketch: sketch.Sketch = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, other: Bucket) -> None:
        for k, n in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + n
        for k, s in other.seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + s
        sketch.merge(self.sketch, other.sketch)

    def quantiles(self) -> dict[str, float | None]:
        return {"p50": sketch.quantile(self.sketch, 0.50), "p95": sketch.quantile(self.sketch, 0.95),
                "p99": sketch.quantile(self.sketch, 0.99)}


@dataclass(frozen=True)
class RollStats:
    hours: int = 0
    days: int = 0
    results: int = 0
    upto: datetime | None = None


# marks ---------------------------------------------------------------------------------------
def mark(conn: sa.Connection, name: str) -> datetime | None:
    found: datetime | None = conn.execute(sa.select(MARKS.c.upto).where(MARKS.c.name == name)).scalar_one_or_none()
    return found


def set_mark(conn: sa.Connection, name: str, upto: datetime) -> None:
    conn.execute(sa.delete(MARKS).where(MARKS.c.name == name))
    conn.execute(sa.insert(MARKS), [{"name": name, "upto": upto}])


def hour_floor(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_midnight(when: datetime, tz: tzinfo) -> datetime:
    local = when.astimezone(tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz).astimezone(UTC)


def next_local_midnight(day_start: datetime, tz: tzinfo) -> datetime:
    """The local midnight after `day_start` (a local midnight), across DST changes."""
    return local_midnight(day_start + timedelta(hours=26), tz)


# rolling -------------------------------------------------------------------------------------
def roll(
    engine: Engine,
    now: datetime,
    *,
    components: Mapping[str, str],
    tz: tzinfo,
    max_hours: int = 24,
) -> RollStats:
    """Roll up to `max_hours` closed hours after the hour mark, then the closed local days.
    `components` maps a check to its component. Call again until `hours` comes back 0."""
    with engine.connect() as conn:
        start = mark(conn, "hour") or _first_hour(conn)
    if start is None:
        return RollStats()
    closed = hour_floor(now - SETTLE)
    end = min(closed, start + max_hours * HOUR)
    hours = results = 0
    if end > start:
        with engine.begin() as conn:
            buckets, results = _check_hours(conn, start, end)
            comp = _component_hours(conn, start, end, buckets, components)
            _replace(conn, CHECK_ROLLUPS, "h", start, end, [_check_row("h", c, t, b) for (c, t), b in buckets.items()])
            _replace(conn, COMPONENT_ROLLUPS, "h", start, end,
                     [_component_row("h", c, t, b) for (c, t), b in comp.items()])
            set_mark(conn, "hour", end)
        hours = int((end - start) / HOUR)
    days = _roll_days(engine, tz)
    return RollStats(hours=hours, days=days, results=results, upto=max(start, end))


def _first_hour(conn: sa.Connection) -> datetime | None:
    # min() keeps the column's type: aware datetimes (or None on an empty table).
    first = [conn.execute(sa.select(sa.func.min(RESULTS.c.ts))).scalar(),
             conn.execute(sa.select(sa.func.min(CHANGES.c.at))).scalar()]
    found = [v for v in first if v is not None]
    return hour_floor(min(found)) if found else None


def _check_hours(conn: sa.Connection, start: datetime, end: datetime) -> tuple[dict[tuple[str, datetime], Bucket], int]:
    """Stream [start, end)'s results in time order into one Bucket per (check, hour)."""
    c = RESULTS.c
    buckets: dict[tuple[str, datetime], Bucket] = {}
    last: dict[tuple[str, str], tuple[datetime, str]] = {}
    n = 0
    stmt = sa.select(c.check, c.location, c.ts, c.status, c.latency_ms).where(c.ts >= start, c.ts < end).order_by(c.ts)
    for check, location, ts, status, latency in conn.execute(stmt.execution_options(yield_per=5000)):
        n += 1
        bucket = _bucket(buckets, check, hour_floor(ts))
        bucket.counts[status] = bucket.counts.get(status, 0) + 1
        if latency is not None:
            k = sketch.bin_of(latency)
            bucket.sketch[k] = bucket.sketch.get(k, 0) + 1
        key = (check, location)
        previous = last.get(key)
        if previous is not None:
            _hold(buckets, check, previous[1], previous[0], min(ts, previous[0] + HOLD))
        last[key] = (ts, status)
    for (check, _location), (ts, status) in last.items():
        _hold(buckets, check, status, ts, min(end, ts + HOLD))
    return buckets, n


def _bucket(buckets: dict[tuple[str, datetime], Bucket], name: str, hour: datetime) -> Bucket:
    found = buckets.get((name, hour))
    if found is None:
        found = buckets[(name, hour)] = Bucket()
    return found


def _hold(buckets: dict[tuple[str, datetime], Bucket], check: str, status: str, a: datetime, b: datetime) -> None:
    """Credit [a, b) to `status`, split at hour boundaries."""
    while a < b:
        hour = hour_floor(a)
        e = min(b, hour + HOUR)
        bucket = _bucket(buckets, check, hour)
        bucket.seconds[status] = bucket.seconds.get(status, 0.0) + (e - a).total_seconds()
        a = e


def _component_hours(
    conn: sa.Connection,
    start: datetime,
    end: datetime,
    checks: Mapping[tuple[str, datetime], Bucket],
    components: Mapping[str, str],
) -> dict[tuple[str, datetime], Bucket]:
    """Seconds per component status from the status history; results and sketches from the
    component's checks."""
    out: dict[tuple[str, datetime], Bucket] = {}
    for cid, changes in _changes(conn, start, end).items():
        for (t0, status), (t1, _) in zip(changes, [*changes[1:], (end, "")], strict=True):
            a, b = max(t0, start), min(t1, end)
            if status in SECONDS_COLUMN:
                _hold(out, cid, status, a, b)
    for (check, hour), bucket in checks.items():
        owner = components.get(check)
        if owner:
            target = _bucket(out, owner, hour)
            for k, n in bucket.counts.items():
                target.counts[k] = target.counts.get(k, 0) + n
            sketch.merge(target.sketch, bucket.sketch)
    return out


def _changes(conn: sa.Connection, start: datetime, end: datetime) -> dict[str, list[tuple[datetime, str]]]:
    """Per component: the status it entered `start` in, then its changes before `end`."""
    t = CHANGES.c
    last_before = sa.select(t.component, sa.func.max(t.id).label("id")).where(t.at < start).group_by(t.component).subquery()
    out: dict[str, list[tuple[datetime, str]]] = {}
    for r in conn.execute(sa.select(t.component, t.at, t.status).join(last_before, t.id == last_before.c.id)):
        out[r.component] = [(r.at, r.status)]
    stmt = sa.select(t.component, t.at, t.status).where(t.at >= start, t.at < end).order_by(t.component, t.at, t.id)
    for r in conn.execute(stmt):
        out.setdefault(r.component, []).append((r.at, r.status))
    return out


def _replace(conn: sa.Connection, table: sa.Table, grain: str, start: datetime, end: datetime,
             rows: list[dict[str, Any]]) -> None:
    conn.execute(sa.delete(table).where(table.c.grain == grain, table.c.start >= start, table.c.start < end))
    for i in range(0, len(rows), 5000):
        conn.execute(sa.insert(table), rows[i : i + 5000])


def _check_row(grain: str, check: str, start: datetime, b: Bucket) -> dict[str, Any]:
    return {
        "grain": grain, "check": check, "start": start, "count": b.count,
        "up": b.counts.get("up", 0), "degraded": b.counts.get("degraded", 0), "down": b.counts.get("down", 0),
        "up_s": b.seconds.get("up", 0.0), "degraded_s": b.seconds.get("degraded", 0.0),
        "down_s": b.seconds.get("down", 0.0), **b.quantiles(), "sketch": sketch.pack(b.sketch),
    }


def _component_row(grain: str, component: str, start: datetime, b: Bucket) -> dict[str, Any]:
    return {
        "grain": grain, "component": component, "start": start,
        **{col: b.seconds.get(status, 0.0) for status, col in SECONDS_COLUMN.items()},
        "count": b.count, "failures": b.counts.get("down", 0), **b.quantiles(),
        "sketch": sketch.pack(b.sketch),
    }


def _roll_days(engine: Engine, tz: tzinfo) -> int:
    """Daily rows for every local day whose hours are all rolled."""
    with engine.connect() as conn:
        hours_upto = mark(conn, "hour")
        day = mark(conn, "day")
        if hours_upto is None:
            return 0
        if day is None:
            found = [v for v in (conn.execute(sa.select(sa.func.min(t.c.start)).where(t.c.grain == "h")).scalar()
                                 for t in (CHECK_ROLLUPS, COMPONENT_ROLLUPS)) if v is not None]
            if not found:
                return 0
            day = local_midnight(min(found), tz)
    done = 0
    while (end := next_local_midnight(day, tz)) <= hours_upto:
        with engine.begin() as conn:
            _roll_day(conn, day, end)
            set_mark(conn, "day", end)
        day = end
        done += 1
    return done


def _roll_day(conn: sa.Connection, start: datetime, end: datetime) -> None:
    for table, name, make in ((CHECK_ROLLUPS, "check", _check_row), (COMPONENT_ROLLUPS, "component", _component_row)):
        sums: dict[str, Bucket] = {}
        for r in conn.execute(sa.select(table).where(table.c.grain == "h", table.c.start >= start, table.c.start < end)):
            sums.setdefault(getattr(r, name), Bucket()).add(_bucket_of(r))
        _replace(conn, table, "d", start, end, [make("d", key, start, b) for key, b in sums.items()])


def _bucket_of(r: Any) -> Bucket:
    """A stored row (check or component) as a Bucket to add up."""
    m = r._mapping
    if "up_s" in m:
        counts = {"up": r.up, "degraded": r.degraded, "down": r.down}
        seconds = {"up": r.up_s, "degraded": r.degraded_s, "down": r.down_s}
    else:
        counts = {"up": m["count"] - r.failures, "down": r.failures}
        seconds = {status: m[col] for status, col in SECONDS_COLUMN.items()}
    return Bucket(counts=counts, seconds=seconds, sketch=sketch.unpack(r.sketch))


# reading -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ComponentBucket:
    component: str
    start: datetime
    seconds: dict[str, float]  # public status -> seconds
    count: int
    failures: int
    sketch: bytes | None
    p50: float | None
    p95: float | None


def component_buckets(
    conn: sa.Connection, grain: str, since: datetime, until: datetime | None = None,
    components: Sequence[str] | None = None, *, with_sketch: bool = False,
) -> Iterator[ComponentBucket]:
    """Component rows of a grain with since <= start < until, by component and start."""
    c = COMPONENT_ROLLUPS.c
    cols = [c.component, c.start, *(c[col] for col in SECONDS_COLUMN.values()), c.count, c.failures, c.p50, c.p95]
    if with_sketch:
        cols.append(c.sketch)
    stmt = sa.select(*cols).where(c.grain == grain, c.start >= since)
    if until is not None:
        stmt = stmt.where(c.start < until)
    if components is not None:
        stmt = stmt.where(c.component.in_(list(components)))
    for r in conn.execute(stmt.order_by(c.component, c.start)):
        m = r._mapping
        yield ComponentBucket(
            r.component, r.start, {s: float(m[col]) for s, col in SECONDS_COLUMN.items()}, int(m["count"]),
            int(r.failures), m["sketch"] if with_sketch else None, r.p50, r.p95,
        )


def component_tallies(
    conn: sa.Connection, grain: str, since: datetime, until: datetime, weights: Sequence[int]
) -> Iterator[tuple[str, int, int, int, int, int, int, int]]:
    """The page's bulk read, the arithmetic done by the database: per row of a grain with
    since <= start < until, (component, start in epoch seconds, then in microseconds: time
    with data, its weighted "up" halves, major outage, partial outage, degraded, maintenance).
    `weights` are the halves each of COMPONENT_STATUSES counts as up (the page's formula).
    Plain tuples: 1,000 components x 90 days is 90,000 rows a render."""
    c = COMPONENT_ROLLUPS.c
    raw_start = sa.type_coerce(c.start, sa.BigInteger)
    us = {st: sa.cast(sa.func.round(c[SECONDS_COLUMN[st]] * 1_000_000), sa.BigInteger) for st in COMPONENT_STATUSES}
    known = sum((us[st] for st in COMPONENT_STATUSES[1:]), us[COMPONENT_STATUSES[0]])
    up = sum((w * us[st] for w, st in zip(weights, COMPONENT_STATUSES, strict=True)), sa.literal(0))
    stmt = sa.select(
        c.component, raw_start, known, up, us["major_outage"], us["partial_outage"], us["degraded_performance"],
        us["under_maintenance"],
    ).where(c.grain == grain, raw_start >= int(since.timestamp()), raw_start < int(until.timestamp()))
    yield from conn.execute(stmt).all()  # one fetchall: row-by-row fetching was half the read


def count_rows(conn: sa.Connection, grain: str, since: datetime, until: datetime) -> int:
    """Component rollup rows of a grain with since <= start < until (a range of the key)."""
    c = COMPONENT_ROLLUPS.c
    raw_start = sa.type_coerce(c.start, sa.BigInteger)
    stmt = sa.select(sa.func.count()).where(
        c.grain == grain, raw_start >= int(since.timestamp()), raw_start < int(until.timestamp())
    )
    return int(conn.execute(stmt).scalar_one())


@dataclass(frozen=True, slots=True)
class CheckBucket:
    check: str
    start: datetime
    count: int
    up: int
    degraded: int
    down: int
    seconds: dict[str, float]
    sketch: bytes | None


def check_buckets(
    conn: sa.Connection, grain: str, since: datetime, until: datetime | None = None, checks: Sequence[str] | None = None
) -> Iterator[CheckBucket]:
    c = CHECK_ROLLUPS.c
    stmt = sa.select(CHECK_ROLLUPS).where(c.grain == grain, c.start >= since)
    if until is not None:
        stmt = stmt.where(c.start < until)
    if checks is not None:
        stmt = stmt.where(c.check.in_(list(checks)))
    for r in conn.execute(stmt.order_by(c.check, c.start)):
        yield CheckBucket(r.check, r.start, int(r._mapping["count"]), r.up, r.degraded, r.down,
                          {"up": r.up_s, "degraded": r.degraded_s, "down": r.down_s}, r.sketch)


def prune(engine: Engine, before: datetime, *, starts: int = 48) -> int:
    """Delete rollup rows that start before `before`, `starts` bucket starts per transaction
    (each start is one row per check or component), by the (grain, start) index."""
    total = 0
    for table in (CHECK_ROLLUPS, COMPONENT_ROLLUPS):
        for grain in ("h", "d"):
            c = table.c
            while True:
                with engine.begin() as conn:
                    found = list(conn.execute(
                        sa.select(c.start).where(c.grain == grain, c.start < before).distinct().order_by(c.start).limit(starts)
                    ).scalars())
                    if not found:
                        break
                    total += conn.execute(sa.delete(table).where(c.grain == grain, c.start.in_(found))).rowcount or 0
    return total


# what the SLO series is filled from ---------------------------------------------------------
def outcomes(session: Session, checks: Sequence[str], since: datetime) -> Iterable[tuple[datetime, str, float | None]]:
    """(ts, status, latency_ms) of the given checks' results since `since`, every location:
    what an SLO series is filled from at start.

    Raw results where every result is still kept; before that (passing results like the one
    before them are pruned after `monitor.retention.passing_results`, monitor.store.retention)
    each hourly rollup stands for its results: `count` outcomes spread over the hour, `down`
    and `degraded` of them with their status, latencies taken from the sketch, the slowest
    given to the failures (timeouts are). Only the 30-day budget and the 3-day window ever
    reach that far back; the paging windows (up to 6 h) are always raw."""
    conn = session.connection()
    complete = mark(conn, "passing")
    r = RESULTS.c
    if complete is not None and complete > since:
        for b in check_buckets(conn, "h", hour_floor(since) + (HOUR if hour_floor(since) < since else timedelta(0)),
                               complete, checks):
            yield from _spread(b)
        since = complete
    stmt = sa.select(r.ts, r.status, r.latency_ms).where(r.check.in_(list(checks)), r.ts >= since)
    # plain tuples, row by row (Result.tuples() is deprecated in SQLAlchemy 2.1)
    yield from ((ts, status, latency_ms) for ts, status, latency_ms in conn.execute(stmt))


def _spread(b: CheckBucket) -> Iterator[tuple[datetime, str, float | None]]:
    if b.count <= 0:
        return
    latencies: list[float | None] = [sketch.value_of(k) for k, n in sorted(sketch.unpack(b.sketch).items(),
                                                                           reverse=True) for _ in range(n)]
    latencies += [None] * (b.count - len(latencies))
    statuses = ["down"] * b.down + ["degraded"] * b.degraded + ["up"] * (b.count - b.down - b.degraded)
    step = HOUR / b.count
    for i, (status, latency) in enumerate(zip(statuses, latencies, strict=False)):
        yield b.start + i * step, status, latency
