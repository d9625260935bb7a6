"""Reminders, escalation tiers, ack and resolved notices, and staff announcements, with a moved
clock: first the pure decisions, then the watcher + dispatcher against real rows and sinks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.config.notifications import Announcements, Escalation
from monitor.core.clock import FakeClock
from monitor.core.events import Notice
from monitor.rulebook.announcements import AnnouncementView, announcement_action
from monitor.rulebook.paging import IncidentView, paging_notices
from notifiers.dispatcher import Dispatcher
from notifiers.outbox import enqueue
from notifiers.watcher import Watcher
from tests.notifiers.notify_helpers import JsonSink, create_incident_table, write_config

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
POLICY = Escalation.model_validate({"repeat_interval": "10m", "tiers": [{"after": "15m", "tier": 2},
                                                                        {"after": "30m", "tier": 3}]})


def incident(**kw: Any) -> IncidentView:
    base: dict[str, Any] = {"id": 7, "component": "login", "impact": "critical", "title": "登录失败",
                            "status": "investigating", "detected_at": T0, "started_at": T0 - timedelta(minutes=2)}
    base.update(kw)
    return IncidentView(**base)


@pytest.mark.parametrize(
    ("minutes", "sent", "expected"),
    [
        (5, set(), []),
        (10, set(), ["incident:7:reminder:1"]),
        (12, {"incident:7:reminder:1"}, []),
        (15, {"incident:7:reminder:1"}, ["incident:7:escalation:2"]),
        (20, {"incident:7:reminder:1", "incident:7:escalation:2"}, ["incident:7:reminder:2"]),
        (31, {"incident:7:reminder:1", "incident:7:escalation:2", "incident:7:reminder:2"},
         ["incident:7:escalation:3", "incident:7:reminder:3"]),
        # The monitor was down for an hour: one page to the highest tier, the latest reminder only.
        (65, set(), ["incident:7:escalation:3", "incident:7:reminder:6"]),
        (65, {"incident:7:escalation:3"}, ["incident:7:reminder:6"]),
    ],
)
def test_reminders_and_escalation_follow_unacked_time(minutes: int, sent: set[str], expected: list[str]) -> None:
    notices = paging_notices(incident(), sent, T0 + timedelta(minutes=minutes), POLICY)
    assert [n.key for n in notices] == expected


def test_escalation_and_reminders_reach_tiers_up_to_the_current_one() -> None:
    [esc, rem] = paging_notices(incident(), set(), T0 + timedelta(minutes=31), POLICY)
    assert esc.tier == 3 and rem.tier == 3 and rem.data["number"] == 3
    [rem1] = paging_notices(incident(), set(), T0 + timedelta(minutes=10), POLICY)
    assert rem1.tier == 1


@pytest.mark.parametrize("change", [{"acked_at": T0 + timedelta(minutes=3)}, {"resolved_at": T0 + timedelta(minutes=3)},
                                    {"status": "resolved"}])
def test_ack_or_resolution_stops_reminders_and_escalation(change: dict[str, Any]) -> None:
    assert paging_notices(incident(**change), set(), T0 + timedelta(hours=2), POLICY) == []


def test_reminders_can_be_turned_off() -> None:
    policy = Escalation.model_validate({"repeat_interval": 0, "tiers": []})
    assert paging_notices(incident(), set(), T0 + timedelta(hours=5), policy) == []


SETTINGS = Announcements.model_validate({"delay": "5m", "next_update": "30m"})


@pytest.mark.parametrize(
    ("view", "ann", "minutes", "expected"),
    [
        (incident(), None, 2, None),  # started 2 min before detection: 4 min in, not yet
        (incident(), None, 3, "publish"),  # 5 min since it started
        (incident(resolved_at=T0 + timedelta(minutes=1), status="resolved"), None, 10, None),  # a blip
        (incident(impact="minor"), None, 30, None),  # degraded is not an outage
        (incident(public=False), None, 30, None),  # not staff-visible
        (incident(), AnnouncementView(1, 7, "published", False, T0 + timedelta(minutes=33), 0,
                                      {"status": "investigating", "impact": "critical"}), 10, None),
        (incident(status="identified"), AnnouncementView(1, 7, "published", False, T0 + timedelta(minutes=33), 0,
                                                         {"status": "investigating", "impact": "critical"}), 10, "update"),
        (incident(status="identified"), AnnouncementView(1, 7, "published", True, T0 + timedelta(minutes=33), 0,
                                                         {"status": "investigating", "impact": "critical"}), 10, None),
        (incident(), AnnouncementView(1, 7, "updated", False, T0 + timedelta(minutes=33), 2,
                                      {"status": "investigating", "impact": "critical"}), 33, "remind"),
        (incident(resolved_at=T0 + timedelta(minutes=40), status="resolved"),
         AnnouncementView(1, 7, "updated", False, None, 2, {}), 41, "close"),
        (incident(resolved_at=T0, status="resolved"), AnnouncementView(1, 7, "closed", False, None, 3, {}), 50, None),
    ],
)
def test_announcement_decisions(view: IncidentView, ann: AnnouncementView | None, minutes: int, expected: str | None) -> None:
    assert announcement_action(view, ann, T0 + timedelta(minutes=minutes), SETTINGS) == expected


# -- the watcher and dispatcher over real rows --------------------------------------------------------


class Scene:
    """An incident table, a watcher and a dispatcher sharing one moved clock."""

    def __init__(self, store: Any, config: Any, clock: FakeClock, sink: JsonSink) -> None:
        self.store, self.config, self.clock, self.sink = store, config, clock, sink
        self.table = create_incident_table(store.engine)
        self.watcher = Watcher(store, config, clock=clock)
        self.dispatcher = Dispatcher(store, config, clock=clock)

    def open_incident(self, iid: int = 7, **extra: Any) -> None:
        """What the evaluator does: the incident row and its opened notice in one transaction."""
        now = self.clock.now()
        row = {"id": iid, "component": "login", "title": "登录接口连续失败", "status": "investigating",
               "impact": "critical", "started_at": now, "detected_at": now, "public": True,
               "data": {"check": "登录"}, **extra}
        with self.store.session() as s:
            s.connection().execute(sa.insert(self.table).values(**row))
            enqueue(s, Notice(event="incident.opened", key=f"incident:{iid}:opened", at=now, incident_id=iid,
                              component="login", severity="critical", title=row["title"], data=row["data"]), self.config)
            s.commit()

    def change(self, iid: int = 7, **values: Any) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(sa.update(self.table).where(self.table.c.id == iid).values(**values))

    async def at(self, minutes: float) -> list[tuple[str, str]]:
        """Move to T0 + minutes, run a watcher pass and a dispatch; return what arrived now."""
        before = len(self.sink.received)
        self.clock.set(T0 + timedelta(minutes=minutes))
        self.watcher.tick()
        await self.dispatcher.run_due()
        return sorted((r.path.strip("/"), r.key) for r in self.sink.received[before:])


@pytest.fixture
async def scene(tmp_path: Path, db_url: str, store_for: Any, json_sink: JsonSink) -> Any:
    config = write_config(tmp_path, db_url, f"""
