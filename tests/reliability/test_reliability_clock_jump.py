"""The wall clock set an hour ahead or back while checks run: no bogus incident or unknown
status, and an outage after the jump is detected as fast as ever. Durations come from the
monotonic clock; FakeClock.jump moves the wall clock alone, as NTP stepping it does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.core.clock import FakeClock
from monitor.core.results import Result, Status
from monitor.store.incidents import INCIDENTS
from monitor.store.outbox import OUTBOX
from tests.evaluator.deciding_kit import write_config

EVERY = 10.0  # the check's interval


async def run(r: Any, clock: FakeClock, status: str, n: int) -> None:
    """n results a check interval apart (monotonic and wall move together), a tick after each
    and a sweep half-way between results."""
    spec = r.monitor.config.check("api")
    for _ in range(n):
        await r.svc.on_result(spec, Result("api", Status(status), clock.now(), 3.0, f"api {status}", location="local"))
        await r.svc.tick()
        clock.advance(EVERY / 2)
        await r.svc.tick()
        clock.advance(EVERY / 2)


def rows(r: Any, table: sa.Table) -> list[Any]:
    with r.store.engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(table.c.id)))


@pytest.mark.parametrize("jump", [timedelta(hours=1), timedelta(hours=-1)])
async def test_a_wall_clock_jump_opens_nothing_and_misses_nothing(tmp_path, sqlite_url, clock, boot, jump) -> None:
    r = await boot(write_config(tmp_path, sqlite_url), clock)
    await run(r, clock, "up", 3)
    clock.jump(jump)
    await r.svc.tick()  # a sweep right after the jump, before the next result
    assert r.svc.states["api"].stale is False and r.svc.states["api"].fresh_health == "up"
    await run(r, clock, "up", 30)  # five minutes of normal probing after the jump
    assert rows(r, INCIDENTS) == [] and rows(r, OUTBOX) == []
    assert all(s.fresh_health == "up" for s in r.svc.states.values())

    failed_at = clock.now()
    await run(r, clock, "down", 3)  # failure_threshold 3, as before the jump
    [inc] = rows(r, INCIDENTS)
    assert inc.started_at == failed_at and timedelta(0) <= inc.detected_at - inc.started_at <= timedelta(seconds=3 * EVERY)
    assert [o.event for o in rows(r, OUTBOX)] == ["incident.opened"]


async def test_a_check_that_goes_silent_is_still_stale_after_the_clock_goes_back(tmp_path, sqlite_url, clock, boot) -> None:
    r = await boot(write_config(tmp_path, sqlite_url), clock)
    await run(r, clock, "up", 3)
    clock.jump(timedelta(hours=-1))
    clock.advance(60)  # a minute without results, by the monotonic clock
    await r.svc.tick()
    assert r.svc.states["api"].stale is True
