"""The lifecycle check against the real simulator: a canary goes pending -> issued ->
red_flushed within limits; stuck and failed canaries; following a configured invoice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.core.errors import ConfigError
from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle, platform_yaml

CHECKS = """
checks:
  - name: life
    kind: lifecycle
    platform: sim
    cleanup: [red_flush]
    poll_every: 1s
    deadline: 40s
    expect:
      - {status: pending}
      - {status: issued, within: 10s}
      - {status: red_flushed, within: 20s}
  - name: life-strict
    kind: lifecycle
    platform: sim
    cleanup: [red_flush]
    poll_every: 1s
    deadline: 40s
    expect:
      - {status: pending}
      - {status: issued, within: 3s}
      - {status: red_flushed}
"""


async def test_canary_moves_through_the_expected_statuses_in_time(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    result = await env.run("life")
    assert result.status is Status.UP, result.message
    assert result.values["seen"] == {"submitted": 0.0, "pending": 0.0, "issued": 5.0, "red_flushed": 5.0}
    assert [s.name for s in result.steps][-3:] == ["pending", "issued", "red_flushed"]
    assert sim.sim.book.find_order(result.values["order_no"]).status == "red_flushed"


async def test_a_slow_stage_is_down_with_its_time(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    result = await env.run("life-strict")
    assert result.status is Status.DOWN
    assert "issued after 5s, later than 3s" in result.message


async def test_a_stuck_canary_never_reaches_issued(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("issue_stuck")
    result = await env.run("life")
    assert result.status is Status.DOWN
    assert "never reached issued" in result.message
    assert any(s.name == "cleanup" and "kept in the ledger" in s.message for s in result.steps)


async def test_a_failed_canary_takes_an_unexpected_path(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("issue_failed", status="failed")
    result = await env.run("life")
    assert result.status is Status.DOWN
    assert "unexpected status failed" in result.message


async def test_following_a_configured_invoice(sim: SimHandle, make_env) -> None:
    sim.sim.book.generate()
    now = sim.sim.clock.now()
    inv = sim.sim.book.window(now - timedelta(hours=1), now)[0]
    env = make_env(platform_yaml(sim.url) + f"""
checks:
  - name: follow
    kind: lifecycle
    platform: sim
    serial: {inv.serial_no}
    poll_every: 1s
    deadline: 5s
    expect: [{{status: issued, within: 1d}}]
  - name: follow-unknown
    kind: lifecycle
    platform: sim
    serial: NOSUCHSERIAL
    deadline: 2s
    poll_every: 1s
    expect: [{{status: issued}}]
""")
    result = await env.run("follow")
    assert result.status is Status.UP, result.message
    assert result.values["final_status"] == "issued"
    missing = await env.run("follow-unknown")
    assert missing.status is Status.DOWN
    assert "E3002" in missing.message


async def test_lifecycle_on_production_without_opt_in_is_a_config_error(sim: SimHandle, make_env) -> None:
    with pytest.raises(ConfigError) as info:
        make_env(platform_yaml(sim.url, extra="sandbox: false\n") + CHECKS)
    assert "a canary invoice would make a real tax document" in str(info.value)
    assert sim.sim.book.jobs == 0
