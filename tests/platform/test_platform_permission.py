"""The permission check against the real simulator: a scoped user sees its department only,
silently seeing fewer is caught, forbidden operations must be refused."""

from __future__ import annotations

import pytest

from checks.platform.sweep import recover
from monitor.config.simulator import SimUser
from monitor.core.errors import ConfigError
from monitor.core.results import Status
from monitor.simulator import Simulator, serve
from tests.platform.platform_kit import (
    ADMIN_KEY,
    ADMIN_SECRET,
    SALES_KEY,
    SALES_SECRET,
    SimHandle,
    platform_yaml,
    sim_settings,
)

USERS = f"""
users:
  sales: {{credentials: {{appKey: {SALES_KEY}, appSecret: {SALES_SECRET}}}}}
"""

CHECKS = """
checks:
  - name: perms
    kind: permission
    platform: sim
    window: 3h
    users:
      - user: sales
        min_visible: 5
        reference: {where: $.department, equals: [sales], min_share: 100%}
        forbidden:
          - {operation: issue}
          - {operation: void}
      - min_visible: 20
"""


async def test_scoped_user_sees_its_department_and_is_refused_the_rest(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, extra=USERS) + CHECKS)
    result = await env.run("perms")
    assert result.status is Status.UP, result.message
    names = [s.name for s in result.steps]
    assert names == ["sales: list", "sales: visibility", "sales: issue refused", "sales: void refused", "platform account: list"]
    vis = result.steps[1].values
    assert vis["visible_share"] == 1.0 and vis["expected"] > 10
    assert result.steps[2].message == "refused as expected (E1005)"
    assert sim.sim.book.jobs == 0


async def test_a_scoped_user_silently_seeing_fewer_is_down(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, extra=USERS) + CHECKS)
    await sim.fault("scope_shrink", rate=0.5)
    result = await env.run("perms")
    assert result.status is Status.DOWN
    step = next(s for s in result.steps if s.name == "sales: visibility")
    assert 0.2 < step.values["visible_share"] < 0.8
    assert len(step.values["missing_examples"]) == 5
    assert result.message.startswith("sales: visibility: sees")


async def test_an_allowed_forbidden_operation_is_down(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, extra=USERS) + """
checks:
  - name: perms
    kind: permission
    platform: sim
    users:
      - {forbidden: [{operation: certification}, {operation: void}]}
""")
    result = await env.run("perms")
    assert result.status is Status.DOWN
    cert, void = result.steps[1], result.steps[2]
    assert cert.status is Status.DOWN and "ALLOWED" in cert.message
    # The admin may void; the probe's serial does not exist: not a refusal, not proof either.
    assert void.status is Status.DEGRADED and "inconclusive" in void.message and "E3002" in void.message


async def test_seeing_another_department_is_a_leak(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url, extra=USERS) + """
checks:
  - name: perms
    kind: permission
    platform: sim
    users:
      - {reference: {where: $.department, equals: [sales, service]}}
""")
    result = await env.run("perms")
    assert result.status is Status.DOWN
    leak = next(s for s in result.steps if s.name == "platform account: leaks")
    assert leak.values["leaks"] > 0


async def test_probing_issue_on_a_production_platform_is_a_config_error(sim: SimHandle, make_env) -> None:
    with pytest.raises(ConfigError) as info:
        make_env(platform_yaml(sim.url, extra=USERS + "sandbox: false\n") + CHECKS)
    assert "checks[0].users[0].forbidden[0].operation: probing issue would make a real tax document" in str(info.value)


async def test_an_unknown_user_is_a_config_error_naming_the_known_ones(sim: SimHandle, make_env) -> None:
    with pytest.raises(ConfigError) as info:
        make_env(platform_yaml(sim.url, extra=USERS) + """
checks:
  - {name: perms, kind: permission, platform: sim, users: [{user: salse}]}
""")
    assert "checks[0].users[0].user: platform 'sim' has no user 'salse' (did you mean 'sales'?)" in str(info.value)


async def test_an_invoice_made_by_an_allowed_issue_probe_is_cancelled_by_the_sweep(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + """
checks:
  - {name: perms, kind: permission, platform: sim, users: [{forbidden: [{operation: issue}]}]}
""")
    result = await env.run("perms")
    assert result.status is Status.DOWN and "issue was ALLOWED" in result.message
    env.clock.advance(10)  # the invoice is issued meanwhile
    outcome = await recover(env.registry, "sim")
    assert (outcome.found, outcome.cleaned) == (1, 1)
    made = sim.sim.book.get(result.steps[-1].values["serial"])
    assert made is not None and made.order_no.startswith("IWPERM") and made.status == "red_flushed"


async def test_same_as_asserts_a_user_sees_everything_the_main_account_sees(make_env, clock) -> None:
    """15.6: "this user sees everything the main account sees", said directly."""
    users = [SimUser(app_key=ADMIN_KEY, app_secret=ADMIN_SECRET),
             SimUser(app_key="sim-auditor", app_secret="sim-auditor-secret", scopes=["query"]),
             SimUser(app_key=SALES_KEY, app_secret=SALES_SECRET, scopes=["query"], departments=["sales"])]  # fmt: skip
    simulator = Simulator(clock, seed=7, settings=sim_settings(users=users))
    runner, url = await serve(simulator, port=0)
    handle = SimHandle(simulator, url)
    try:
        env = make_env(platform_yaml(url, extra=USERS + "  auditor: {credentials: {appKey: sim-auditor, appSecret: sim-auditor-secret}}\n") + """
checks:
  - {name: auditor, kind: permission, platform: sim, window: 3h, users: [{user: auditor, same_as: true}]}
  - {name: sales-as-auditor, kind: permission, platform: sim, window: 3h, users: [{user: sales, same_as: auditor}]}
""")
        ok = await env.run("auditor")
        assert ok.status is Status.UP, ok.message
        step = next(s for s in ok.steps if s.name == "auditor: same as the platform account")
        assert step.values["visible_share"] == 1.0 and step.values["expected"] > 100
        scoped = await env.run("sales-as-auditor")
        assert scoped.status is Status.DOWN
        assert "sales: same as auditor: sees" in scoped.message
        await handle.fault("scope_shrink", rate=0.3, user="sim-auditor")
        shrunk = await env.run("auditor")
        assert shrunk.status is Status.DOWN
        share = next(s for s in shrunk.steps if s.name.endswith("same as the platform account")).values["visible_share"]
        assert 0.5 < share < 0.9
    finally:
        await handle.aclose()
        await runner.cleanup()
