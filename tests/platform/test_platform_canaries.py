"""Canaries that always come back (issue 15.1): the platform hangs during submit, during poll
and during void, then recovers: no canary outstanding on the simulator's side, the ledger
clean, never a "duplicate order number". Each check sees only its own canaries; `invoicewatch
canaries` says what is open and why."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from checks.platform.sweep import recover
from monitor.cli import cli
from monitor.core.clock import FakeClock
from monitor.core.results import Status
from tests.platform.platform_kit import Env, SimHandle, ledger_rows, platform_yaml

CHECKS = """
checks:
  - name: canary
    kind: issuance
    platform: sim
    cleanup: [red_flush]
    poll_every: 1s
    deadline: 8s
    timeout: 40s
  - name: life
    kind: lifecycle
    platform: sim
    cleanup: [red_flush]
    poll_every: 1s
    deadline: 20s
    timeout: 40s
    expect: [{status: pending}, {status: issued, within: 10s}, {status: red_flushed, within: 20s}]
"""
# Requests give up quickly; the simulator holds hung ones for up to hang_cap (3 s) of real time.
FAST = {"timeout": "300ms"}


def ledger_states(env: Env) -> list[str]:
    return [row["state"] for row in ledger_rows(env)]


async def assert_all_back(sim: SimHandle, env: Env) -> None:
    state = await sim.state()
    assert state["outstanding"] == [], state["outstanding"]
    assert state["duplicate_orders"] == 0
    assert all(s in ("cleaned", "nothing") for s in ledger_states(env)), ledger_states(env)


@pytest.mark.parametrize("after", [True, False])
async def test_a_hang_during_submit_is_settled_by_order_number_never_resubmitted(sim: SimHandle, make_env, after: bool) -> None:
    env = make_env(platform_yaml(sim.url, **FAST) + CHECKS)
    await sim.fault("hang", endpoint=["issue", "get"], after=after)
    hung = await env.run("canary")
    assert hung.status is Status.DOWN
    assert "outcome unknown" in hung.message and "never resubmitted" in hung.message
    assert ledger_states(env) == ["submitting"]
    await sim.clear()
    env.clock.advance(timedelta(seconds=6))  # the simulator's issue_delay is 5 s
    again = await env.run("canary")
    leftover = again.steps[0]
    assert leftover.name == "leftover canaries"
    if after:  # it was made: found by its order number, red-flushed
        assert again.status is Status.UP, again.message
        assert "1 cleaned up" in leftover.message
    else:  # it never arrived; the platform does not know it, and is asked again until it is sure
        assert "submit outcome unknown" in leftover.message and "E3002" in leftover.message
        env.clock.advance(timedelta(minutes=11))
        assert (await recover(env.registry, "sim", check="canary")).cleaned == 1
    await assert_all_back(sim, env)


async def test_an_answer_lost_after_the_submit_is_found_by_order_number_in_the_same_run(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, **FAST) + CHECKS)
    await sim.fault("hang", endpoint="issue", after=True)
    result = await env.run("canary")
    submit = result.steps[0]
    assert submit.status is Status.DEGRADED and "found by order number" in submit.message
    assert result.values["invoice_number"]
    assert result.status is Status.DEGRADED  # the platform did not answer the submit: worth saying
    await assert_all_back(sim, env)


async def test_a_hang_during_poll_leaves_the_canary_to_the_sweep(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, **FAST) + CHECKS)
    await sim.fault("hang", endpoint="get")
    result = await env.run("canary")
    assert result.status is Status.DOWN
    assert "cannot read the canary's status" in result.message
    assert ledger_states(env) == ["pending"]
    await sim.clear()
    swept = await recover(env.registry, "sim")
    assert (swept.found, swept.cleaned) == (1, 1)
    await assert_all_back(sim, env)


@pytest.mark.parametrize("after", [True, False])
async def test_a_hang_during_void_is_never_a_second_cancel(sim: SimHandle, make_env, after: bool) -> None:
    env = make_env(platform_yaml(sim.url, **FAST) + CHECKS)
    await sim.fault("hang", endpoint="red_flush", after=after)
    result = await env.run("canary")
    if after:  # the red-flush happened, its answer was lost: read again, it is cancelled
        assert result.status is Status.UP, result.message
        assert ledger_states(env) == ["cleaned"]
    else:
        assert result.status is Status.DEGRADED and "not cancelled" in result.message
        assert ledger_states(env) == ["issued"]
        await sim.clear()
        assert (await recover(env.registry, "sim")).cleaned == 1
    await assert_all_back(sim, env)


async def test_each_check_sees_only_its_own_canaries(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("issue_stuck")
    stuck = await env.run("canary")
    assert ledger_states(env) == ["pending"] and stuck.status is Status.DOWN
    await sim.clear()
    life = await env.run("life")
    assert life.status is Status.UP, life.message
    assert "leftover canaries" not in [s.name for s in life.steps]  # not its canary
    again = await env.run("canary")
    assert again.steps[0].name == "leftover canaries" and "still issuing" in again.steps[0].message


async def test_the_background_sweep_backs_off_and_retries_until_cancelled(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url, **FAST) + CHECKS)
    await sim.fault("error_rate", endpoint="red_flush", status=503)
    await env.run("canary")
    assert ledger_states(env) == ["issued"]
    first = await recover(env.registry, "sim", due_only=True)  # due: the check's own try was not a sweep
    assert first.found == 1 and first.cleaned == 0
    assert first.next_due is not None and first.next_due > clock.now()
    assert (await recover(env.registry, "sim", due_only=True)).found == 0  # backing off
    await sim.clear()
    clock.advance(timedelta(seconds=5))
    assert (await recover(env.registry, "sim", due_only=True)).cleaned == 1
    await assert_all_back(sim, env)


async def test_canaries_command_lists_what_is_outstanding_and_why(sim: SimHandle, make_env, tmp_path: Path) -> None:
    env = make_env(platform_yaml(sim.url, **FAST) + CHECKS)
    await sim.fault("error_rate", endpoint="red_flush", status=503)
    await env.run("canary")
    config = tmp_path / "config.yaml"  # what make_env wrote
    runner = CliRunner()

    async def invoke(*args: str) -> Any:  # the command runs its own event loop
        return await asyncio.to_thread(runner.invoke, cli, ["-c", str(config), *args])

    shown = await invoke("canaries")
    assert shown.exit_code == 1, shown.output
    assert "canary" in shown.output and "issued" in shown.output
    assert "cancel failed: red_flush: HTTP 503" in shown.output
    as_json: Any = json.loads((await invoke("canaries", "--json")).output)
    assert [r["state"] for r in as_json] == ["issued"] and as_json[0]["check"] == "canary"
    await sim.clear()
    await recover(env.registry, "sim")
    done = await invoke("canaries")
    assert done.exit_code == 0 and "no canary outstanding" in done.output
