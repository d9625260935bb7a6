"""Messages that say what happened: a check removed from the config is not a recovery, and a
message delivered late says when it was decided, in absolute times (zh-CN and en)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.config import Config, load_config
from monitor.core.clock import FakeClock
from monitor.core.results import Result, Status
from monitor.store.incidents import INCIDENTS, UPDATES
from monitor.store.outbox import OUTBOX
from notifiers.dispatcher import Dispatcher
from tests.notifiers.notify_helpers import JsonSink

CONFIG = """
monitor: {{database: "{db}", location: local, timezone: Asia/Shanghai, language: {lang}}}
incidents: {{resolve_after: 1m}}
notifications: {{retry_initial: 20s, retry_max: 1m}}
channels:
  - {{name: oncall, urls: ["{hook}"]}}
routes:
  - {{events: ["incident.*"], channels: [oncall], group_window: {group}}}
components:
  - {{id: api, name: {{zh-CN: 接口, en: API}}}}
checks:
{checks}
"""
CHECK = "  - {{name: {name}, kind: tcp, host: 127.0.0.1, port: 9, component: api, interval: 10s, timeout: 2s, retry_interval: 5s}}\n"


def write(tmp_path: Path, db: str, hook: str, names: list[str], lang: str = "en", group: str = "0s", file: str = "config.yaml") -> Config:
    path = tmp_path / file
    checks = "".join(CHECK.format(name=n) for n in names) or "  []\n"
    path.write_text(CONFIG.format(db=db, lang=lang, hook=hook, group=group, checks=checks), encoding="utf-8")
    return load_config(path)


async def feed(r: Any, clock: FakeClock, status: str, names: list[str], n: int = 1) -> None:
    for _ in range(n):
        for name in names:
            spec = r.svc.config.check(name)
            await r.svc.on_result(spec, Result(name, Status(status), clock.now(), 3.0, f"{name} {status}", location="local"))
        await r.svc.tick()
        clock.advance(5)


def rows(r: Any, table: sa.Table, *where: Any) -> list[Any]:
    with r.store.engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where).order_by(table.c.id)))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_removing_the_failing_check_closes_its_incident_as_removed_not_recovered(
    tmp_path: Path, sqlite_url: str, clock: FakeClock, boot: Any, lang: str
) -> None:
    config = write(tmp_path, sqlite_url, "json://127.0.0.1:9/x", ["api"], lang)
    r = await boot(config, clock)
    await feed(r, clock, "down", ["api"], 3)
    [inc] = rows(r, INCIDENTS)
    r.svc.on_config(write(tmp_path, sqlite_url, "json://127.0.0.1:9/x", [], lang, file="removed.yaml"))
    await r.svc.tick()
    [inc] = rows(r, INCIDENTS)
    assert inc.resolved_at is not None and inc.status == "resolved"
    actions = [(e.data["action"], e.data.get("reason")) for e in rows(r, UPDATES, UPDATES.c.incident_id == inc.id)]
    assert actions == [("opened", None), ("resolved", "removed")]
    bodies = {o.event: o.title + "\n" + o.body for o in rows(r, OUTBOX)}
    assert set(bodies) == {"incident.opened", "incident.resolved"}  # no "monitoring" update
    closed = bodies["incident.resolved"]
    if lang == "en":
        assert "removed from the config (api)" in closed and "not a recovery: the last result was down" in closed
        assert "working again" not in closed and "monitoring" not in closed
    else:
        assert "已从配置中移除（api）" in closed and "这不是恢复：最后结果为故障" in closed
        assert "已恢复正常" not in closed


async def test_removing_one_of_two_failing_checks_keeps_the_incident_open(
    tmp_path: Path, sqlite_url: str, clock: FakeClock, boot: Any
) -> None:
    config = write(tmp_path, sqlite_url, "json://127.0.0.1:9/x", ["api", "api2"])
    r = await boot(config, clock)
    await feed(r, clock, "down", ["api", "api2"], 3)
    r.svc.on_config(write(tmp_path, sqlite_url, "json://127.0.0.1:9/x", ["api2"], file="removed.yaml"))
    await feed(r, clock, "down", ["api2"])
    [inc] = rows(r, INCIDENTS)
    assert inc.resolved_at is None and inc.status == "investigating" and inc.data["checks"] == ["api2"]
    entries = [(e.data["action"], e.message) for e in rows(r, UPDATES, UPDATES.c.incident_id == inc.id)]
    assert entries[-1] == ("removed", "removed from config: api")
    assert [o.event for o in rows(r, OUTBOX)] == ["incident.opened"]  # a timeline entry, not a page
    await feed(r, clock, "up", ["api2"], 2)  # the one left recovers: that is a recovery
    assert [e.data["action"] for e in rows(r, UPDATES, UPDATES.c.incident_id == inc.id)][-1] == "recovered"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_grouped_events_held_by_a_channel_outage_say_when_they_were_decided(
    tmp_path: Path, sqlite_url: str, clock: FakeClock, boot: Any, json_sink: JsonSink, lang: str
) -> None:
    config = write(tmp_path, sqlite_url, json_sink.url("oncall"), ["api"], lang, group="10s")
    r = await boot(config, clock)
    json_sink.status["/oncall"] = 503  # the channel is down
    d = Dispatcher(r.store, config, clock=clock)
    try:
        await feed(r, clock, "down", ["api"], 3)  # opened
        await feed(r, clock, "up", ["api"], 2)  # recovered: an update
        clock.advance(15)
        await d.run_due()
        assert json_sink.at("oncall") == [] and json_sink.refused
        clock.advance(180)  # three minutes later the channel is back
        json_sink.status.pop("/oncall")
        await d.run_due()
    finally:
        await d.close()
    [msg] = json_sink.at("oncall")  # the held events, as one message
    body = msg.payload["message"]
    decided = [o.created_at for o in rows(r, OUTBOX)]
    assert len(decided) == 2
    zone = config.monitor.tz
    for at in decided:
        local = at.astimezone(zone)
        if lang == "en":
            assert f"Sent late: decided at {local:%Y-%m-%d %H:%M:%S}, delivered at " in body
        else:
            assert f"延迟送达：{local:%Y-%m-%d %H:%M:%S} 判定，" in body
    assert " ago" not in body and "已持续" not in body.replace("当时已持续", "")


async def test_a_message_on_time_has_no_late_line(
    tmp_path: Path, sqlite_url: str, clock: FakeClock, boot: Any, json_sink: JsonSink
) -> None:
    config = write(tmp_path, sqlite_url, json_sink.url("oncall"), ["api"])
    r = await boot(config, clock)
    await feed(r, clock, "down", ["api"], 3)
    d = Dispatcher(r.store, config, clock=clock)
    try:
        await d.run_due()
    finally:
        await d.close()
    [msg] = json_sink.at("oncall")
    assert "Sent late" not in msg.payload["message"] and "; decided at " in msg.payload["message"]
