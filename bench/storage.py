"""Benchmark (not a test): what 1,000 checks at 60 s cost on disk after 90 days under the
default retention (raw results 14 days, rollups 400 days), how long the nightly job takes, and
how long the page's 90-day bars take to draw from the rollups. SQLite file, real schema.

    PYTHONPATH=. python bench/storage.py [--checks 1000] [--components 100] [--days 90]
                                         [--interval 60] [--raw-fraction 0.1] [--runs 5]

How the 90 days are simulated in minutes:
* rollups for every check and component, hourly and daily, for days 1..89, are inserted with
  batched Core inserts (the rows the roll-up would have made: counts, seconds per status, a
  latency sketch drawn from a pool of real sketches of 60 log-normal samples an hour);
* raw results, the only table whose size scales with probes, are generated for
  `--raw-fraction` of the checks (every 60 s for the 14 kept days plus the day the nightly job
  is about to prune; 1 % failures in short bursts, stored as the writer stores them: evidence
  only for failures and changes), pruned as the nights before would have (passing results
  without evidence after a day, the rest after 14), and their bytes scaled by 1 / fraction;
* the nightly job runs for real on that database: roll the last day (results of the sampled
  checks; the time scaled by 1 / fraction), prune (a day of passing results and the oldest
  day of the rest, scaled likewise), incremental vacuum. The bars are drawn for every
  component from the rollups.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from monitor.core import sketch
from monitor.core.results import ConditionResult, Result, Status
from monitor.statuspage.history import component_history
from monitor.statuspage.snapshot import day_starts
from monitor.statuspage.uptime import to_us
from monitor.store import Store, pages, retention, rollups
from monitor.store.engine import json_dumps
from monitor.store.incidents import CHANGES
from monitor.store.results import RESULTS, EvidenceFilter, row_of
from monitor.store.types import sqlite_text
from tests.statuspage.statuspage_seed import insert_tuples

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 1, 20, 10, tzinfo=UTC)  # 04:10 local: just after the nightly job's time


def sketch_pool(rng: random.Random, n: int, samples: int) -> list[bytes | None]:
    return [sketch.pack(sketch.of(rng.lognormvariate(5.0, 0.35) for _ in range(samples))) for _ in range(n)]


def insert(store: Store, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[object, ...]],
           batch: int = 20_000) -> None:
    """`rows` (values in `columns`' order, as the driver binds them) in one transaction per
    `batch` rows (2.4 million rollup rows, 2.2 million results)."""
    for i in range(0, len(rows), batch):
        with store.engine.begin() as conn:
            insert_tuples(conn, table, columns, rows[i : i + batch])


CHECK_COLUMNS = ("grain", "check", "start", "count", "up", "degraded", "down", "up_s", "degraded_s", "down_s",
                 "p50", "p95", "p99", "sketch")
COMPONENT_COLUMNS = ("grain", "component", "start", "operational_s", "degraded_s", "partial_s", "major_s",
                     "maintenance_s", "count", "failures", "p50", "p95", "p99", "sketch")


def seed_rollups(store: Store, checks: list[str], comp_of: dict[str, str], first: datetime, last: datetime,
                 rng: random.Random) -> int:
    """Hourly and daily rows for [first, last) (local days), as the roll-up would write them."""
    hourly = sketch_pool(rng, 400, 60)
    daily = sketch_pool(rng, 100, 1440)
    comp_hourly = sketch_pool(rng, 200, 600)
    comp_daily = sketch_pool(rng, 50, 14400)
    components = sorted(set(comp_of.values()))
    n = 0
    day = first
    while day < last:
        end = rollups.next_local_midnight(day, TZ)
        hours = []
        h = day
        while h < end:
            hours.append(int(h.timestamp()))  # the rollups' start column: epoch seconds (EpochSeconds)
            h += timedelta(hours=1)
        d = int(day.timestamp())
        rows: list[tuple[object, ...]] = []
        comp_rows: list[tuple[object, ...]] = []
        for k, check in enumerate(checks):
            for j, h in enumerate(hours):
                down = 1 if rng.random() < 0.01 else 0
                sk = hourly[(k * 31 + j) % len(hourly)]
                rows.append(("h", check, h, 60, 60 - down, 0, down, 3600.0 - 60 * down, 0.0, 60.0 * down,
                             148.0, 260.0, 330.0, sk))
            rows.append(("d", check, d, 1440, 1430, 0, 10, 85800.0, 0.0, 600.0, 148.0, 262.0, 335.0,
                         daily[k % len(daily)]))
        for k, cid in enumerate(components):
            for j, h in enumerate(hours):
                comp_rows.append(("h", cid, h, 3600.0, 0.0, 0.0, 0.0, 0.0, 600, 6, 148.0, 260.0, 330.0,
                                  comp_hourly[(k + j) % len(comp_hourly)]))
            comp_rows.append(("d", cid, d, 86000.0, 0.0, 200.0, 200.0, 0.0, 14400, 100, 148.0, 262.0, 335.0,
                              comp_daily[k % len(comp_daily)]))
        insert(store, rollups.CHECK_ROLLUPS, CHECK_COLUMNS, rows)
        insert(store, rollups.COMPONENT_ROLLUPS, COMPONENT_COLUMNS, comp_rows)
        n += len(rows) + len(comp_rows)
        day = end
    with store.engine.begin() as conn:
        conn.execute(sa.delete(rollups.MARKS))
        conn.execute(sa.insert(rollups.MARKS), [{"name": "hour", "upto": last}, {"name": "day", "upto": last}])
        conn.execute(sa.insert(CHANGES), [{"component": c, "at": first - timedelta(days=1), "status": "operational"}
                                          for c in components])
    return n


class Probe(NamedTuple):
    """What EvidenceFilter reads of a result."""

    check: str
    location: str
    status: Status


RESULT_COLUMNS = ("ts", "check", "location", "status", "latency_ms", "message", "phases", "values", "detail")


def seed_raw(store: Store, checks: list[str], start: datetime, end: datetime, interval: int, rng: random.Random) -> int:
    """Raw results every `interval` s, stored as the writer stores them: the store's
    EvidenceFilter says which keep their evidence; those are whole Results (row_of), the
    rest (a passing probe like the one before it) is the row row_of makes of one without
    evidence: time, check, status, latency and values, built as the tuple the driver binds."""
    keep = EvidenceFilter()
    n = 0
    failing: dict[str, int] = {}
    t = start
    batch: list[tuple[Probe, datetime, float]] = []
    while t < end:
        for k, check in enumerate(checks):
            left = failing.get(check, 0)
            if left == 0 and rng.random() < 0.01 / 3:
                left = 3  # failures come in short bursts
            failing[check] = max(0, left - 1)
            down = left > 0
            batch.append((Probe(check, "local", Status.DOWN if down else Status.UP), t + timedelta(seconds=k * 0.05),
                          10_000.0 if down else rng.lognormvariate(5.0, 0.35)))
        if len(batch) >= 20_000:
            n += _write(store, batch, keep)
            batch = []
        t += timedelta(seconds=interval)
    return n + _write(store, batch, keep)


PASSING_VALUES = json_dumps({"http_status": 200})


def _write(store: Store, batch: list[tuple[Probe, datetime, float]], keep: EvidenceFilter) -> int:
    flags, seen = keep.flags([p for p, _, _ in batch])  # (a Probe is what flags reads of a Result)
    rows = []
    for (probe, at, latency), evidence in zip(batch, flags, strict=True):
        if evidence:
            rows.append(_tuple(row_of(_result(probe, at, latency), evidence=True)))
        else:
            rows.append((sqlite_text(at), probe.check, probe.location, "up", latency, "", None, PASSING_VALUES, None))
    insert(store, RESULTS, RESULT_COLUMNS, rows, batch=len(rows) or 1)
    keep.commit(seen)
    return len(batch)


def _result(probe: Probe, at: datetime, latency: float) -> Result:
    down = probe.status is Status.DOWN
    return Result(
        check=probe.check, status=probe.status, started_at=at, latency_ms=latency, location=probe.location,
        message="timed out after 10s (connect)" if down else "",
        phases={"dns": 0.4, "connect": 1.2, "ttfb": 140.0, "total": 148.0},
        conditions=[ConditionResult("[STATUS] == 200", not down, None if down else 200)],
        values={"http_status": 200} if not down else {"timeout": True},
    )


def _tuple(row: dict[str, Any]) -> tuple[object, ...]:
    """row_of's dict as the driver binds it: the time as SQLite keeps it, JSON as text."""
    return (sqlite_text(row["ts"]), row["check"], row["location"], row["status"], row["latency_ms"], row["message"],
            *(None if row[c] is None else json_dumps(row[c]) for c in ("phases", "values", "detail")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checks", type=int, default=1000)
    ap.add_argument("--components", type=int, default=100)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--interval", type=int, default=60, help="seconds between probes of a check")
    ap.add_argument("--raw-fraction", type=float, default=0.1, help="share of checks whose raw results are generated")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--db", help="SQLite file to build (default: a temporary one)")
    args = ap.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "storage.db"
        path.unlink(missing_ok=True)
        store = Store(f"sqlite:///{path}")
        store.migrate()
        checks = [f"check-{i:04d}" for i in range(args.checks)]
        comp_of = {c: f"c{i % args.components:03d}" for i, c in enumerate(checks)}
        today = rollups.local_midnight(NOW, TZ)
        first = rollups.local_midnight(today - timedelta(days=args.days - 1), TZ)
        yesterday = rollups.local_midnight(today - timedelta(hours=12), TZ)
        t = time.perf_counter()
        seeded = seed_rollups(store, checks, comp_of, first, yesterday, rng)
        base = retention.database_bytes(store.engine)
        print(f"rollups: {seeded:,} rows for {args.checks} checks and {args.components} components x "
              f"{args.days - 1} days in {time.perf_counter() - t:.0f} s; {base / 1e6:.0f} MB")
        sampled = checks[: max(1, round(args.checks * args.raw_fraction))]
        scale = args.checks / len(sampled)
        t = time.perf_counter()
        raw = seed_raw(store, sampled, yesterday - timedelta(days=14), NOW - timedelta(minutes=10), args.interval, rng)
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        with_raw = retention.database_bytes(store.engine)
        print(f"raw: {raw:,} results of {len(sampled)} checks ({args.interval} s, 15 days) in "
              f"{time.perf_counter() - t:.0f} s; {(with_raw - base) / raw:.0f} bytes a result (indexes included)")

        comps = components_of_checks(comp_of, sampled)
        # The nights before: what is kept is 14 days of failures and changes, a day of the rest.
        t = time.perf_counter()
        store.roll_up(NOW - timedelta(days=1), components=comps, tz=TZ)
        retention.prune_all(store.engine, NOW - timedelta(days=1), retention.Policy())
        retention.reclaim(store.engine)
        print(f"previous nights' prune (untimed figure): {time.perf_counter() - t:.0f} s")
        t0 = time.perf_counter()
        rolled = store.roll_up(NOW, components=comps, tz=TZ)
        t1 = time.perf_counter()
        deleted = retention.prune_all(store.engine, NOW, retention.Policy())
        t2 = time.perf_counter()
        freed = retention.reclaim(store.engine)
        t3 = time.perf_counter()
        after = retention.database_bytes(store.engine)
        raw_bytes = (after - base) * scale
        total = base + raw_bytes
        print(f"nightly job (sampled checks): roll {rolled.hours} h of {rolled.results:,} results {t1 - t0:.2f} s, "
              f"prune {deleted['check_result']:,} results {t2 - t1:.2f} s, incremental vacuum {freed:,} pages "
              f"{t3 - t2:.2f} s")
        nightly = (t1 - t0) * scale + (t2 - t1) * scale + (t3 - t2) * scale
        vac = vacuum_time(path)

        with store.engine.connect() as conn:
            have = pages.tables(conn)
            bounds = [to_us(s) for _, s in day_starts(NOW, TZ)] + [to_us(NOW)]
            cids = sorted(set(comp_of.values()))
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                hist = component_history(conn, have, cids, bounds, NOW)
                times.append(time.perf_counter() - t)
            assert len(hist) == len(cids) and all(len(h.days) == 90 for h in hist.values())
        store.close()
        per_day = total / args.checks / args.days
        print()
        print(f"{'figure':<46} {'measured':>14}  target")
        print(f"{'database bytes (rollups + raw scaled x' + format(scale, 'g') + ')':<46} {total / 1e6:>11.0f} MB  < 1 GB")
        print(f"{'  of which rollups (400 d kept, 90 d here)':<46} {base / 1e6:>11.0f} MB")
        print(f"{'  of which raw results (14 d kept)':<46} {raw_bytes / 1e6:>11.0f} MB")
        print(f"{'bytes per check per day':<46} {per_day:>11.0f} B")
        print(f"{'nightly job (roll a day, prune a day, vacuum)':<46} {nightly:>11.1f} s   (sampled x{scale:g})")
        print(f"{'one-time VACUUM to switch an old database':<46} {vac:>11.1f} s   ({after / 1e6:.0f} MB file)")
        print(f"{'90-day bars of ' + str(len(cids)) + ' components from rollups':<46} "
              f"{statistics.median(times) * 1000:>11.0f} ms  (median of {args.runs})")


def components_of_checks(comp_of: dict[str, str], checks: list[str]) -> dict[str, str]:
    return {c: comp_of[c] for c in checks}


def vacuum_time(path: Path) -> float:
    """What switching a database of this size to incremental vacuum costs (one VACUUM)."""
    conn = sqlite3.connect(path)
    t = time.perf_counter()
    conn.execute("VACUUM")
    took = time.perf_counter() - t
    conn.close()
    return took


if __name__ == "__main__":
    main()
