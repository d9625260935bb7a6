"""How fast ResultWriter writes results, and how big a result row is. Not a test: prints figures.

    python bench/store_write.py [--rows 50000] [--batch 500] [--runs 5] [--checks 1000]

For each engine (SQLite in WAL mode in a temp dir; PostgreSQL at 127.0.0.1:5432 database
`test` in a throwaway schema, skipped when absent) and each run: a fresh migrated database,
N realistic results (phases, measured values, a message; `--checks` distinct checks) added to
a running ResultWriter, then `close()` (which flushes). Time is from the first `add` to the
end of `close`, so it covers every batch insert and the check_state upsert. Prints the median
over the runs of rows/s and of this process's CPU per row (steadier on a shared VM; the
PostgreSQL server's own CPU is not in it), and SQLite bytes per row (database pages after a WAL checkpoint, less the
empty schema, divided by N).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.core.results import Result, Status
from monitor.store import ResultWriter, Store

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def results(n: int, checks: int) -> list[Result]:
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    out = []
    for i in range(n):
        up = i % 17 != 0
        out.append(
            Result(
                check=f"check-{i % checks:04d}",
                status=Status.UP if up else Status.DOWN,
                started_at=t0 + timedelta(milliseconds=10 * i),
                latency_ms=12.0 + (i % 50),
                message="" if up else "HTTP 502 from /openapi/invoices (envelope E1002: 系统繁忙)",
                phases={"dns": 0.4, "connect": 1.2, "ttfb": 9.8, "total": 12.1},
                values={"http_status": 200 if up else 502},
                location="local",
            )
        )
    return out


async def one_run(url: str, rows: list[Result], batch: int) -> tuple[float, float]:
    """(rows per second of wall time, microseconds of this process's CPU per row)."""
    store = Store(url)
    await asyncio.to_thread(store.migrate)
    writer = ResultWriter(store, batch_size=batch, interval=1.0)
    writer.start()
    t, cpu = time.perf_counter(), time.process_time()
    for r in rows:
        writer.add(r)
    await writer.close()
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    assert store.count_results() == len(rows) and writer.pending == 0
    store.close()
    return len(rows) / elapsed, cpu / len(rows) * 1e6


def report(name: str, runs: list[tuple[float, float]]) -> None:
    rates = [r for r, _ in runs]
    cpu = statistics.median(c for _, c in runs)
    print(f"{name:<13} {statistics.median(rates):>9,.0f} rows/s  {cpu:5.1f} us CPU/row   runs: {', '.join(f'{r:,.0f}' for r in rates)}")


def sqlite_size(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(pages * size)


def bench_sqlite(args: argparse.Namespace, rows: list[Result]) -> None:
    runs, per_row = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            empty = Path(tmp) / "empty.db"
            Store(f"sqlite:///{empty}").migrate()
            path = Path(tmp) / "bench.db"
            runs.append(asyncio.run(one_run(f"sqlite:///{path}", rows, args.batch)))
            per_row.append((sqlite_size(path) - sqlite_size(empty)) / len(rows))
    report("sqlite (WAL)", runs)
    print(f"{'sqlite':<13} {statistics.median(per_row):>9.0f} bytes/row (table and its two indexes)")


def postgres_unreachable(pg_url: str) -> str | None:
    """Why PostgreSQL at `pg_url` cannot be used (its first line), or None."""
    admin = sa.create_engine(pg_url, poolclass=sa.NullPool)
    try:
        with admin.connect():
            return None
    except sa.exc.OperationalError as exc:
        return str(exc.orig).splitlines()[0]
    finally:
        admin.dispose()


@contextlib.contextmanager
def pg_schema(pg_url: str) -> Iterator[str]:
    """A throwaway schema: yields the URL that puts it first on the search path."""
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bench_postgres(args: argparse.Namespace, rows: list[Result]) -> None:
    if (why := postgres_unreachable(args.pg_url)) is not None:
        print(f"postgresql    skipped: {why}")
        return
    runs = []
    for _ in range(args.runs):
        with pg_schema(args.pg_url) as url:
            runs.append(asyncio.run(one_run(url, rows, args.batch)))
    report("postgresql", runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--pg-url", default=PG_BASE)
    args = parser.parse_args()
    rows = results(args.rows, args.checks)
    print(f"ResultWriter: {args.rows:,} results, batches of {args.batch}, {args.checks} checks, median of {args.runs} runs")
    bench_sqlite(args, rows)
    bench_postgres(args, rows)


if __name__ == "__main__":
    main()
