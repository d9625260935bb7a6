"""The issuance check against the real simulator: canary issued and cancelled, every issuance
fault, the sandbox guard, the daily cap, and cleanup that fails now and succeeds later."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from monitor.core.clock import FakeClock
from monitor.core.errors import ConfigError
from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle, ledger_rows, platform_yaml

CHECKS = """
checks:
  - name: canary
    kind: issuance
    platform: sim
    cleanup: [red_flush]
    poll_every: 1s
    deadline: 30s
    timeout: 40s
    max_per_day: 5
  - name: canary-old-style
    kind: issuance
    platform: sim
    variables: {invoice_type: 电子普票}
    poll_every: 1s
    deadline: 30s
    timeout: 40s
"""


def canary(sim: SimHandle, result: Any) -> Any:
    inv = sim.sim.book.find_order(result.values["order_no"])
    assert inv is not None
    return inv


async def test_canary_is_issued_numbered_and_red_flushed(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    result = await env.run("canary")
    assert result.status is Status.UP, result.message
    assert [s.name for s in result.steps] == ["submit", "wait for issue", "invoice number", "cleanup"]
    assert len(result.values["invoice_number"]) == 20  # 数电
    assert result.values["issue_s"] == 5.0  # the simulator's issue_delay, on the shared clock
    assert canary(sim, result).status == "red_flushed"
    assert [r["state"] for r in ledger_rows(env)] == ["cleaned"]


async def test_old_style_canary_is_voided(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    result = await env.run("canary-old-style")
    assert result.status is Status.UP, result.message
    assert len(result.values["invoice_number"]) == 8
    assert canary(sim, result).status == "voided"


async def test_rejected_issuance_is_down_and_leaves_nothing_to_cancel(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("issue_rejected", message="购方税号校验失败")
    result = await env.run("canary")
    assert result.status is Status.DOWN
    assert result.values["envelope_code"] == "E3004"
    assert "购方税号校验失败" in result.message
    assert result.values["step"] == "submit"
    assert [r["state"] for r in ledger_rows(env)] == ["nothing"]


async def test_asynchronous_failure_is_down_with_its_cause(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("issue_failed", status="failed")
    result = await env.run("canary")
    assert result.status is Status.DOWN
    assert "issuance failed: failed" in result.message and "9105" in result.message
    assert result.values["final_status"] == "failed"
    assert [r["state"] for r in ledger_rows(env)] == ["nothing"]


async def test_sealing_failure_is_down_and_the_numbered_canary_is_red_flushed(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("issue_failed", status="sealing_failed")
    result = await env.run("canary")
    assert result.status is Status.DOWN
    assert "sealing_failed" in result.message
    assert canary(sim, result).status == "red_flushed"
    assert [r["state"] for r in ledger_rows(env)] == ["cleaned"]


async def test_stuck_issuance_is_down_after_the_deadline_and_stays_in_the_ledger(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("issue_stuck")
    result = await env.run("canary")
    assert result.status is Status.DOWN
    assert "still issuing after 30s" in result.message
    assert result.values["polls"] == 31
    assert [r["state"] for r in ledger_rows(env)] == ["pending"]
    await sim.clear()
    again = await env.run("canary")  # sweeps the leftover first: still issuing, still open
    assert again.steps[0].name == "leftover canaries"
    assert again.steps[0].status is Status.DEGRADED and "still issuing" in again.steps[0].message
    assert again.status is Status.DEGRADED


async def test_logged_out_tax_bureau_refuses_issuance(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("tax_logged_out")
    result = await env.run("canary")
    assert result.status is Status.DOWN
    assert result.values["envelope_code"] == "E2001"


async def test_failed_cleanup_is_retried_before_the_next_canary(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("error_rate", rate=1.0, status=500, endpoint="red_flush")
    first = await env.run("canary")
    assert first.status is Status.DEGRADED
    assert "not cancelled" in first.message
    assert canary(sim, first).status == "issued"
    await sim.clear()
    second = await env.run("canary")
    assert second.status is Status.UP, second.message
    assert second.steps[0].name == "leftover canaries" and "1 cleaned up" in second.steps[0].message
    assert canary(sim, first).status == "red_flushed"
    assert [r["state"] for r in ledger_rows(env)] == ["cleaned", "cleaned"]


async def test_issuance_on_a_platform_that_is_not_sandbox_is_a_config_error(sim: SimHandle, make_env) -> None:
    with pytest.raises(ConfigError) as info:
        make_env(platform_yaml(sim.url, extra="sandbox: false\n") + CHECKS)
    assert "platform 'sim' is not sandbox: true and allow_production_issuance is not set" in str(info.value)
    assert sim.sim.book.jobs == 0 and (await sim.state())["tokens"]["sim-admin"]["granted_in_window"] == 0


async def test_explicit_opt_in_allows_issuance_on_production(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, extra="sandbox: false\nallow_production_issuance: true\n") + CHECKS)
    result = await env.run("canary")
    assert result.status is Status.UP, result.message


async def test_daily_cap_skips_canaries_until_the_next_day(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    statuses = []
    for _ in range(6):
        result = await env.run("canary")
        statuses.append((result.status, result.values.get("skipped")))
        clock.advance(timedelta(minutes=15))
    assert statuses[:5] == [(Status.UP, None)] * 5
    assert statuses[5] == (Status.UP, "max_per_day")
    assert len(ledger_rows(env)) == 5
    clock.advance(timedelta(days=1))
    assert (await env.run("canary")).values.get("skipped") is None


async def test_a_deadline_longer_than_the_timeout_is_a_config_error(tmp_path) -> None:
    from monitor.config import load_config
    from monitor.core.errors import ConfigError

    text = """
platforms: {p: {base_url: "http://127.0.0.1:1", sandbox: true}}
checks:
  - {name: c, kind: issuance, platform: p, deadline: 5m, timeout: 1m}
"""
    try:
        load_config(tmp_path / "c.yaml", text=text)
    except ConfigError as exc:
        assert "deadline (300s) must be shorter than timeout (60s)" in str(exc)
        assert ":4:" in str(exc)
    else:
        raise AssertionError("expected a ConfigError")
