"""Freshness that measures business data (issue 15.2): our canaries never count as fresh, and a
gap is judged by the arrival rate the check learnt per hour of day from its own results."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from checks.platform.history import SERVICE_KEY, expected_arrivals, hourly_rates
from monitor.core.clock import FakeClock
from monitor.core.results import Result, Status
from monitor.store import Store
from monitor.store.history import ResultHistory
from tests.platform.platform_kit import Env, SimHandle, platform_yaml

CHECKS = """
checks:
  - {name: canary, kind: issuance, platform: sim, cleanup: [red_flush], poll_every: 1s, deadline: 20s, timeout: 30s,
     max_per_day: 500}
  - {name: fresh, kind: freshness, platform: sim, max_lag: {down: 3m}, learn: {enabled: false}}
  - {name: fresh-blind, kind: freshness, platform: sim, max_lag: {down: 3m}, canary_prefixes: [], learn: {enabled: false}}
  - {name: fresh-learnt, kind: freshness, platform: sim, max_lag: {down: 1h}}
"""
CHINA = ZoneInfo("Asia/Shanghai")


async def test_a_frozen_stream_with_canaries_flowing_is_detected(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    await sim.fault("sync_frozen", api_visible=True)  # other channels stop; what the API issues still lists
    for _ in range(8):  # a canary every ~30 s, as in the field report
        assert (await env.run("canary")).status is Status.UP
        clock.advance(24)
    fresh = await env.run("fresh")
    assert fresh.status is Status.DOWN, fresh.message
    assert fresh.values["canaries_ignored"] >= 8
    assert fresh.values["lag_s"] > 180
    assert "canaries of ours not counted" in fresh.message
    blind = await env.run("fresh-blind")  # counting canaries hides the stall: what went wrong before
    assert blind.status is Status.UP and blind.values["lag_s"] < 60


def history_env(env: Env) -> Store:
    store = Store(env.config.monitor.database)
    store.migrate()
    env.ctx.services[SERVICE_KEY] = ResultHistory(store)
    return store


def teach(store: Store, now: datetime, per_hour: dict[int, float], days: int = 3) -> None:
    """Results of `fresh-learnt` measured on earlier days, as the writer would have stored them."""
    results = []
    for day in range(1, days + 1):
        for minute in range(0, 24 * 60, 10):
            at = now - timedelta(days=day) + timedelta(minutes=minute)
            hour = (at - timedelta(minutes=30)).astimezone(CHINA).hour
            results.append(Result("fresh-learnt", Status.UP, at, values={"arrivals_1h": per_hour.get(hour, 60)}))
    store.write_results(results)


async def test_a_gap_improbable_at_the_learnt_rate_is_down_before_max_lag(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    store = history_env(env)
    teach(store, clock.now(), {})  # 60 invoices an hour all day, as the simulator's stream
    ok = await env.run("fresh-learnt")
    assert ok.status is Status.UP, ok.message
    assert ok.values["rate_per_h"] == 60 and 50 <= ok.values["arrivals_1h"] <= 61
    await sim.fault("sync_frozen")
    clock.advance(timedelta(minutes=2))
    early = await env.run("fresh-learnt")
    assert early.status is Status.UP and early.values["gap_probability"] > 0.01  # 2 quiet minutes happen
    clock.advance(timedelta(minutes=8))
    stalled = await env.run("fresh-learnt")
    assert stalled.status is Status.DOWN, stalled.message  # max_lag (1 h) is far off
    assert stalled.values["improbable_gap"] is True and stalled.values["gap_probability"] < 0.001
    assert "about 60 an hour arrive at this time of day" in stalled.message
    store.close()


async def test_a_quiet_hour_is_normal_where_the_history_says_so(sim: SimHandle, make_env, clock: FakeClock) -> None:
    env = make_env(platform_yaml(sim.url) + CHECKS)
    store = history_env(env)
    hour = clock.now().astimezone(CHINA).hour
    teach(store, clock.now(), {hour: 0.5, (hour - 1) % 24: 0.5})  # this time of day is nearly idle
    await sim.fault("sync_frozen")
    clock.advance(timedelta(minutes=10))
    quiet = await env.run("fresh-learnt")
    assert quiet.status is Status.UP, quiet.message
    assert quiet.values["rate_per_h"] == 0.5 and quiet.values["gap_probability"] > 0.5
    store.close()


def test_rates_need_enough_days_and_skip_runs_that_flagged_a_gap() -> None:
    base = datetime(2026, 3, 2, 1, 45, tzinfo=CHINA)
    samples: list[tuple[datetime, dict[str, Any]]] = [
        (base - timedelta(days=d), {"arrivals_1h": 60}) for d in (1, 2)
    ] + [(base - timedelta(days=3), {"arrivals_1h": 0, "improbable_gap": True})]
    assert hourly_rates(samples, CHINA, min_days=3) == {}
    samples.append((base - timedelta(days=4), {"arrivals_1h": 30}))
    assert hourly_rates(samples, CHINA, min_days=3) == {1: 60}
    expected, known = expected_arrivals({1: 60}, base - timedelta(minutes=30), base + timedelta(minutes=30), CHINA)
    assert (round(expected, 6), known) == (45.0, False)  # 45 min of hour 1 learnt, 15 of hour 2 unknown