channels:
  - {{name: tier1, urls: "{json_sink.url('tier1')}"}}
  - {{name: tier2, urls: "{json_sink.url('tier2')}", tier: 2, language: en}}
  - {{name: tier3, urls: "{json_sink.url('tier3')}", tier: 3}}
  - {{name: staff, urls: "{json_sink.url('staff')}", audience: staff}}
escalation:
  repeat_interval: 10m
  tiers: [{{after: 15m, tier: 2}}, {{after: 30m, tier: 3}}]
announcements: {{delay: 5m, next_update: 30m}}
""")
    s = Scene(store_for(db_url), config, FakeClock(T0), json_sink)
    yield s
    await s.dispatcher.close()


async def test_unacked_incident_is_reminded_and_escalated_then_ack_and_resolution_reach_everyone_told(scene: Scene) -> None:
    scene.open_incident()
    assert await scene.at(0) == [("tier1", "incident:7:opened")]
    assert await scene.at(4) == []
    assert await scene.at(5) == [("staff", "announcement:1:published")]
    assert await scene.at(10) == [("tier1", "incident:7:reminder:1")]
    assert await scene.at(15) == [("tier1", "incident:7:escalation:2"), ("tier2", "incident:7:escalation:2")]
    assert await scene.at(20) == [("tier1", "incident:7:reminder:2"), ("tier2", "incident:7:reminder:2")]
    assert await scene.at(30) == sorted([("tier1", "incident:7:escalation:3"), ("tier2", "incident:7:escalation:3"),
                                         ("tier3", "incident:7:escalation:3"), ("tier1", "incident:7:reminder:3"),
                                         ("tier2", "incident:7:reminder:3"), ("tier3", "incident:7:reminder:3")])
    # The announcement promised an update at 5 + 30 min: primary on-call hears it is due.
    assert await scene.at(35) == [("tier1", "announcement:1:due:0")]
    scene.change(acked_at=T0 + timedelta(minutes=36), acked_by="wang")
    assert await scene.at(36) == [("tier1", "incident:7:acked"), ("tier2", "incident:7:acked"), ("tier3", "incident:7:acked")]
    assert await scene.at(50) == []  # no reminders after the ack
    scene.change(status="identified")
    assert await scene.at(51) == [("staff", "announcement:1:update:1")]
    scene.change(status="resolved", resolved_at=T0 + timedelta(minutes=60))
    assert await scene.at(60) == sorted([("tier1", "incident:7:resolved"), ("tier2", "incident:7:resolved"),
                                         ("tier3", "incident:7:resolved"), ("staff", "announcement:1:closed")])
    assert await scene.at(90) == []
    escalation = next(r for r in scene.sink.at("tier2") if r.key == "incident:7:escalation:2").payload
    assert escalation["title"].startswith("[ESCALATED to tier 2]") and "invoicewatch ack 7" in escalation["message"]
    resolved = next(r for r in scene.sink.at("tier1") if r.key == "incident:7:resolved").payload
    assert resolved["title"].startswith("【已解决】") and resolved["type"] == "success"
    closed = scene.sink.at("staff")[-1].payload
    assert closed["title"].startswith("【已恢复】") and "纸质发票" in closed["message"]


async def test_a_blip_never_reaches_staff_and_its_resolution_reaches_on_call(scene: Scene) -> None:
    scene.open_incident()
    await scene.at(0)
    scene.change(status="resolved", resolved_at=T0 + timedelta(minutes=3))
    assert await scene.at(3) == [("tier1", "incident:7:resolved")]
    assert await scene.at(20) == []
    assert scene.sink.at("staff") == []


async def test_watcher_decides_the_same_thing_twice_without_sending_twice(scene: Scene) -> None:
    scene.open_incident()
    scene.clock.set(T0 + timedelta(minutes=16))
    scene.watcher.tick()
    scene.watcher.tick()
    await scene.dispatcher.run_due()
    keys = sorted(r.key for r in scene.sink.received)
    assert keys.count("incident:7:escalation:2") == 2  # tier1 and tier2, once each
    assert keys.count("incident:7:reminder:1") == 2
