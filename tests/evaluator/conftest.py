"""Fixtures of deciding: the incident service on a real database (see deciding_kit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from monitor.config import Config
from monitor.core.clock import FakeClock
from monitor.incidents.service import IncidentService
from monitor.runtime import Monitor
from tests.evaluator.deciding_kit import Running


@pytest.fixture
async def boot() -> AsyncIterator[Callable[[Config, FakeClock], Any]]:
    started: list[Running] = []

    async def start(config: Config, clock: FakeClock) -> Running:
        monitor = Monitor(config, clock=clock, services=[])
        svc = IncidentService(
            monitor.store, config, clock=clock, bus=monitor.bus, recheck=monitor.scheduler.recheck_soon, autorun=False
        )
        monitor.services = [svc]
        await asyncio.to_thread(monitor.store.migrate)
        await svc.start()
        r = Running(monitor, svc)
        started.append(r)
        return r

    yield start
    for r in started:
        if not r.closed:
            await r.close()
