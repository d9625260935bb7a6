"""Fixtures for the simulator tests: a Simulator on a FakeClock served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from monitor.config.simulator import SimulatorSection
from monitor.core.clock import FakeClock
from monitor.simulator import Simulator, create_app
from tests.simulator.simulator_kit import Baiwang, Nuonuo, settings


@pytest.fixture
def sim_settings() -> SimulatorSection:
    return settings()


@pytest.fixture
def sim(clock: FakeClock, sim_settings: SimulatorSection) -> Simulator:
    return Simulator(clock, seed=7, settings=sim_settings)


@pytest.fixture
async def base_url(sim: Simulator, http_server: Callable[..., Any]) -> str:
    url: str = await http_server(create_app(sim))
    return url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0, trust_env=False) as c:
        yield c


@pytest.fixture
def nuonuo(client: httpx.AsyncClient, clock: FakeClock) -> Nuonuo:
    return Nuonuo(client, clock)


@pytest.fixture
def baiwang(client: httpx.AsyncClient, clock: FakeClock) -> Baiwang:
    return Baiwang(client, clock)
