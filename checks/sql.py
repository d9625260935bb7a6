"""`sql`: run one read-only query against a database and judge the answer.

The use case: "has the ERP's invoice table been updated in the last 10 minutes?"

    query: SELECT now() - max(updated_at) FROM invoices
    conditions: ["[VALUE] < 10m"]

[VALUE] is the first column of the first row, [ROW].col a column by name, [ROWS] the number of
rows (up to max_rows). An SQL interval compares as seconds, so `< 10m` just works.

Safety, in layers: the statement is checked at config load (checks.sqlgate); it runs in a
read-only transaction (PostgreSQL) or a query_only connection opened read-only (SQLite);
the database user should only be able to read anyway. Drivers block, so queries run on a
small pool of worker threads of their own (never the loop's default executor, which the
result writer needs); on timeout the running statement is cancelled (PostgreSQL also gets a
statement_timeout) and the probe reports down without waiting for the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from checks.base import Context
from checks.conditions import condition_list, evaluate, failure_message, json_safe, vocabulary
from checks.sqlgate import read_only_problem, url_problem
from checks.timing import Phases, deadline, down
from monitor.core.results import Result, Status
from monitor.core.secrets import safe_url
from monitor.core.spec import CheckSpec

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import SQLAlchemyError

PLACEHOLDERS = vocabulary("an sql check", "VALUE", "ROW", "ROWS", "RESPONSE_TIME")
SERVICE = "sql"  # ctx.services key of the shared engines


class Spec(CheckSpec):
    kind: Literal["sql"]
    url: str = Field(min_length=1, description="SQLAlchemy URL, usually ${ENV}; postgresql:// uses psycopg")
    query: str = Field(min_length=1, max_length=20000, description="one read-only statement")
    max_rows: int = Field(1000, ge=1, le=100000, description="rows fetched at most")
    conditions: condition_list(PLACEHOLDERS) = Field(default_factory=list)  # type: ignore[valid-type]

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("query")
    @classmethod
    def _read_only(cls, value: str) -> str:
        problem = read_only_problem(value)
        if problem:
            raise ValueError(problem)
        return value


@dataclass
class SqlEngines:
    """Engines by URL and the worker threads queries run on; lives in ctx.services["sql"]
    (put there by the composition root; `engines_of` makes one for a bare Context). Shared
    by `sql` checks and `freshness` sources of truth."""

    workers: int = 8
    engines: dict[tuple[str, int], Engine] = field(default_factory=dict)
    executor: ThreadPoolExecutor = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sql-check")

    def engine(self, url: str, connect_timeout: int) -> Engine:
        """The engine for a URL, made on first use (in a worker: the driver import is slow)."""
        key = (url, connect_timeout)
        with self._lock:
            engine = self.engines.get(key)
            if engine is None:
                engine = self.engines[key] = _make_engine(url, connect_timeout)
        return engine

    async def aclose(self) -> None:
        engines, self.engines = self.engines, {}
        for engine in engines.values():
            engine.dispose()
        self.executor.shutdown(wait=False, cancel_futures=True)


def engines_of(ctx: Context) -> SqlEngines:
    """The shared SqlEngines of this context (made and kept there on first use)."""
    service = ctx.services.get(SERVICE)
    if not isinstance(service, SqlEngines):
        service = ctx.services[SERVICE] = SqlEngines()
    return service


def _make_engine(url: str, connect_timeout: int) -> Engine:
    import sqlalchemy as sa  # lazy: CLI start time (a config load needs no engine)

    u = sa.engine.make_url(url)
    args: dict[str, Any] = {}
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            u = u.set(database=f"file:{u.database}", query={**u.query, "mode": "ro", "uri": "true"})
        args["check_same_thread"] = False
        args["timeout"] = connect_timeout
    elif u.get_backend_name() == "postgresql":
        args["connect_timeout"] = connect_timeout
    return sa.create_engine(u, connect_args=args, pool_size=1, max_overflow=4, pool_pre_ping=True, pool_recycle=300)


class _Running:
    """The DBAPI connection a worker is using, so the loop can cancel its statement."""

    raw: Any = None
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        raw = self.raw
        for name in ("cancel_safe", "cancel", "interrupt"):  # psycopg 3, older psycopg, sqlite3
            method = getattr(raw, name, None)
            if method is not None:
                with contextlib.suppress(Exception):  # best effort; the thread ends with an error
                    method()
                return


def _query(
    service: SqlEngines, spec: Spec, seconds: float, running: _Running
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Runs in a worker thread: one read-only transaction, rolled back at the end."""
    engine = service.engine(spec.url, max(2, math.ceil(spec.timeout.total_seconds())))
    with engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        running.raw = raw
        if running.cancelled:
            raise TimeoutError
        cursor = raw.cursor()
        try:
            backend = engine.dialect.name
            if backend == "postgresql":
                cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute(f"SET LOCAL statement_timeout = {max(1, math.ceil(seconds * 1000))}")
            elif backend == "sqlite":
                cursor.execute("PRAGMA query_only = ON")
            cursor.execute(spec.query)
            columns = [d[0] for d in cursor.description or ()]
            rows = [tuple(r) for r in cursor.fetchmany(spec.max_rows + 1)] if cursor.description else []
        finally:
            cursor.close()
            raw.rollback()  # nothing was written; end the read-only transaction either way
    return columns, rows


