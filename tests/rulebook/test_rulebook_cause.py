"""The probable-cause classifier, table-driven over every fault the bundled simulator can
inject: the real check runs against the real simulator with the fault set, and the cause of
its result is asserted. A fault added to the catalog without a row here fails the test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.core.clock import FakeClock
from monitor.core.results import ConditionResult, Result, Status, StepResult
from monitor.rulebook import cause as c
from monitor.simulator.faults import CATALOG
from tests.platform.conftest import make_env, sim  # noqa: F401 - the simulator fixtures
from tests.platform.platform_kit import SimHandle, platform_yaml

CHECKS = """
checks:
  - {name: login, kind: login, platform: sim, interval: 30s}
  - {name: query, kind: query, platform: sim, interval: 30s, latency: {degraded: 500ms, down: 5s}}
  - {name: data, kind: completeness, platform: sim, interval: 5m, window: 3h, required: [number, date, amount]}
  - {name: sync, kind: freshness, platform: sim, interval: 2m, field: date, window: 1h, max_lag: {degraded: 5m, down: 15m}}
  - {name: issue, kind: issuance, platform: sim, interval: 15m, timeout: 60s, deadline: 20s, poll_every: 2s, cleanup: [red_flush]}
  - name: perm
    kind: permission
    platform: sim
    interval: 10m
    window: 3h
    users: [{user: sales, min_visible: 1, reference: {where: $.department, equals: [sales], min_share: 100%}}]
