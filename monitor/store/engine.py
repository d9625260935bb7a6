"""Engines and the small SQL helpers every aggregate module shares.

`make_engine` gives the settings the store relies on (WAL and a busy timeout on SQLite, a
checked pool on PostgreSQL, one JSON encoder for every JSON column); `open_engine` is it with
our error, `exists` tells whether there is a database to read. `upsert` builds the
dialect's INSERT ... ON CONFLICT, which SQLite and PostgreSQL both speak but SQLAlchemy
spells per dialect (each dialect's module is imported by its engine: a read-only command on
SQLite never loads PostgreSQL's). `describe` and `bad_data` turn driver errors into one line and tell a
refused value from a broken database; `log_failure` logs a service's failed pass the way on-call
reads it: a database that went away in one line, a bug with its traceback.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.core.errors import StoreError
from monitor.core.secrets import safe_url


def exists(url: str) -> bool:
    """Whether there is a database at `url` to read, found out without creating one (opening
    a SQLite file creates it, and our engine creates its folder). SQLite: the file exists (an
    in-memory database never does). Other engines create nothing by connecting: True, and a
    database that is not there is the connection's error."""
    if not url.startswith("sqlite"):
        return True
    try:
        path = sa.engine.make_url(url).database
    except (sa.exc.ArgumentError, ValueError):
        return False
    if not path or path == ":memory:" or path.startswith("file:"):
        return False
    return Path(path).is_file()


def open_engine(url: str, *, application_name: str) -> Engine:
    """make_engine, or StoreError naming the database (credentials masked) and why not."""
    try:
        return make_engine(url, application_name=application_name)
    except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:
        raise StoreError(f"cannot open database {safe_url(url)}: {exc}") from None


def make_engine(url: str, *, application_name: str | None = None) -> Engine:
    """An engine with the settings we rely on: WAL and a busy timeout on SQLite; on
    PostgreSQL a checked pool and `application_name` (what pg_stat_activity shows of us)."""
    if url.startswith("sqlite"):
        db = sa.engine.make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=json_dumps
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # A new (empty) database reclaims space incrementally (monitor.store.retention; an
            # older one is switched once by Store.migrate). Only when empty: on an existing
            # file the pragma is a write, which a full disk refuses at every connect.
            cur.execute("PRAGMA page_count")
            if cur.fetchone()[0] == 0:
                cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    connect_args = {"application_name": application_name[:63]} if application_name else {}
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=json_dumps, connect_args=connect_args
    )


def libpq_params(url: str, application_name: str) -> dict[str, Any]:
    """Keyword arguments for `psycopg.connect` from our SQLAlchemy URL: the dedicated
    connections (leadership, LISTEN) speak to the driver directly. Query parameters such as
    `options=-csearch_path=...` are passed on as they are."""
    parsed = sa.engine.make_url(url)
    params: dict[str, Any] = {k: v for k, v in parsed.translate_connect_args(username="user", database="dbname").items()
                              if v is not None}
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    params["application_name"] = application_name[:63]
    return params


def json_dumps(value: Any) -> str:
    """JSON for our JSON columns. Checks measure what they find: an sql check's Decimal or
    date, bytes, NaN. Those are stored as text (NaN/Infinity as null, which PostgreSQL's
    json type requires) rather than failing the whole batch."""
    try:
        return _encode(value)
    except ValueError:
        return _encode(_finite(value))


def _encoder() -> Callable[[Any], str]:
    """One encoder for every row. json.dumps with options builds a JSONEncoder per call and
    JSONEncoder.encode a C encoder per call (half the cost of a small dict): this keeps one
    C encoder, made as JSONEncoder makes it (without the circular-reference memo: our
    values are trees; a cycle still ends in RecursionError)."""
    plain = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=str).encode
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:  # no C accelerator
        return plain
    text = json.encoder.encode_basestring
    chunks = make(None, str, text, None, ": ", ", ", False, False, False)

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return text(value)
        return "".join(chunks(value, 0))

    return encode


_encode = _encoder()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def is_postgres(bind: sa.Connection | Engine) -> bool:
    return bind.dialect.name == "postgresql"


def upsert(bind: sa.Connection | Engine, table: sa.Table) -> Any:
    """`INSERT` with `.on_conflict_do_update/nothing` for this dialect (SQLite or PostgreSQL),
    from the dialect's module (already loaded: the engine's dialect is in it)."""
    dialect = importlib.import_module("sqlalchemy.dialects." + ("postgresql" if is_postgres(bind) else "sqlite"))
    return dialect.insert(table)


def bad_data(exc: SQLAlchemyError) -> bool:
    """True when the database (or the driver, before sending) refused a value, not the
    connection or the schema: retrying the same row would fail forever."""
    if isinstance(exc, sa.exc.DataError):
        return True
    return isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError)


def describe(exc: SQLAlchemyError) -> str:
    """One line: the exception type and the driver's first line of text."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def unavailable(exc: BaseException) -> TypeGuard[sa.exc.DBAPIError]:
    """True when the database itself is the trouble (down, its connection cut, locked, its
    disk full): the driver's `OperationalError` or `InterfaceError`, or a connection
    SQLAlchemy invalidated. A service retries; it is not a bug of ours."""
    return isinstance(exc, sa.exc.DBAPIError) and (
        isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or bool(exc.connection_invalidated))


def log_failure(logger: logging.Logger, message: str, exc: BaseException, *args: Any) -> None:
    """Log a failed pass of a service loop (`message % args`): the database unavailable in
    one warning line with the driver's reason (a cut connection mid-transaction is weather,
    and its 80-line traceback would bury the lines on-call needs), anything else as an error
    with its traceback. Call it from the `except` block."""
    if unavailable(exc):
        logger.warning(message + " (the database: %s)", *args, describe(exc))
    else:
        logger.error(message, *args, exc_info=exc)
