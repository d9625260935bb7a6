"""Column types shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def naive_utc(value: datetime) -> datetime:
    """What a UTCDateTime column stores of an aware time: naive UTC. A naive one is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use aware UTC")
    if value.tzinfo is not UTC:  # (the clock's times are UTC already: no conversion)
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def sqlite_text(value: datetime) -> str:
    """naive_utc as SQLite keeps a DateTime: SQLAlchemy's text form, to the microsecond."""
    return naive_utc(value).isoformat(" ", "microseconds")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every engine.

    SQLite has no time zones; PostgreSQL's timestamptz would convert to the session zone.
    Storing naive UTC everywhere keeps comparisons and indexes identical on both.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else naive_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        when: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value  # raw SQLite text
        return when.replace(tzinfo=UTC)


class EpochSeconds(TypeDecorator[datetime]):
    """Aware UTC datetimes stored as whole seconds since the epoch (BIGINT): the bucket starts
    of the rollups, which are whole hours. Half the bytes of the text SQLite keeps for a
    DateTime, in the table and in every index holding it, over millions of rollup rows."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        return int(value.timestamp())

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromtimestamp(int(value), UTC)
