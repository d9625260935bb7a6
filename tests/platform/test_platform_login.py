"""The login check against the real simulator: token caching (the quota lesson), rejection and
one refresh, back-off after a failed token call, and every login-related fault."""

from __future__ import annotations

import math
from datetime import timedelta

from monitor.core.clock import FakeClock
from monitor.core.results import Status
from tests.platform.platform_kit import ADMIN_KEY, SimHandle, platform_yaml

CHECKS = """
checks:
  - {name: login, kind: login, platform: sim, interval: 30s}
  - {name: query, kind: query, platform: sim, interval: 30s}
"""


async def test_login_is_up_with_one_token_shared_by_every_check(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    first = await env.run("login")
    second = await env.run("query")
    third = await env.run("login")
    assert first.status is Status.UP, first.message
    assert second.status is Status.UP and third.status is Status.UP
    assert [s.name for s in first.steps] == ["token", "authenticated call", "tax bureau login"]
    assert first.values["token_requests_run"] == 1
    assert third.values["token_requests"] == 1 and third.values["token_requests_run"] == 0
    state = await sim.state()
    assert state["tokens"][ADMIN_KEY]["granted_in_window"] == 1


async def test_six_simulated_hours_of_logins_stay_within_the_token_lifetime(sim: SimHandle, make_env, clock: FakeClock) -> None:
    """Every 30 s for 6 h: token requests <= what the lifetime allows + one per rejection."""
    env = make_env(platform_yaml(sim.url) + CHECKS)
    lifetime = sim.sim.settings.token_lifetime
    refresh_before = env.registry.profile("sim").auth.refresh_before
    hours, period = 6, 30
    granted_before_reset = 0
    rejections = 0
    for i in range(hours * 3600 // period):
        if i == 400:  # the platform forgets every token (a restart on its side): one rejection
            granted_before_reset = (await sim.state())["tokens"][ADMIN_KEY]["granted_in_window"]
            r = await sim.admin.delete("/_admin/tokens")
            assert r.status_code == 200
            rejections += 1
        result = await env.run("login")
        assert result.status is Status.UP, f"run {i}: {result.message}"
        clock.advance(period)
    cache = env.registry.session("sim").tokens
    allowed = math.ceil(timedelta(hours=hours) / (lifetime - refresh_before)) + rejections
    assert cache.requests <= allowed, (cache.requests, allowed)
    assert cache.rejections == rejections
    granted = granted_before_reset + (await sim.state())["tokens"][ADMIN_KEY]["granted_in_window"]
    assert granted == cache.requests
    assert result.values["token_requests"] == cache.requests


async def test_rejected_token_is_refreshed_once_and_the_call_retried(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    assert (await env.run("login")).status is Status.UP
    await sim.admin.delete("/_admin/tokens")
    result = await env.run("query")
    assert result.status is Status.UP, result.message
    assert result.steps[0].values.get("auth_retried") is True
    assert env.registry.session("sim").tokens.requests == 2


async def test_login_refused_is_down_with_the_envelope_evidence(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("login_refused")
    result = await env.run("login")
    assert result.status is Status.DOWN
    assert result.values["step"] == "token"
    assert result.values["envelope_code"] == "E1001"
    assert "appKey或appSecret错误" in result.message


async def test_a_failed_token_call_is_not_repeated_on_every_probe(sim: SimHandle, make_env, clock: FakeClock) -> None:
    """After a refused token call we back off: probes in between (a fast re-check inside the
    login interval) report it without asking; the next scheduled login run asks once again."""
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("quota_exhausted")
    first = await env.run("login")
    assert first.status is Status.DOWN and first.values["envelope_code"] == "E1003"
    clock.advance(10)
    second = await env.run("login")
    assert second.status is Status.DOWN and "not asking again" in second.message
    assert second.values["token_requests_run"] == 0
    await sim.clear()
    clock.advance(21)  # the next login run (30 s after the failure), inside the 60 s back-off
    third = await env.run("login")
    assert third.status is Status.UP, third.message
    assert third.values["token_requests"] == 2


async def test_revoked_tokens_turn_login_down_after_one_refresh_attempt(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    assert (await env.run("login")).status is Status.UP
    await sim.fault("login_refused", revoke=True)
    result = await env.run("login")
    assert result.status is Status.DOWN
    assert "E1001" in result.message
    cache = env.registry.session("sim").tokens
    assert cache.rejections == 1 and cache.requests == 2


async def test_token_endpoint_down_reports_the_http_status(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("token_down", status=503)
    result = await env.run("login")
    assert result.status is Status.DOWN
    assert result.values["http_status"] == 503
    assert "HTTP 503" in result.message


async def test_token_endpoint_resetting_connections_is_down(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("token_down", reset=True)
    result = await env.run("login")
    assert result.status is Status.DOWN
    assert "connection dropped" in result.message


async def test_tax_bureau_logout_is_down_with_the_certification_state(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("tax_logged_out")
    result = await env.run("login")
    assert result.status is Status.DOWN
    assert result.values["step"] == "tax bureau login"
    assert result.steps[-1].values["certification"] == "logged_out"
    assert "not logged in at the tax bureau" in result.message


async def test_login_without_certification_ignores_the_tax_bureau(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + """
checks:
  - {name: login, kind: login, platform: sim, certification: false}
""")
    await sim.fault("tax_logged_out")
    result = await env.run("login")
    assert result.status is Status.UP, result.message
    assert [s.name for s in result.steps] == ["token", "authenticated call"]


async def test_concurrent_checks_share_one_token_request(sim: SimHandle, make_env) -> None:
    import asyncio

    env = make_env(platform_yaml(sim.url) + CHECKS)
    results = await asyncio.gather(*(env.run(name) for name in ["login", "query"] * 10))
    assert all(r.status is Status.UP for r in results)
    assert env.registry.session("sim").tokens.requests == 1


async def test_a_reload_keeps_the_token_of_an_unchanged_platform(sim: SimHandle, make_env) -> None:
    from checks.platform.models import PlatformProfile

    env = make_env(platform_yaml(sim.url) + CHECKS)
    await env.run("login")
    registry = env.registry
    before = registry.session("sim")
    registry.update(dict(env.config.platforms))
    assert registry.session("sim") is before and before.tokens.requests == 1
    changed = env.config.platforms["sim"].model_dump(by_alias=True)
    changed["timeout"] = 5
    registry.update({"sim": PlatformProfile.model_validate(changed)})
    assert registry.session("sim") is not before
