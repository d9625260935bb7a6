"""The sql kind over real SQLite files and the PostgreSQL fixture; the read-only gate."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from checks import run_check
from checks.base import Context
from checks.sql import Spec
from checks.sqlgate import known_url, read_only_problem
from monitor.core.results import Status


def spec(url: str, query: str, **kw: Any) -> Spec:
    return Spec.model_validate({"name": "erp", "kind": "sql", "url": url, "query": query, **kw})


@pytest.fixture
def erp_sqlite(tmp_path: Path) -> str:
    """An ERP-like SQLite file: invoices updated 3 minutes ago."""
    path = tmp_path / "erp.db"
    now = datetime.now(UTC)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (no TEXT, amount REAL, updated_at REAL)")
        conn.executemany(
            "INSERT INTO invoices VALUES (?, ?, ?)",
            [(f"0440019{i:05d}", 10.5 * i, (now - timedelta(minutes=3 + i)).timestamp()) for i in range(5)],
        )
    return f"sqlite:///{path}"


FRESHNESS = "SELECT strftime('%s','now') - max(updated_at) AS lag_s, count(*) AS n FROM invoices"


async def test_freshness_query_is_up_when_recent(erp_sqlite: str, ctx: Context) -> None:
    result = await run_check(spec(erp_sqlite, FRESHNESS, conditions=["[VALUE] < 10m", "[ROW].n == 5", "[ROWS] == 1"]), ctx)
    assert result.status is Status.UP, result.message
    assert result.conditions[0].actual == pytest.approx(180, abs=5)
    assert result.values["rows"] == 1 and result.values["value"] == pytest.approx(180, abs=5)
    assert re.match(r"query returned 1 row, first value 1[78]\d(\.\d+)? in \d+ ms$", result.message)
    assert "query" in result.phases


async def test_stale_data_is_down_with_the_lag(erp_sqlite: str, ctx: Context) -> None:
    result = await run_check(spec(erp_sqlite, FRESHNESS, conditions=["[VALUE] < 1m"]), ctx)
    assert result.status is Status.DOWN
    assert re.match(r"\[VALUE\] < 1m failed: actual 1[78]\d", result.message)


async def test_no_rows_leaves_value_missing(erp_sqlite: str, ctx: Context) -> None:
    result = await run_check(spec(erp_sqlite, "SELECT no FROM invoices WHERE amount < 0", conditions=["[VALUE] != \"\""]), ctx)
    assert result.status is Status.DOWN
    assert result.conditions[0].error == "[VALUE]: no value in this result"


async def test_rows_are_capped_at_max_rows(erp_sqlite: str, ctx: Context) -> None:
    result = await run_check(spec(erp_sqlite, "SELECT * FROM invoices", max_rows=2, conditions=["[ROWS] == 2"]), ctx)
    assert result.status is Status.UP, result.message
    assert result.values["rows_capped"] is True
    assert "at least 2 rows" in result.message


async def test_sqlite_file_is_opened_read_only(erp_sqlite: str, ctx: Context) -> None:
    # The config gate refuses this statement; build the spec past it to test the next layer.
    sneaky = spec(erp_sqlite, "SELECT 1").model_copy(update={"query": "DELETE FROM invoices"})
    result = await run_check(sneaky, ctx)
    assert result.status is Status.DOWN
    assert "readonly" in result.message.replace("-", "").replace(" ", "").lower()
    path = sa.engine.make_url(erp_sqlite).database
    with sqlite3.connect(str(path)) as conn:
        assert conn.execute("SELECT count(*) FROM invoices").fetchone() == (5,)


async def test_missing_sqlite_file_is_down_not_created(tmp_path: Path, ctx: Context) -> None:
    missing = tmp_path / "nope.db"
    result = await run_check(spec(f"sqlite:///{missing}", "SELECT 1"), ctx)
    assert result.status is Status.DOWN
    assert "unable to open database file" in result.message
    assert not missing.exists()


async def test_runaway_sqlite_query_is_interrupted_at_the_timeout(erp_sqlite: str, ctx: Context) -> None:
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    result = await run_check(spec(erp_sqlite, endless, timeout="0.5s"), ctx)
    assert result.status is Status.DOWN
    assert result.message.endswith("timed out after 0.5s")
    assert "timeout" not in result.values  # the kind stopped itself, naming the query


async def test_database_url_password_never_appears(tmp_path: Path, ctx: Context) -> None:
    result = await run_check(spec("postgresql://monitor:s3cret-pw@127.0.0.1:1/erp", "SELECT 1", timeout="2s"), ctx)
    assert result.status is Status.DOWN
    assert "s3cret-pw" not in result.message
    assert "monitor:***@127.0.0.1:1/erp" in result.message


@pytest.mark.postgres
async def test_postgres_freshness_with_interval(pg_url: str, ctx: Context) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (no text, updated_at timestamptz)"))
        conn.execute(sa.text("INSERT INTO invoices VALUES ('1', now() - interval '4 minutes')"))
    engine.dispose()
    query = "SELECT now() - max(updated_at) AS lag, count(*) AS n FROM invoices WHERE no LIKE '1%'"
    result = await run_check(spec(pg_url, query, conditions=["[VALUE] < 10m", "[VALUE] > 3m", "[ROW].n == 1"]), ctx)
    assert result.status is Status.UP, result.message
    assert result.conditions[0].actual == pytest.approx(240, abs=10)


@pytest.mark.postgres
async def test_postgres_runs_in_a_read_only_transaction(pg_url: str, ctx: Context) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (no text)"))
        conn.execute(sa.text("INSERT INTO invoices VALUES ('1')"))
    sneaky = spec(pg_url, "SELECT 1").model_copy(
        update={"query": "WITH d AS (DELETE FROM invoices RETURNING *) SELECT count(*) FROM d"}
    )
    result = await run_check(sneaky, ctx)
    assert result.status is Status.DOWN
    assert "read-only transaction" in result.message
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM invoices")).scalar() == 1
    engine.dispose()


@pytest.mark.postgres
async def test_postgres_slow_query_is_cancelled_at_the_timeout(pg_url: str, ctx: Context) -> None:
    result = await run_check(spec(pg_url, "SELECT pg_sleep(30)", timeout="1s"), ctx)
    assert result.status is Status.DOWN
    assert result.message.endswith("timed out after 1s")


# -- the read-only gate -----------------------------------------------------------------------------
ALLOWED = [
    "SELECT 1",
    "  select count(*) from invoices;  ",
    "-- freshness\nSELECT now() - max(updated_at) FROM invoices",
    "/* lag */ WITH t AS (SELECT 1) SELECT * FROM t",
    "SHOW server_version",
    "EXPLAIN SELECT * FROM invoices",
    "EXPLAIN ANALYSE SELECT 1",
    "SELECT 'DELETE FROM x; DROP TABLE y' AS s",
    'SELECT "update" FROM t',
    "SELECT $$ INSERT $$",
    "SELECT updated_at, inserted_by FROM t",
    "SELECT 'it''s' ; -- trailing comment",
]
REJECTED = [
    ("", "the query is empty"),
    ("-- only a comment", "the query is empty"),
    ("DELETE FROM invoices", "must start with SELECT, WITH, SHOW, EXPLAIN; found 'DELETE'"),
    ("UPDATE invoices SET x = 1", "found 'UPDATE'"),
    ("select 1; drop table invoices", "only one statement may run"),
    ("SELECT 1;; SELECT 2", "only one statement may run"),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "'DELETE' at character 12 is not allowed"),
    ("EXPLAIN ANALYZE DELETE FROM t", "'DELETE' at character 17 is not allowed"),
    ("SELECT * INTO backup FROM t", "'INTO'"),
    ("SELECT * FROM t FOR UPDATE", "'UPDATE'"),
    ("SELECT 'unterminated", "quote at character 8 is never closed"),
    ("SELECT 1 /* open", "comment is never closed"),
    ("SELECT $x$ open", "$x$ quote at character 8 is never closed"),
    ("PRAGMA writable_schema = 1", "found 'PRAGMA'"),
]


@pytest.mark.parametrize("query", ALLOWED)
def test_read_only_statements_pass_the_gate(query: str) -> None:
    assert read_only_problem(query) is None


@pytest.mark.parametrize(("query", "problem"), REJECTED)
def test_writing_or_odd_statements_are_refused_at_config_load(query: str, problem: str) -> None:
    assert problem in (read_only_problem(query) or "")
    with pytest.raises(ValidationError):
        spec("sqlite:///x.db", query)


def test_hostile_query_text_is_judged_quickly() -> None:
    assert read_only_problem("SELECT " + "'a'," * 20000 + "1") is None
    assert read_only_problem("SELECT " + "(" * 50000) is None  # the database will complain, not us


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"url": "not a url"}, "not a database URL"),
        ({"conditions": ["[STATUS] == 200"]}, "[STATUS] is not available in an sql check"),
        ({"max_rows": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_sql_spec_is_a_config_error(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Spec.model_validate({"name": "x", "kind": "sql", "url": "sqlite:///x.db", "query": "SELECT 1", **extra})


URLS = [
    "sqlite:///var/invoicewatch.db", "sqlite://", "sqlite:////abs/path.db?mode=ro", "sqlite+pysqlite:///x.db",
    "postgresql://user@db.example.com/iw", "postgresql+psycopg://u:p%40ss@10.0.0.5:5432/iw?sslmode=require",
    "postgresql+psycopg2://[::1]:6543/iw", "postgresql://h:/db", "postgresql://u:pw@h:99999/db",
    "postgresql://h:12x/db", "postgresql://h:\u0661\u0662/db", "postgresql+psycopg://@h/db", "sqlite:/x.db",
    "mysql://db/x", "nosuch://x", "postgresql+nosuch://h/db", "not a url",
]


@pytest.mark.parametrize("url", URLS)
def test_urls_parsed_without_sqlalchemy_read_as_sqlalchemy_reads_them(url: str) -> None:
    """known_url (the config load's fast path) answers only for built-in dialects, and then
    exactly as SQLAlchemy's make_url does; every other URL it leaves to SQLAlchemy."""
    known = known_url(url)
    try:
        parsed = sa.engine.make_url(url)
        parsed.get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError):
        assert known is None
        return
    if known is not None:
        assert known == (parsed.get_backend_name(), parsed.host, parsed.port)


def test_the_fast_path_covers_the_urls_people_write() -> None:
    assert known_url("sqlite:///var/invoicewatch.db") == ("sqlite", None, None)
    assert known_url("postgresql+psycopg://iw@10.0.0.5:5432/iw") == ("postgresql", "10.0.0.5", 5432)
    assert known_url("mysql://db/x") is None
