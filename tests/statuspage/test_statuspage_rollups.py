"""The page's bars, uptime windows and latency chart come from the rollups: after rolling up
and pruning the raw results and the old status changes, the page says exactly what it said
when it could still read the whole history; the daily rows kept between renders are read again
when they change."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from monitor.core.results import Result, Status
from monitor.housekeeping import components_of
from monitor.statuspage.snapshot import PageMemo, build_snapshot
from monitor.store import Store
from monitor.store.retention import Policy
from monitor.store.rollups import COMPONENT_ROLLUPS
from tests.statuspage.statuspage_scenarios import NOW, make_config, open_store


def test_bars_and_uptime_are_the_same_from_rollups_after_the_history_is_pruned(tmp_path: Path) -> None:
    config = make_config(tmp_path, extra="  latency_components: [query]")
    store, seed = open_store(config)
    rng = random.Random(4)
    start = NOW - timedelta(days=60)
    for cid in ("login", "query", "issuance"):
        changes = [(start, "operational")]
        t = start
        while t < NOW - timedelta(hours=2):
            t += timedelta(hours=rng.randrange(20, 200), minutes=rng.randrange(60))
            changes.append((t, rng.choice(["major_outage", "partial_outage", "degraded_performance"])))
            t += timedelta(minutes=rng.randrange(5, 300))
            changes.append((t, "operational"))
        seed.history(cid, [c for c in changes if c[0] < NOW])
    store.write_results([
        Result(check="查询延迟", status=Status.UP, started_at=NOW - timedelta(minutes=5 * k), latency_ms=100 + k % 50,
               location="local")
        for k in range(1, 12 * 30)
    ])
    before = build_snapshot(store, config, NOW)  # no rollups yet: everything from the history

    store.roll_up(NOW, components=components_of(config), tz=config.monitor.tz)
    deleted = store.prune_history(NOW, Policy(results=timedelta(hours=1), status_changes=timedelta(days=1)))
    assert deleted["component_status_change"] > 0 and deleted["check_result"] > 0
    after = build_snapshot(store, config, NOW)

    for b, a in zip(before.components, after.components, strict=True):
        assert a.id == b.id
        assert [(x.day, x.uptime, x.level) for x in a.bars] == [(x.day, x.uptime, x.level) for x in b.bars]
        assert [round(x.down_minutes, 6) for x in a.bars] == [round(x.down_minutes, 6) for x in b.bars]
        assert a.uptime == b.uptime
    (chart_before,) = before.latency
    (chart_after,) = after.latency
    assert [x.count for x in chart_after.buckets] == [x.count for x in chart_before.buckets]
    for x, y in zip(chart_after.buckets, chart_before.buckets, strict=True):
        if y.p95 is not None:
            assert x.p95 is not None and abs(x.p95 - y.p95) / y.p95 <= 0.03  # the sketch: within 2 % (+ rank)
    store.close()


def test_the_rolled_days_read_once_are_read_again_when_the_rollups_change(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store, seed = open_store(config)
    seed.history("login", [(NOW - timedelta(days=20), "operational"), (NOW - timedelta(days=10), "major_outage"),
                           (NOW - timedelta(days=10) + timedelta(hours=3), "operational")])
    store.roll_up(NOW, components=components_of(config), tz=config.monitor.tz)
    memo = PageMemo()  # what a page keeps from render to render
    first = build_snapshot(store, config, NOW, memo)
    kept = memo.history.days
    assert kept is not None and build_snapshot(store, config, NOW, memo) == first
    assert memo.history.days is kept  # from the kept days

    rows = COMPONENT_ROLLUPS
    with store.engine.begin() as conn:  # the outage's day taken away (as by hand, or a short retention)
        conn.execute(sa.delete(rows).where(rows.c.grain == "d", rows.c.component == "login", rows.c.major_s > 0))
    after = build_snapshot(store, config, NOW, memo)
    assert memo.history.days is not kept
    fresh = Store(config.monitor.database)
    try:
        assert after == build_snapshot(fresh, config, NOW)  # what a new process reads
    finally:
        fresh.close()
    login = next(c for c in after.components if c.id == "login")
    assert login != next(c for c in first.components if c.id == "login")
    store.close()
