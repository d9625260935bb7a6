"""Hostile bodies and hard deadlines (issue 13): against real aiohttp servers on 127.0.0.1.

- A compression bomb (gzip, deflate both ways, br, gzip-then-br) is inflated at most up to the
  body cap plus one step, whatever its encoding; a healthy control check on its own schedule
  beside several bombs stays up and the process's peak RSS stays bounded.
- The check's timeout is one hard deadline for the whole probe: a 1 byte/s drip and a hang
  end at the timeout (the result's latency says so), for the http kind and for flow steps
  (the platform session).

Timeouts are several seconds and the bounds generous; the drips and hangs run side by side,
so the module takes about one timeout of wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import brotli
import pytest
from aiohttp import web

from checks import KINDS, run_check
from checks.base import Context
from checks.client import DEFAULT_MAX_BODY, STEP
from monitor.config import Config
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec
from monitor.runtime import close_context, make_context
from monitor.scheduler import ProbeScheduler

INFLATED = 128 * 1024 * 1024  # each bomb inflates to 128 MiB of zeros
TIMEOUT = 4.0


@functools.cache
def bombs() -> dict[str, tuple[str, bytes]]:
    """path -> (Content-Encoding, body): 128 MiB of zeros, each a few hundred KB on the wire."""
    zeros = b"\0" * (1 << 20)

    def deflate(wbits: int) -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        return b"".join([*(c.compress(zeros) for _ in range(INFLATED // len(zeros))), c.flush()])

    gz = deflate(31)
    return {
        "gzip": ("gzip", gz),
        "zlib-deflate": ("deflate", deflate(15)),
        "raw-deflate": ("deflate", deflate(-15)),
        "br": ("br", brotli.compress(b"\0" * INFLATED, quality=4)),
        "gzip-br": ("gzip, br", brotli.compress(gz)),
    }


def bomb_app() -> web.Application:
    async def bomb(request: web.Request) -> web.Response:
        encoding, body = bombs()[request.match_info["name"]]
        return web.Response(body=body, headers={"Content-Encoding": encoding, "Content-Type": "application/json"})

    async def ok(_r: web.Request) -> web.Response:
        return web.json_response({"code": "E0000"})

    app = web.Application()
    app.router.add_get("/bomb/{name}", bomb)
    app.router.add_get("/ok", ok)
    return app


def http(name: str, url: str, **kw: Any) -> CheckSpec:
    spec: CheckSpec = KINDS["http"].Spec.model_validate({"name": name, "kind": "http", "url": url, **kw})
    return spec


@pytest.mark.parametrize("name", list(bombs()))
async def test_bomb_inflates_no_more_than_the_cap(name: str, http_server: Any, ctx: Context) -> None:
    base = await http_server(bomb_app())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = await run_check(http(name, f"{base}/bomb/{name}", timeout="10s", interval="1m"), ctx)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert result.status is Status.UP, result.message
    assert result.values["body_bytes"] == DEFAULT_MAX_BODY and result.values["body_truncated"] is True
    assert result.message.endswith(f"(body truncated at {DEFAULT_MAX_BODY} bytes)")
    # The cap, a copy of it, one inflation step (brotli may overshoot a step by half) and the
    # compressed bytes in flight; httpx's own decoder inflated one network read at once (64 MiB).
    assert peak < 3 * DEFAULT_MAX_BODY + 2 * STEP + len(bombs()[name][1]) + 2 * 1024 * 1024, peak


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


async def test_control_check_stays_up_beside_bombs_and_rss_stays_bounded(http_server: Any, ctx: Context) -> None:
    base = await http_server(bomb_app())
    control = http("control", f"{base}/ok", interval="3s", timeout="3s", conditions=["[BODY].code == E0000"])
    specs = [control] + [http(f"bomb-{n}-{i}", f"{base}/bomb/{n}", interval="1s", timeout="1s") for n in bombs() for i in range(2)]
    results: dict[str, list[Result]] = {}
    done = asyncio.Event()

    def on_result(spec: CheckSpec, result: Result) -> None:
        results.setdefault(spec.name, []).append(result)
        if len(results.get("control", [])) >= 2:
            done.set()

    Path("/proc/self/clear_refs").write_text("5")  # start the peak-RSS count afresh
    rss_before = _status_kb("VmRSS")
    scheduler = ProbeScheduler(ctx, on_result, timezone=UTC)
    scheduler.start(specs)
    try:
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        await scheduler.shutdown(grace=5)
    peak_growth_mb = (_status_kb("VmHWM") - rss_before) / 1024
    controls = results["control"]
    assert [r.status for r in controls] == [Status.UP] * len(controls), [r.message for r in controls]
    assert sum(len(v) for k, v in results.items() if k.startswith("bomb")) >= 10  # the bombs did run
    # Ten bombs at once, each inflated at most ~1 MiB; httpx's decoder took 64 MiB per read.
    assert peak_growth_mb < 100, f"peak RSS grew {peak_growth_mb:.0f} MB"


# -- hard deadlines -------------------------------------------------------------------------
def slow_app(holding: set[str], release: asyncio.Event) -> web.Application:
    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000", "Content-Type": "text/plain"})
        await response.prepare(request)
        holding.add(request.path)
        for _ in range(60):  # bounded: one byte a second for a minute at most
            try:
                await response.write(b"x")
            except (ConnectionError, RuntimeError):
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), 1)
            if release.is_set():
                break
        return response

    async def hang(request: web.Request) -> web.Response:
        holding.add(request.path)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 60)  # until the test ends (bounded)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/drip", drip)
    app.router.add_get("/hang", hang)
    return app


async def _timed(check: Callable[[], Awaitable[Result]]) -> tuple[Result, float]:
    began = time.monotonic()
    result = await check()
    return result, time.monotonic() - began


async def test_drip_and_hang_end_at_the_timeout_for_http_and_flow(http_server: Any, make_ctx: Any) -> None:
    holding: set[str] = set()
    release = asyncio.Event()
    base = await http_server(slow_app(holding, release))
    ctx = make_ctx()
    flow_ctx = make_context(Config.model_validate({"checks": []}), ctx.clock, ctx.http, ctx.redactor)
    timeout = f"{TIMEOUT:g}s"

    def flow(path: str) -> CheckSpec:
        spec: CheckSpec = KINDS["flow"].Spec.model_validate({
            "name": f"flow-{path}", "kind": "flow", "base_url": base, "timeout": timeout,
            "steps": [{"name": "first", "request": {"path": path}},
                      {"name": "cleanup", "request": {"path": path}, "always_run": True}],
        })
        return spec

    runs = [
        _timed(lambda: run_check(http("http-drip", f"{base}/drip", timeout=timeout), ctx)),
        _timed(lambda: run_check(http("http-hang", f"{base}/hang", timeout=timeout), ctx)),
        _timed(lambda: run_check(flow("/drip"), flow_ctx)),
        _timed(lambda: run_check(flow("/hang"), flow_ctx)),
    ]
    try:
        (drip, t_drip), (hang, t_hang), (fdrip, t_fdrip), (fhang, t_fhang) = await asyncio.gather(*runs)
    finally:
        release.set()
        await close_context(flow_ctx)
    assert holding == {"/drip", "/hang"}  # the servers did hold the requests
    assert drip.status is Status.DOWN and drip.message == f"timed out after {TIMEOUT:g}s reading the body"
    assert hang.status is Status.DOWN and hang.message == f"timed out after {TIMEOUT:g}s waiting for the response"
    for result in (fdrip, fhang):
        assert result.status is Status.DOWN
        assert [s.status for s in result.steps] == [Status.DOWN, Status.DOWN]
        assert "no answer within" in result.steps[0].message
    for result, elapsed in ((drip, t_drip), (hang, t_hang), (fdrip, t_fdrip), (fhang, t_fhang)):
        assert "timeout" not in result.values, result.message  # the kind stopped itself
        # What the result reports: the whole probe, connect to last byte, within the timeout
        # (the kind keeps a margin to report in); wall time bounded generously.
        assert result.latency_ms is not None and TIMEOUT * 1000 * 0.75 <= result.latency_ms <= TIMEOUT * 1000, result.latency_ms
        assert elapsed < TIMEOUT + 3, elapsed