"""
USERS = "sandbox: true\nusers:\n  sales:\n    credentials: {appKey: sim-sales, appSecret: sim-sales-secret}\n"

# fault -> (params, seconds to let pass, check that shows it, expected cause, confidence)
TABLE: dict[str, tuple[dict[str, Any], float, str, str, str]] = {
    "login_refused": ({}, 1, "login", c.CREDENTIALS, c.LIKELY),
    "token_down": ({}, 1, "perm", c.SERVER_ERROR, c.LIKELY),  # the sales user needs a new token
    "quota_exhausted": ({}, 1, "perm", c.CREDENTIALS, c.LIKELY),
    "tax_logged_out": ({}, 1, "login", c.CREDENTIALS, c.LIKELY),
    "latency": ({"seconds": 1.0}, 1, "query", c.OVERLOADED, c.LIKELY),
    "hang": ({}, 1, "query", c.OVERLOADED, c.POSSIBLE),
    "error_rate": ({}, 1, "query", c.SERVER_ERROR, c.LIKELY),
    "busy": ({}, 1, "login", c.OVERLOADED, c.LIKELY),
    "issue_rejected": ({}, 1, "issue", c.DATA_SYNC, c.POSSIBLE),
    "issue_failed": ({}, 1, "issue", c.SERVER_ERROR, c.POSSIBLE),
    "issue_stuck": ({}, 1, "issue", c.OVERLOADED, c.POSSIBLE),
    "sync_lag": ({"seconds": 1200}, 1, "sync", c.DATA_SYNC, c.LIKELY),
    "sync_frozen": ({}, 1200, "sync", c.DATA_SYNC, c.LIKELY),
    "fields_dropped": ({}, 1, "data", c.DATA_SYNC, c.LIKELY),
    "scope_shrink": ({}, 1, "perm", c.CREDENTIALS, c.LIKELY),
    "flapping": ({}, 1, "login", c.SERVER_ERROR, c.LIKELY),
}
# Variants of a fault that change what the evidence says.
VARIANTS: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("error_rate", {"reset": True}, "query", c.SERVER_ERROR, c.POSSIBLE),
    ("error_rate", {"status": 429}, "query", c.OVERLOADED, c.LIKELY),
    ("token_down", {"reset": True}, "perm", c.SERVER_ERROR, c.POSSIBLE),
]


def test_every_simulator_fault_has_a_row() -> None:
    assert set(TABLE) == set(CATALOG)


@pytest.mark.parametrize("fault", sorted(TABLE))
async def test_the_cause_of_each_simulator_fault(sim: SimHandle, make_env, clock: FakeClock, fault: str) -> None:  # noqa: F811
    params, wait, check, expected, confidence = TABLE[fault]
    await _expect(sim, make_env, clock, fault, params, wait, check, expected, confidence)


@pytest.mark.parametrize(("fault", "params", "check", "expected", "confidence"), VARIANTS)
async def test_variants_that_change_the_evidence(sim: SimHandle, make_env, clock: FakeClock, fault: str,  # noqa: F811
                                                 params: dict[str, Any], check: str, expected: str, confidence: str) -> None:
    await _expect(sim, make_env, clock, fault, params, 1, check, expected, confidence)


async def _expect(sim: SimHandle, make_env: Any, clock: FakeClock, fault: str, params: dict[str, Any],  # noqa: F811
                  wait: float, check: str, expected: str, confidence: str) -> None:
    env = make_env(platform_yaml(sim.url, extra=USERS) + CHECKS)
    assert (await env.run("login")).status is Status.UP
    await sim.fault(fault, **params)
    clock.advance(wait)
    result = await env.run(check)
    assert result.status is not Status.UP, f"{fault} did not show on {check}: {result.message}"
    got = c.classify(result, kind=env.config.check(check).kind)
    assert (got.kind, got.confidence) == (expected, confidence), (result.message, got)
    assert got.evidence, "a cause always comes with the evidence that points to it"


AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _step(message: str, **values: Any) -> Result:
    step = StepResult("authenticated call", Status.DOWN, 12.0, message, values=values)
    return Result("login", Status.DOWN, AT, 12.0, f"authenticated call: {message}", steps=[step])


@pytest.mark.parametrize(("result", "expected"), [
    (_step("certification: HTTP 503: 系统维护中，预计 02:00 恢复", http_status=503, envelope_message="系统维护中，预计 02:00 恢复"),
     (c.MAINTENANCE, c.LIKELY)),
    (_step("certification: HTTP 401", http_status=401), (c.CREDENTIALS, c.LIKELY)),
    (_step("certification: cannot connect: [Errno 111] Connection refused"), (c.UNREACHABLE, c.LIKELY)),
    (_step("certification: envelope code E7777: 未知错误", http_status=200, envelope_code="E7777",
           envelope_message="未知错误"), (c.UNKNOWN, c.UNCLEAR)),
    (Result("gateway", Status.DOWN, AT, None, "connect failed: Name or service not known", values={"failed_phase": "dns"}),
     (c.UNREACHABLE, c.POSSIBLE)),
    (Result("gateway", Status.DEGRADED, AT, 1900.0, "1 condition failed",
            conditions=[ConditionResult("[RESPONSE_TIME] < 800", False, 1900.0)]), (c.OVERLOADED, c.LIKELY)),
])
def test_evidence_without_a_simulator_fault(result: Result, expected: tuple[str, str]) -> None:
    got = c.classify(result, kind="http")
    assert (got.kind, got.confidence) == expected, got


def test_envelope_error_inside_http_200_is_named_as_such() -> None:
    got = c.classify(_step("certification: envelope code E1001: appKey或appSecret错误", http_status=200,
                           envelope_code="E1001", envelope_message="appKey或appSecret错误"))
    envelope = next(e for e in got.evidence if e["fact"] == "envelope")
    assert envelope == {"fact": "envelope", "code": "E1001", "message": "appKey或appSecret错误", "http_status": 200}


def test_our_network_names_the_baselines_and_round_trips() -> None:
    cause = c.our_network(["本地网关"])
    assert cause.kind == c.OUR_NETWORK and cause.evidence[0] == {"fact": "baseline_down", "check": "本地网关"}
    assert c.Cause.from_json(cause.to_json()) == cause
    assert c.Cause.from_json({"kind": "nonsense"}) is None
