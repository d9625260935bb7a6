"""The incident service on real SQLite and PostgreSQL: what is stored, and restarts resume."""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from monitor.core.clock import FakeClock
from monitor.core.results import Result, Status
from monitor.incidents import manual
from monitor.incidents.maintenance import active_maintenance, planned_maintenance
from monitor.store.incidents import ComponentStatus, ComponentStatusChange, Incident, open_incidents, timeline
from monitor.store.outbox import OutboxRow
from monitor.store.results import CheckStateRow
from monitor.store.slo import SloStatus
from tests.evaluator.deciding_kit import write_config


async def feed(r: Any, clock: FakeClock, status: str, n: int = 1, every: float = 5.0, check: str = "api") -> None:
    spec = r.monitor.config.check(check)
    for _ in range(n):
        await r.svc.on_result(spec, Result(check, Status(status), clock.now(), 12.0, f"{check} {status}", location="local"))
        await r.svc.tick()
        clock.advance(every)


def outbox_keys(r: Any) -> list[str]:
    with r.store.session() as s:
        return [row.key for row in s.exec(select(OutboxRow).order_by(OutboxRow.id))]


def incidents(r: Any) -> list[Incident]:
    with r.store.session() as s:
        return list(s.exec(select(Incident).order_by(Incident.id)))


async def test_outage_is_stored_with_timeline_status_history_and_outbox(tmp_path, db_url, clock, boot) -> None:
    r = await boot(write_config(tmp_path, db_url), clock)
    heard: list[tuple[str, Any]] = []
    for topic in ("state_changed", "incident_changed", "component_changed", "outbox_added"):
        r.monitor.bus.subscribe(topic, lambda payload, t=topic: heard.append((t, payload)))
    await feed(r, clock, "up")
    await feed(r, clock, "down", 3)
    [inc] = incidents(r)
    assert heard == [
        ("state_changed", "api"), ("component_changed", "api"),
        ("state_changed", "api"), ("incident_changed", inc.id), ("component_changed", "api"), ("outbox_added", None),
    ]
    assert (inc.component, inc.status, inc.impact, inc.root_check, inc.public) == ("api", "investigating", "critical", "api", True)
    assert inc.title == "接口服务中断"
    assert inc.detected_at - inc.started_at == timedelta(seconds=10)
    assert inc.data["evidence"]["message"] == "api down"
    with r.store.session() as s:
        entries = timeline(s, inc.id)
        status = s.get(ComponentStatus, "api")
        history = [c.status for c in s.exec(select(ComponentStatusChange).order_by(ComponentStatusChange.id))]
        state = s.get(CheckStateRow, ("api", "local"))
        assert [o.id for o in open_incidents(s)] == [inc.id]
    assert [(e.kind, e.data["action"]) for e in entries] == [("auto", "opened")]
    assert status.status == "major_outage" and history == ["operational", "major_outage"]
    assert state.status == "down" and state.data["health"] == "down"
    assert outbox_keys(r) == [f"incident:{inc.id}:opened"]


async def test_restart_resumes_the_open_incident_and_resolves_it(tmp_path, db_url, clock, boot) -> None:
    config = write_config(tmp_path, db_url)
    r = await boot(config, clock)
    await feed(r, clock, "up")
    await feed(r, clock, "down", 3)
    await r.close()

    clock.advance(30)
    again = await boot(config, clock)
    assert again.svc.states["api"].health == "down"
    await feed(again, clock, "down", 5)
    assert len(incidents(again)) == 1, "the restart continues the incident"
    await feed(again, clock, "up", 2)
    assert incidents(again)[0].status == "monitoring"
    await again.close()

    third = await boot(config, clock)
    await feed(third, clock, "up", 62)
    [inc] = incidents(third)
    assert inc.status == "resolved" and inc.resolved_at is not None
    assert inc.time_to_resolve_s is not None and inc.time_to_resolve_s > 300
    keys = outbox_keys(third)
    assert keys.count(f"incident:{inc.id}:opened") == 1 and keys.count(f"incident:{inc.id}:resolved") == 1


