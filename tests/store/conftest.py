"""Fixtures of the store suite: a migrated Store on a fresh SQLite file and on a fresh
PostgreSQL schema (every test taking `store` runs on both; `pg_store` on PostgreSQL only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from monitor.store import Store


def _migrated(url: str) -> Iterator[Store]:
    s = Store(url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    yield from _migrated(db_url)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    """PostgreSQL only: what two controllers on one database need (SQLite has one writer)."""
    yield from _migrated(pg_url)


@pytest.fixture
def t0() -> datetime:
    return datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
