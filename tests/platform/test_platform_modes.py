"""The shipped `nuonuo` and `baiwang` profiles against the simulator's Nuonuo and Baiwang
modes, which recompute every signature: each invoice kind works through YAML alone."""

from __future__ import annotations

import pytest

from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle, platform_yaml

# The canary kinds in CHECKS need a platform that allows canaries (else the config is refused).
SANDBOX = "sandbox: true\n"
CHECKS = """
checks:
  - {name: login, kind: login, platform: sim}
  - {name: query, kind: query, platform: sim, window: 2h, limit: 150}
  - {name: complete, kind: completeness, platform: sim, window: 3h, sample: 150}
  - {name: fresh, kind: freshness, platform: sim, max_lag: 5m}
  - {name: canary, kind: issuance, platform: sim, poll_every: 1s, deadline: 30s, timeout: 40s}
  - name: life
    kind: lifecycle
    platform: sim
    cleanup: [red_flush]
    poll_every: 1s
    deadline: 30s
    expect: [{status: pending}, {status: issued, within: 10s}, {status: red_flushed, within: 20s}]
"""

MODES = [("nuonuo", "/nuonuo"), ("baiwang", "/baiwang")]


@pytest.mark.parametrize(("profile", "prefix"), MODES)
async def test_every_invoice_kind_works_through_the_shipped_profile(sim: SimHandle, make_env, profile: str, prefix: str) -> None:
    env = make_env(platform_yaml(sim.url, profile=profile, prefix=prefix, extra=SANDBOX) + CHECKS)
    for name in ("login", "query", "complete", "fresh", "canary", "life", "login"):
        result = await env.run(name)
        assert result.status is Status.UP, f"{profile} {name}: {result.message}"
        if name == "query":
            assert result.values["items"] == 121 and result.values["pages"] == 2
        if name == "canary":
            assert len(result.values["invoice_number"]) == 20
            assert sim.sim.book.find_order(result.values["order_no"]).status == "red_flushed"
    assert result.values["token_requests"] == 1


@pytest.mark.parametrize(("profile", "prefix", "code"), [("nuonuo", "/nuonuo", "070301"), ("baiwang", "/baiwang", 100004)])
async def test_a_wrong_signing_secret_shows_the_gateway_code(sim: SimHandle, make_env, profile: str, prefix: str, code: object) -> None:
    env = make_env(platform_yaml(sim.url, profile=profile, prefix=prefix, extra=SANDBOX + "signing: {secret: not-the-secret}\n") + CHECKS)
    result = await env.run("query")
    assert result.status is Status.DOWN
    assert result.values["envelope_code"] == code


@pytest.mark.parametrize(("profile", "prefix", "code"), [("nuonuo", "/nuonuo", "E1003"), ("baiwang", "/baiwang", 100003)])
async def test_quota_exhaustion_is_reported_in_each_dialect(sim: SimHandle, make_env, profile: str, prefix: str, code: object) -> None:
    env = make_env(platform_yaml(sim.url, profile=profile, prefix=prefix, extra=SANDBOX) + CHECKS)
    await sim.fault("quota_exhausted")
    result = await env.run("login")
    assert result.status is Status.DOWN
    assert result.values["step"] == "token"
    assert str(result.values.get("envelope_code")) in (str(code), "070102")


@pytest.mark.parametrize(("profile", "prefix"), MODES)
async def test_rejected_tokens_are_refreshed_in_each_dialect(sim: SimHandle, make_env, profile: str, prefix: str) -> None:
    env = make_env(platform_yaml(sim.url, profile=profile, prefix=prefix, extra=SANDBOX) + CHECKS)
    assert (await env.run("query")).status is Status.UP
    await sim.admin.delete("/_admin/tokens")
    result = await env.run("query")
    assert result.status is Status.UP, result.message
    assert result.steps[0].values.get("auth_retried") is True


@pytest.mark.parametrize(("profile", "prefix", "state"), [("nuonuo", "/nuonuo", "0"), ("baiwang", "/baiwang", False)])
async def test_tax_bureau_logout_in_each_dialect(sim: SimHandle, make_env, profile: str, prefix: str, state: object) -> None:
    env = make_env(platform_yaml(sim.url, profile=profile, prefix=prefix, extra=SANDBOX) + CHECKS)
    await sim.fault("tax_logged_out")
    result = await env.run("login")
    assert result.status is Status.DOWN
    assert result.steps[-1].values["certification"] == state


@pytest.mark.parametrize(("profile", "prefix"), MODES)
async def test_dropped_fields_in_each_dialect(sim: SimHandle, make_env, profile: str, prefix: str) -> None:
    env = make_env(platform_yaml(sim.url, profile=profile, prefix=prefix, extra=SANDBOX) + CHECKS)
    await sim.fault("fields_dropped", rate=0.5, how="null", fields=["invoiceNo", "invoiceDate", "totalAmount"])
    result = await env.run("complete")
    assert result.status is Status.DOWN, result.message
    assert set(result.values["missing_fields"]) == {"number", "date", "amount"}
