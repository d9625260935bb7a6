"""Recovery seen promptly (issue 12.8): the token backoff spares the token endpoint from
every other check, but the login check's own run may always ask once per its interval, so a
mended platform is up again at the next login run instead of after up to 15 minutes."""

from __future__ import annotations

from monitor.core.clock import FakeClock
from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle, platform_yaml

CHECKS = """
checks:
  - {name: login, kind: login, platform: sim, interval: 30s}
  - {name: query, kind: query, platform: sim, interval: 30s}
"""


async def test_a_mended_platform_is_seen_at_the_next_login_run(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("login_refused")
    for _ in range(8):  # four minutes of refusals: the backoff has grown well past 30 s
        assert (await env.run("login")).status is Status.DOWN
        clock.advance(30)
    cache = env.registry.session("sim").tokens
    assert cache is not None and cache.blocked() is not None, "backing off"
    asked = cache.requests
    assert asked == 8, "one token request per login run, none more"
    # Other checks still respect the backoff: no token request for the query check.
    clock.advance(1)
    query = await env.run("query")
    assert query.status is Status.DOWN and cache.requests == asked and "not asking again" in query.message
    assert query.message.startswith("list_invoices: no token: "), query.message  # the operation named once
    await sim.clear()
    clock.advance(29)
    login = await env.run("login")
    assert login.status is Status.UP, login.message
    assert (await env.run("query")).status is Status.UP


async def test_fast_rechecks_do_not_hit_the_token_endpoint(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("login_refused")
    assert (await env.run("login")).status is Status.DOWN
    cache = env.registry.session("sim").tokens
    assert cache is not None
    for _ in range(2):  # re-checks 10 s apart, inside the interval: held by the backoff
        clock.advance(10)
        assert (await env.run("login")).status is Status.DOWN
    assert cache.requests == 1
