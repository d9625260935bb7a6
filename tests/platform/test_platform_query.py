"""The query check against the real simulator: latency thresholds, hangs, HTTP errors, errors
inside HTTP 200, flapping, and an answer of the wrong shape."""

from __future__ import annotations

from monitor.core.clock import FakeClock
from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle, platform_yaml

CHECKS = """
checks:
  - {name: query, kind: query, platform: sim, timeout: 5s, latency: {degraded: 150ms, down: 1s}}
  - {name: query-list, kind: query, platform: sim, operation: list_invoices, min_items: 10, window: 5m}
"""


async def test_query_is_up_and_reports_records_and_pages(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    result = await env.run("query")
    assert result.status is Status.UP, result.message
    assert result.values["items"] == 50 and result.values["total"] >= 50
    assert result.latency_ms is not None and result.latency_ms < 150


async def test_slow_answers_are_degraded_by_the_latency_threshold(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("latency", seconds=0.25, endpoint="list")
    result = await env.run("query")
    assert result.status is Status.DEGRADED
    assert "latency" in result.message and "above 0.15s" in result.message
    assert result.latency_ms >= 250


async def test_a_hanging_platform_is_down_with_no_answer(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, timeout="300ms") + CHECKS)
    await sim.fault("hang", endpoint="list")
    result = await env.run("query")
    assert result.status is Status.DOWN
    assert "no answer within 0.3s" in result.message
    assert "http_status" not in result.values


async def test_http_errors_are_down_with_the_status(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("error_rate", rate=1.0, status=502, endpoint="list")
    result = await env.run("query")
    assert result.status is Status.DOWN
    assert result.values["http_status"] == 502
    assert result.values["step"] == "list_invoices"


async def test_connection_resets_are_down(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("error_rate", rate=1.0, reset=True, endpoint="list")
    result = await env.run("query")
    assert result.status is Status.DOWN
    assert "connection dropped" in result.message


async def test_system_busy_inside_http_200_is_down(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("busy", rate=1.0, endpoint="list")
    result = await env.run("query")
    assert result.status is Status.DOWN
    assert result.values["http_status"] == 200
    assert result.values["envelope_code"] == "E9999"
    assert "系统繁忙" in result.values["envelope_message"]


async def test_flapping_platform_alternates_down_and_up(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await env.run("query")  # token first, so only the list is judged below
    await sim.fault("flapping", seconds=60, status=503, endpoint="list")
    seen = []
    for _ in range(4):
        seen.append((await env.run("query")).status)
        clock.advance(60)
    assert seen == [Status.DOWN, Status.UP, Status.DOWN, Status.UP]


async def test_too_few_records_is_down(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    result = await env.run("query-list")
    assert result.status is Status.DOWN
    assert "expected at least 10" in result.message


async def test_an_answer_without_the_record_list_is_down(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, extra="""
        operations:
          list_invoices:
            items: $.result.rows
        """) + CHECKS)
    result = await env.run("query")
    assert result.status is Status.DOWN
    assert "no record list at $.result.rows" in result.message