async def test_ack_and_updates_record_who_and_when(tmp_path, db_url, clock, boot) -> None:
    config = write_config(tmp_path, db_url)
    r = await boot(config, clock)
    await feed(r, clock, "up")
    await feed(r, clock, "down", 3)
    [inc] = incidents(r)
    with r.store.session() as s:
        row, new = manual.ack(s, inc.id, who="alice", now=clock.now(), config=config)
        assert new
        manual.update(s, inc.id, status="identified", message="vendor says token tok-secret-123456 expired", who="bob", now=clock.now(), config=config)
        s.commit()
    with r.store.session() as s:
        row, new = manual.ack(s, inc.id, who="carol", now=clock.now(), config=config)
        assert not new and row.acked_by == "alice"
    await feed(r, clock, "up", 2)
    [inc] = incidents(r)
    assert inc.acked_by == "alice" and inc.acked_at is not None
    assert inc.status == "monitoring", "recovery moves an identified incident to monitoring"
    with r.store.session() as s:
        entries = timeline(s, inc.id)
    manual_entries = [(e.author, e.status, e.message) for e in entries if e.kind == "manual"]
    assert manual_entries == [
        ("alice", "investigating", "acknowledged"),
        ("bob", "identified", "vendor says token *** expired"),
    ]
    keys = outbox_keys(r)
    assert f"incident:{inc.id}:acked" in keys
    with r.store.session() as s:
        bodies = [o.body for o in s.exec(select(OutboxRow))]
    assert not any("tok-secret-123456" in b for b in bodies)


async def test_resolving_by_hand_while_down_does_not_reopen(tmp_path, sqlite_url, clock, boot) -> None:
    config = write_config(tmp_path, sqlite_url)
    r = await boot(config, clock)
    await feed(r, clock, "up")
    await feed(r, clock, "down", 3)
    [inc] = incidents(r)
    with r.store.session() as s:
        manual.update(s, inc.id, status="resolved", message="known; tracked elsewhere", who="alice", now=clock.now(), config=config)
        s.commit()
    await feed(r, clock, "down", 10)
    assert [i.status for i in incidents(r)] == ["resolved"]
    await feed(r, clock, "up", 2)
    await feed(r, clock, "down", 3)
    assert [i.status for i in incidents(r)] == ["resolved", "investigating"]


MAINTENANCE = """
maintenance:
  - title: {zh-CN: 接口升级, en: API upgrade}
    components: [api]
    start: 2026-03-02 08:30:00
    duration: 2h
  - title: 每周日凌晨维护
    cron: "0 2 * * 0"
    duration: 1h
"""


async def test_config_maintenance_is_mirrored_holds_alerts_and_is_listed(tmp_path, sqlite_url, clock, boot) -> None:
    # clock: 2026-03-02 01:00 UTC = 09:00 Asia/Shanghai, inside the one-off window.
    config = write_config(tmp_path, sqlite_url, MAINTENANCE)
    r = await boot(config, clock)
    await feed(r, clock, "up")
    await feed(r, clock, "down", 10)
    assert incidents(r) == []
    with r.store.session() as s:
        assert s.get(ComponentStatus, "api").status == "under_maintenance"
        active = active_maintenance(s, clock.now())
        planned = planned_maintenance(s, clock.now(), timedelta(days=7))
    assert [o.title for o in active] == ["接口升级"]
    assert active[0].ends_at - active[0].starts_at == timedelta(hours=2)
    # Sunday 02:00 Shanghai = Saturday 18:00 UTC (crontab 0 = Sunday).
    assert [(o.title, o.starts_at.isoformat()) for o in planned] == [("每周日凌晨维护", "2026-03-07T18:00:00+00:00")]
    assert any(k.startswith("maintenance:") and k.endswith(":started") for k in outbox_keys(r))
    assert r.svc.states["api"].status == "maintenance"
    clock.advance(timedelta(hours=2))
    await feed(r, clock, "down", 1)
    [inc] = incidents(r)
    assert inc.status == "investigating", "still down when the window ends: now it is an incident"
    assert any(k.endswith(":ended") for k in outbox_keys(r))


