"""The `heartbeat` kind and its push endpoint: real pings over HTTP into a real database, a
moved clock for the deadlines (period + grace, schedule, max_runtime)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiohttp import web

from checks.base import Context
from checks.client import HttpClientFactory
from checks.heartbeat import SERVICE, Spec, run
from monitor.config import load_config
from monitor.config.status_page import StatusPageSection
from monitor.core.clock import FakeClock
from monitor.core.errors import ConfigError
from monitor.core.results import Status
from monitor.core.secrets import Redactor
from monitor.push import PER_TOKEN, PushEndpoint
from monitor.server import make_app
from monitor.store import Store
from monitor.store.pings import SqlPingLedger

TOKEN = "nightly-backup-token-7f3a9c"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    store = Store(url)
    store.migrate()
    yield url
    store.close()


def spec(**kw: Any) -> Spec:
    base: dict[str, Any] = {"name": "备份", "kind": "heartbeat", "token": TOKEN, "period": "1d", "grace": "1h"}
    return Spec.model_validate({**base, **kw})


def context(clock: FakeClock, ledger: SqlPingLedger) -> Context:
    return Context(clock=clock, http=HttpClientFactory(), redactor=Redactor([TOKEN]), services={SERVICE: ledger})


async def test_down_after_period_plus_grace_and_up_again_after_a_ping(db: str) -> None:
    clock = FakeClock(T0)
    ledger = SqlPingLedger(db)
    ctx, s = context(clock, ledger), spec()
    await ledger.record("备份", "success", clock.now())
    assert (await run(s, ctx)).status is Status.UP
    clock.advance(timedelta(days=1, hours=1) - timedelta(seconds=1))
    assert (await run(s, ctx)).status is Status.UP
    clock.advance(2)
    late = await run(s, ctx)
    assert late.status is Status.DOWN
    assert "no ping: last ping" in late.message and "1d" in late.message
    await ledger.record("备份", "success", clock.now())
    assert (await run(s, ctx)).status is Status.UP
    await ledger.aclose()


async def test_a_check_never_pinged_counts_from_when_it_was_first_watched(db: str) -> None:
    clock = FakeClock(T0)
    ledger = SqlPingLedger(db)
    ctx, s = context(clock, ledger), spec(period="10m", grace="5m")
    first = await run(s, ctx)
    assert (first.status, first.message) == (Status.UP, "waiting for the first ping")
    clock.advance(timedelta(minutes=15, seconds=1))
    result = await run(s, ctx)
    assert result.status is Status.DOWN and "never pinged" in result.message
    await ledger.aclose()


async def test_a_fail_ping_is_down_until_the_next_success(db: str) -> None:
    clock = FakeClock(T0)
    ledger = SqlPingLedger(db)
    ctx, s = context(clock, ledger), spec()
    await ledger.record("备份", "success", clock.now())
    clock.advance(60)
    await ledger.record("备份", "fail", clock.now())
    clock.advance(60)
    down = await run(s, ctx)
    assert down.status is Status.DOWN and "reported a failure 1m ago" in down.message
    clock.advance(60)
    await ledger.record("备份", "success", clock.now())
    assert (await run(s, ctx)).status is Status.UP
    await ledger.aclose()


async def test_schedule_and_max_runtime(db: str) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 17, 0, tzinfo=UTC))  # 01:00 in Shanghai
    ledger = SqlPingLedger(db)
    nightly = spec(period=None, schedule="0 2 * * *", grace="30m", max_runtime="20m")
    ctx = context(clock, ledger)
    assert (await run(nightly, ctx)).status is Status.UP  # nothing due yet
    clock.advance(timedelta(hours=1, minutes=5))  # 02:05: the run started
    await ledger.record("备份", "start", clock.now())
    assert (await run(nightly, ctx)).status is Status.UP
    clock.advance(timedelta(minutes=21))
    hung = await run(nightly, ctx)
    assert hung.status is Status.DOWN and "has not finished" in hung.message
    await ledger.record("备份", "success", clock.now())
    assert (await run(nightly, ctx)).status is Status.UP
    clock.advance(timedelta(days=1, minutes=10))  # 02:36 the next night: due 02:00, no ping by 02:30
    missed = await run(nightly, ctx)
    assert missed.status is Status.DOWN and "did not ping within 30m" in missed.message
    await ledger.aclose()


@pytest.fixture
async def push_server(db: str, http_server: Any) -> Any:
    clock = FakeClock(T0)
    ledger = SqlPingLedger(db)
    endpoint = PushEndpoint(ledger, clock, [spec(), spec(name="导出", token="erp-export-token-42aa91")])
    app: web.Application = make_app(Path(db.removeprefix("sqlite:///")).parent, StatusPageSection(), push=endpoint)
    base = await http_server(app)
    yield base, endpoint, clock, ledger
    await ledger.aclose()


async def test_pings_over_http_are_stored_and_survive_a_new_ledger(push_server: Any, db: str) -> None:
    base, endpoint, clock, _ledger = push_server
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get(f"/push/{TOKEN}")).status_code == 200
        clock.advance(5)
        assert (await client.post(f"/push/{TOKEN}/start", content=b"log line")).status_code == 200
        assert (await client.get("/push/erp-export-token-42aa91/fail")).status_code == 200
        assert (await client.get(f"/push/{TOKEN}/bogus")).status_code == 404
        assert (await client.get("/push/nightly-backup-token-7f3a9d")).status_code == 404  # one character off
    again = SqlPingLedger(db)  # a restarted monitor reads what was recorded
    last = await again.last("备份")
    assert (last.success, last.start, last.fail) == (T0, T0 + timedelta(seconds=5), None)
    assert (await again.last("导出")).fail == T0 + timedelta(seconds=5)
    await again.aclose()
    assert endpoint.pings == 3


async def test_a_ping_changes_nothing_else(push_server: Any, db: str) -> None:
    base, *_ = push_server
    engine = sa.create_engine(db)

    def counts() -> dict[str, int]:
        with engine.connect() as conn:
            names = [n for n in sa.inspect(conn).get_table_names() if n != "alembic_version"]
            return {n: int(conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names}

    before = counts()
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get(f"/push/{TOKEN}/fail")).status_code == 200
    after = counts()
    engine.dispose()
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {"heartbeat_ping": 1}


async def test_body_size_and_rate_are_limited_per_token(push_server: Any) -> None:
    base, _endpoint, clock, _ = push_server
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.post(f"/push/{TOKEN}", content=b"x" * 20_000)).status_code == 413
        codes = [(await client.get(f"/push/{TOKEN}")).status_code for _ in range(PER_TOKEN + 2)]
        assert codes == [200] * PER_TOKEN + [429, 429]
        refused = await client.get(f"/push/{TOKEN}")
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await client.get("/push/erp-export-token-42aa91")).status_code == 200  # another token is not held up
        clock.advance(61)
        assert (await client.get(f"/push/{TOKEN}")).status_code == 200


def test_a_token_written_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"checks:\n  - {{name: b, kind: heartbeat, token: {TOKEN}, period: 1d}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert any("checks[0].token" in str(p) and "${ENV}" in str(p) for p in err.value.problems)
    path.write_text("checks:\n  - {name: b, kind: heartbeat, token: '${HB_TOKEN}', period: 1d}\n", encoding="utf-8")
    config = load_config(path, env={"HB_TOKEN": TOKEN})
    assert TOKEN in config.secrets
