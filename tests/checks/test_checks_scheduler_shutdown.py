"""Shutting the probe scheduler down lets running probes finish and keeps their results.

(APScheduler's asyncio executor cancels running jobs on shutdown; ProbeScheduler pauses
first and waits out the grace period.)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from typing import Any

from aiohttp import web

from checks.base import Context
from checks.http import Spec
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec
from monitor.scheduler import ProbeScheduler


async def test_running_probe_finishes_during_shutdown_grace(http_server: Any, ctx: Context) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(_r: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.Response(text="ok")

    application = web.Application()
    application.router.add_get("/", slow)
    base = await http_server(application)
    results: list[Result] = []

    def on_result(_spec: CheckSpec, result: Result) -> None:
        results.append(result)

    scheduler = ProbeScheduler(ctx, on_result, timezone=UTC)
    scheduler.start([Spec.model_validate({"name": "slow", "kind": "http", "url": f"{base}/", "interval": "1h"})])
    scheduler.recheck_soon("slow", timedelta(0))
    await asyncio.wait_for(arrived.wait(), 5)
    # Released on the loop's next turn: after shutdown() has paused and begun to wait.
    asyncio.get_running_loop().call_soon(release.set)
    await asyncio.wait_for(scheduler.shutdown(grace=5), 5)
    assert [r.status for r in results] == [Status.UP]