async def run(spec: Spec, ctx: Context) -> Result:
    from sqlalchemy.exc import SQLAlchemyError  # lazy: CLI start time

    started = ctx.clock.now()
    phases = Phases(ctx.clock)
    service = engines_of(ctx)
    budget = deadline(spec)
    where = safe_url(spec.url)
    running = _Running()
    try:
        loop = asyncio.get_running_loop()
        with phases.phase("query"):
            future = loop.run_in_executor(service.executor, _query, service, spec, budget, running)
            try:
                columns, rows = await asyncio.wait_for(asyncio.shield(future), budget)
            except BaseException:  # timed out, or run_check cancelled us: stop the statement
                if not future.done():
                    running.cancel()
                    future.add_done_callback(_ignore)
                raise
    except TimeoutError:
        return down(spec, started, phases, f"query on {where} timed out after {spec.timeout.total_seconds():g}s")
    except SQLAlchemyError as exc:
        return down(spec, started, phases, f"query on {where} failed: {_db_error(exc)}")
    except Exception as exc:  # DBAPI errors raised outside SQLAlchemy's wrappers (raw cursor)
        return down(spec, started, phases, f"query on {where} failed: {type(exc).__name__}: {str(exc).strip()[:300]}")
    total = phases.total()
    capped = len(rows) > spec.max_rows
    rows = rows[: spec.max_rows]
    values: dict[str, Any] = {"ROWS": len(rows), "RESPONSE_TIME": total["total"]}
    if rows:
        values["VALUE"] = rows[0][0] if rows[0] else None
        values["ROW"] = dict(zip(columns, rows[0], strict=False))
    results = evaluate(spec.conditions, values)
    ok = all(r.ok for r in results)
    shown = f"{'at least ' if capped else ''}{len(rows)} row{'s' if len(rows) != 1 else ''}"
    if ok:
        first = f", first value {json_safe(values['VALUE'])!r}" if rows else ""
        message = f"query returned {shown}{first} in {total['total']:.0f} ms"
    else:
        message = failure_message(results)
    out: dict[str, Any] = {"rows": len(rows), "rows_capped": capped}
    if rows:
        out["value"] = json_safe(values["VALUE"])
    return Result(spec.name, Status.UP if ok else Status.DOWN, started, total["total"], message, total, results, values=out)


def _ignore(future: asyncio.Future[Any]) -> None:
    """Collect the abandoned worker's outcome so asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()


def _db_error(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
