"""Fixtures for the platform tests: the real simulator on 127.0.0.1 sharing the test's
FakeClock, and a monitor context (config -> registry) built the way `invoicewatch run` does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from monitor.core.clock import FakeClock
from tests.checks.conftest import hostile, tcp_server  # noqa: F401 - the same hostile targets as the generic kinds' contract
from tests.platform.platform_kit import Env, SimHandle, sim_settings


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[SimHandle]:
    from monitor.simulator import Simulator, serve

    simulator = Simulator(clock, seed=7, settings=sim_settings())
    runner, url = await serve(simulator, port=0)
    handle = SimHandle(simulator, url)
    try:
        yield handle
    finally:
        await handle.aclose()
        await runner.cleanup()


@pytest.fixture
async def make_env(clock: FakeClock, tmp_path: Any) -> AsyncIterator[Any]:
    envs: list[Env] = []

    def make(config_text: str, *, env: dict[str, str] | None = None, database: bool = True) -> Env:
        e = Env.load(config_text, clock=clock, tmp_path=tmp_path, env=env or {}, database=database)
        envs.append(e)
        return e

    yield make
    for e in envs:
        await e.aclose()