async def test_restart_does_not_duplicate_config_windows(tmp_path, sqlite_url, clock, boot) -> None:
    config = write_config(tmp_path, sqlite_url, MAINTENANCE)
    r = await boot(config, clock)
    await r.close()
    r2 = await boot(config, clock)
    with r2.store.session() as s:
        count = s.exec(sa.text("select count(*) from maintenance_window")).one()[0]  # type: ignore[call-overload]
    assert count == 2


async def test_states_are_saved_on_transitions_and_otherwise_at_a_bounded_rate(tmp_path, sqlite_url, clock, boot) -> None:
    config = write_config(tmp_path, sqlite_url)
    r = await boot(config, clock)
    await feed(r, clock, "up", 1, every=1)

    def saved() -> Any:
        with r.store.session() as s:
            return s.get(CheckStateRow, ("api", "local")).data["last_result_at"]

    first = saved()
    await feed(r, clock, "up", 5, every=1)
    assert saved() == first, "no transition: counters wait for the persist interval"
    clock.advance(30)
    await feed(r, clock, "up", 1)
    assert saved() != first


async def test_flapping_check_sends_one_flapping_notice(tmp_path, sqlite_url, clock, boot) -> None:
    extra = "evaluation: {flapping: {changes: 4, window: 30m}}\n"
    config = write_config(tmp_path, sqlite_url, extra)
    config = config.model_copy(update={"checks": [config.checks[0].model_copy(update={"failure_threshold": 1, "success_threshold": 1})]})
    r = await boot(config, clock)
    r.svc.on_config(config)
    for status in ["up", "down"] * 8:
        await feed(r, clock, status)
    keys = outbox_keys(r)
    assert sum(k.startswith("check:api:flapping") for k in keys) == 1
    assert len(incidents(r)) == 1


async def test_slo_figures_are_stored(tmp_path, sqlite_url, clock, boot) -> None:
    extra = "slos:\n  - {component: api, objective: 99.5%, latency: 1s}\n"
    r = await boot(write_config(tmp_path, sqlite_url, extra), clock)
    await feed(r, clock, "up", 10)
    clock.advance(61)
    await feed(r, clock, "down", 1)
    with r.store.session() as s:
        row = s.get(SloStatus, "api")
    assert row is not None and row.total == 11 and row.good == 10
    assert row.budget_remaining < 0 and row.alert == "page"
    assert sum(k.startswith("slo:api:page") for k in outbox_keys(r)) == 1


TWO_LOCATIONS = """
  - {name: edge, kind: tcp, host: 127.0.0.1, port: 9, component: api, interval: 10s, timeout: 2s, locations: [bj, sh]}
"""


async def test_two_controllers_at_two_locations_agree_on_one_incident(tmp_path, db_url, clock, boot) -> None:
    base = write_config(tmp_path, db_url, TWO_LOCATIONS)
    nodes = []
    for loc in ("bj", "sh"):
        config = base.model_copy(update={"monitor": base.monitor.model_copy(update={"location": loc})})
        nodes.append((loc, await boot(config, clock)))
    spec = base.check("edge")

    async def round_(statuses: dict[str, str]) -> None:
        for loc, r in nodes:
            result = Result("edge", Status(statuses[loc]), clock.now(), 5.0, f"{loc} {statuses[loc]}", location=loc)
            await r.svc.on_result(spec, result)
            await asyncio.to_thread(functools.partial(r.store.write_results, [result], node=loc))  # the node's writer
        if db_url.startswith("postgresql"):  # both decide at the same moment
            await asyncio.gather(*(r.svc.tick() for _, r in nodes))
        else:  # SQLite is one process's database: one controller at a time
            for _, r in nodes:
                await r.svc.tick()
        clock.advance(10)

    for _ in range(4):
        await round_({"bj": "down", "sh": "up"})
    for _, r in nodes:
        assert r.svc.states["edge"].health == "degraded", "one of two locations down is not a quorum"
    assert [i.impact for i in incidents(nodes[0][1])] == ["minor"], "a degraded check: one minor incident"
    for _ in range(4):
        await round_({"bj": "down", "sh": "down"})
    for _, r in nodes:
        assert r.svc.states["edge"].health == "down"
    [inc] = incidents(nodes[0][1])
    assert inc.impact == "critical"
    keys = outbox_keys(nodes[0][1])
    assert keys.count(f"incident:{inc.id}:opened") == 1
