"""Shared fixtures: a moved clock, real SQLite files, real PostgreSQL, real local HTTP servers.

PostgreSQL (127.0.0.1:5432, trust auth, database `test`) and Chromium are skipped locally
when absent and *required* when CI=true: a skip on CI would hide a broken environment.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from monitor.core.clock import FakeClock

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# A command's width is COLUMNS, else its terminal's, else unwrapped (monitor/cli/output.py).
# The suite's output checks must not depend on the shell that runs it (COLUMNS=80 exported
# there failed 6 of them): tests that want a width set COLUMNS themselves.
os.environ.pop("COLUMNS", None)
# Monitors the suite starts (hundreds, in process and as real processes) keep no warm command
# server, and commands never ask one: each would import everything once more. The warm path's
# own tests (tests/cli/test_cli_warm.py) switch it on in the processes they start.
os.environ["INVOICEWATCH_WARM"] = "off"
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_BASE = os.environ.get("INVOICEWATCH_TEST_PG", f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/test")


def require(available: bool, what: str) -> None:
    """Skip locally when a real part is missing; fail on CI, where it must be there."""
    if available:
        return
    if ON_CI:
        pytest.fail(f"{what} is required on CI but not available")
    pytest.skip(f"{what} not available")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# The ports the product listens on by default (status page, simulator). No test may bind a
# fixed port; the suite holds these two for its whole run, so a test whose monitor falls back
# to a default fails at once with "address in use" instead of colliding with a `make run`
# left running (where one already listens, that is the collision this guards against).
DEFAULT_PORTS = (8080, 8900)


@pytest.fixture(scope="session", autouse=True)
def default_ports_taken() -> Iterator[list[int]]:
    held: list[socket.socket] = []
    for port in DEFAULT_PORTS:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
            held.append(sock)
        except OSError:
            sock.close()
    try:
        yield [s.getsockname()[1] for s in held]
    finally:
        for sock in held:
            sock.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path}/invoicewatch.db"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the `test` database, dropped afterwards."""
    require(_port_open(PG_HOST, PG_PORT), "PostgreSQL at 127.0.0.1:5432")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in PG_BASE else "?"
        yield f"{PG_BASE}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run a test once over SQLite and once over PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


async def serve(app: web.Application, runners: list[web.AppRunner]) -> str:
    """Start an aiohttp app on 127.0.0.1 (a free port), its runner added to `runners` (for
    cleanup); returns its base URL. Tests on a loop of their own use it directly."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    runners.append(runner)
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def http_server() -> AsyncIterator[Callable[[web.Application], Any]]:
    """Start aiohttp apps on 127.0.0.1 (free port); returns a function app -> base URL."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        return await serve(app, runners)

    yield start
    for runner in runners:
        await runner.cleanup()
