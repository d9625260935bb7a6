"""build_snapshot over real SQLite rows in the evaluator's and notifiers' tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from monitor.statuspage.snapshot import build_snapshot, latency_buckets, percentile
from tests.statuspage.statuspage_scenarios import NOW, components_yaml, make_config, open_store


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = make_config(tmp_path)
    store, seed = open_store(config)
    yield config, store, seed
    store.close()


def test_only_public_components_appear(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    seed.status("network", "major_outage", NOW - timedelta(hours=1))
    snap = build_snapshot(store, config, NOW)
    assert [c.id for c in snap.components] == ["login", "query", "issuance", "sync"]
    assert snap.overall.status == "no_data"  # the private outage does not colour the banner


@pytest.mark.parametrize(
    ("statuses", "overall", "indicator"),
    [
        ({"login": "operational", "query": "operational"}, "operational", "none"),
        ({"login": "operational", "query": "degraded_performance"}, "degraded_performance", "minor"),
        ({"login": "partial_outage", "query": "degraded_performance"}, "partial_outage", "major"),
        ({"login": "under_maintenance", "query": "operational"}, "under_maintenance", "maintenance"),
        ({"login": "under_maintenance", "query": "major_outage"}, "major_outage", "critical"),
    ],
)
def test_banner_shows_the_worst_public_status(env, statuses, overall, indicator) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    for cid, status in statuses.items():
        seed.status(cid, status, NOW - timedelta(minutes=5))
    snap = build_snapshot(store, config, NOW)
    assert (snap.overall.status, snap.overall.indicator) == (overall, indicator)
    assert {c.id: c.status for c in snap.components}["sync"] == "no_data"


def test_incident_title_is_templated_and_auto_updates_hide_raw_messages(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    seed.status("issuance", "major_outage", NOW - timedelta(minutes=30))
    i = seed.incident("issuance", started_at=NOW - timedelta(minutes=31), title="开票 down: http://10.0.0.8/api E1003")
    seed.update(i, NOW - timedelta(minutes=30), "investigating", "Traceback: ConnectError 10.0.0.8:443")
    seed.update(i, NOW - timedelta(minutes=5), "identified", "供应商正在修复签名服务。", kind="manual", author="ops")
    snap = build_snapshot(store, config, NOW)
    (inc,) = snap.active_incidents
    assert inc.impact == "critical" and inc.component == "issuance"
    assert [u.message for u in inc.updates] == ["供应商正在修复签名服务。", None]  # newest first
    assert "10.0.0.8" not in repr(snap)


def test_automatic_updates_that_repeat_the_status_are_not_repeated_publicly(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    seed.status("login", "partial_outage", NOW - timedelta(minutes=30))
    i = seed.incident("login", started_at=NOW - timedelta(minutes=31))
    for minutes in (30, 29, 28, 27):  # opened, then symptoms joining: same status each time
        seed.update(i, NOW - timedelta(minutes=minutes), "investigating", f"symptom {minutes}")
    seed.update(i, NOW - timedelta(minutes=20), "investigating", "我们已联系平台方。", kind="manual", author="ops")
    seed.update(i, NOW - timedelta(minutes=10), "monitoring", "recovered")
    seed.update(i, NOW - timedelta(minutes=9), "monitoring", "evidence refreshed")
    snap = build_snapshot(store, config, NOW)
    (inc,) = snap.active_incidents
    assert [(u.status, u.message) for u in inc.updates] == [
        ("monitoring", None), ("investigating", "我们已联系平台方。"), ("investigating", None),
    ]


def test_private_and_unpublished_incidents_are_hidden(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    seed.incident("network", started_at=NOW - timedelta(minutes=10))  # private component
    seed.incident("query", started_at=NOW - timedelta(minutes=10), public=False)
    visible = seed.incident("login", started_at=NOW - timedelta(minutes=10))
    snap = build_snapshot(store, config, NOW)
    assert [i.id for i in snap.active_incidents] == [visible]


def test_resolved_incidents_go_to_history_and_mark_their_days(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    seed.history("query", [(NOW - timedelta(days=100), "operational")])
    started = NOW - timedelta(days=3, hours=2)
    i = seed.incident("query", status="resolved", started_at=started, resolved_at=started + timedelta(minutes=40))
    old = seed.incident("query", status="resolved", started_at=NOW - timedelta(days=120),
                        resolved_at=NOW - timedelta(days=119))
    snap = build_snapshot(store, config, NOW)
    assert [p.id for p in snap.past_incidents] == [i]
    assert old not in [p.id for p in snap.past_incidents]
    query = next(c for c in snap.components if c.id == "query")
    marked = [b.day for b in query.bars if i in b.incidents]
    assert marked == [(started + timedelta(hours=8)).date()]  # the Asia/Shanghai date


def test_ninety_daily_bars_end_today_in_the_configured_zone(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    late = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # already 3 March in Shanghai
    seed.history("login", [(late - timedelta(days=200), "operational")])
    snap = build_snapshot(store, config, late)
    bars = snap.components[0].bars
    assert len(bars) == 90
    assert bars[-1].day.isoformat() == "2026-03-03"
    assert bars[0].day.isoformat() == "2025-12-04"
    assert all(b.uptime == Decimal("100.00") for b in bars)


def test_uptime_windows_and_bars_follow_the_history(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    seed.history("login", [
        (NOW - timedelta(days=40), "operational"),
        (NOW - timedelta(days=10), "major_outage"),
        (NOW - timedelta(days=10) + timedelta(minutes=144), "operational"),  # 0.1 day down
        (NOW - timedelta(hours=1), "partial_outage"),
    ])
    snap = build_snapshot(store, config, NOW)
    login = snap.components[0]
    assert login.status == "partial_outage"
    assert login.uptime["24h"] == Decimal("97.91")  # 23.5/24 = 97.916..., floored
    assert login.uptime["7d"] == Decimal("99.68")  # the last 7 daily bars: (158.5 h - 0.5 h) / 158.5 h
    assert login.uptime["30d"] == Decimal("99.59")  # (720 h - 2.4 h - 0.5 h) / 720 h
    assert login.uptime["90d"] == Decimal("99.69")  # 40 days of data; the rest is excluded
    assert sum(b.level == "nodata" for b in login.bars) == 49
    assert max(b.down_minutes for b in login.bars) >= 72


def test_closed_announcements_are_not_shown(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    body = {"zh-CN": {"phenomenon": "开票失败", "workaround": "使用纸质发票"}}
    live = seed.announcement(title={"zh-CN": "开票中断"}, body=body, components=["issuance", "network"],
                             created_at=NOW - timedelta(minutes=5), next_update_at=NOW + timedelta(minutes=30))
    seed.announcement(title={"zh-CN": "旧公告"}, body=body, components=["issuance"], status="closed",
                      created_at=NOW - timedelta(days=1), closed_at=NOW - timedelta(hours=20))
    snap = build_snapshot(store, config, NOW)
    (a,) = snap.announcements
    assert a.id == live
    assert [cid for cid, _ in a.components] == ["issuance"]  # the private component is not named
    assert a.body["zh-CN"]["workaround"] == "使用纸质发票"
    assert a.next_update_at == NOW + timedelta(minutes=30)


def test_maintenance_active_planned_and_private_only_hidden(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    now_mw = seed.maintenance("升级", starts_at=NOW - timedelta(minutes=5), ends_at=NOW + timedelta(hours=1),
                              components=["sync"])
    everything = seed.maintenance("平台维护", starts_at=NOW + timedelta(days=2), ends_at=NOW + timedelta(days=2, hours=1),
                                  components=[])
    seed.maintenance("换交换机", starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=1, hours=1),
                     components=["network"])
    seed.maintenance("太远", starts_at=NOW + timedelta(days=30), ends_at=NOW + timedelta(days=30, hours=1),
                     components=[])
    seed.maintenance("提前结束", starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=1),
                     components=[], ended_at=NOW - timedelta(minutes=10))
    snap = build_snapshot(store, config, NOW)
    assert [m.id for m in snap.maintenance_active] == [now_mw]
    assert [m.id for m in snap.maintenance_planned] == [everything]
    assert snap.maintenance_planned[0].components == ()


def test_recurring_maintenance_is_expanded_to_its_next_occurrence(env) -> None:  # type: ignore[no-untyped-def]
    config, store, seed = env
    seed.maintenance("每周六凌晨维护", starts_at=NOW - timedelta(days=60), ends_at=NOW + timedelta(days=365),
                     components=["issuance"], recurrence="0 2 * * 6", duration_s=7200, timezone="Asia/Shanghai")
    snap = build_snapshot(store, config, NOW)
    starts = [m.starts_at for m in snap.maintenance_planned]
    # NOW is Monday 2 March 14:30 in Shanghai; Saturdays 02:00 local are 18:00 UTC on Fridays.
    assert starts == [datetime(2026, 3, 6, 18, 0, tzinfo=UTC), datetime(2026, 3, 13, 18, 0, tzinfo=UTC)]
    assert [s.astimezone(config.monitor.tz).strftime("%a %H:%M") for s in starts] == ["Sat 02:00"] * 2
    assert all(m.ends_at - m.starts_at == timedelta(hours=2) for m in snap.maintenance_planned)


def test_latency_chart_has_24_hourly_buckets_of_the_component_checks(env) -> None:  # type: ignore[no-untyped-def]
    from tests.statuspage.statuspage_scenarios import latency_results

    config, store, _ = env
    latency_results(store, "查询延迟")
    latency_results(store, "loopback")  # another component's check must not mix in
    snap = build_snapshot(store, config, NOW)
    (series,) = snap.latency
    assert series.component == "query"
    assert len(series.buckets) == 24
    assert series.buckets[-1].start == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert sum(b.count for b in series.buckets) == 24 * 12 - 6  # the oldest half hour is before the window
    assert all(b.p50 is not None and b.p95 is not None and b.p50 <= b.p95 for b in series.buckets)


def test_latency_of_a_private_component_is_never_charted(tmp_path: Path) -> None:
    config = make_config(tmp_path, extra="  latency_components: [network, nonexistent]")
    store, _ = open_store(config)
    assert build_snapshot(store, config, NOW).latency == ()


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([10.0], 95) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(v) for v in range(1, 101)], 95) == pytest.approx(95.05)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    buckets = latency_buckets([(start + timedelta(minutes=30), 100.0), (start + timedelta(hours=30), 1.0)], start)
    assert buckets[0].p50 == 100.0 and buckets[1].count == 0


def test_page_renders_from_a_database_not_migrated_yet(tmp_path: Path) -> None:
    from monitor.store import Store

    config = make_config(tmp_path, components=components_yaml())
    store = Store(config.monitor.database)  # `invoicewatch render` before the first `run`
    snap = build_snapshot(store, config, NOW)
    assert [c.status for c in snap.components] == ["no_data"] * 4
