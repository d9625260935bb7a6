"""The notifier service inside a real Monitor: woken by the bus, polling otherwise, and
reporting the monitor's own problems."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from sqlmodel import select

from monitor.core.bus import Bus
from monitor.core.events import Notice
from monitor.core.secrets import Redactor
from monitor.runtime import Health, Monitor
from monitor.store import Store
from monitor.store.outbox import OutboxRow
from notifiers.outbox import enqueue
from notifiers.selfcheck import SelfCheck
from notifiers.service import NotifierService
from tests.conftest import serve
from tests.moved_loop import MovedClock, run_moved
from tests.notifiers.notify_helpers import JsonSink, until, write_config
from tests.notifiers.test_notifiers_delivery import opened, update


async def test_outbox_added_on_the_bus_wakes_the_dispatcher_before_the_next_poll(
    tmp_path: Path, sqlite_url: str, json_sink: JsonSink
) -> None:
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: oncall, urls: "{json_sink.url('oncall')}"}}
notifications: {{poll_interval: 60s}}
""")
    monitor = Monitor(config)
    await monitor.start()
    try:
        assert any(isinstance(s, NotifierService) for s in monitor.services)
        with monitor.store.session() as s:
            enqueue(s, Notice(event="incident.opened", key="incident:1:opened", at=datetime.now(UTC), incident_id=1,
                              component="login", severity="critical", title="登录失败"), config)
            s.commit()
        began = time.monotonic()
        monitor.bus.publish("outbox_added")
        await until(lambda: len(json_sink.at("oncall")) == 1, timeout=30, what="delivery after the bus signal")
        assert time.monotonic() - began < 5  # far sooner than the 60 s poll
    finally:
        await monitor.stop()


async def test_failed_config_reload_is_reported_to_on_call_once(
    tmp_path: Path, sqlite_url: str, json_sink: JsonSink
) -> None:
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: oncall, urls: "{json_sink.url('oncall')}", language: en}}
notifications: {{poll_interval: 100ms}}
""")
    monitor = Monitor(config)
    await monitor.start()
    try:
        bad = tmp_path / "bad.yaml"
        bad.write_text("channels:\n  - {name: x, urls: 'nosuch://secret-value-1234'}\n", encoding="utf-8")
        assert await monitor.reload(str(bad)) is False
        await until(lambda: len(json_sink.at("oncall")) == 1, timeout=30, what="the monitor problem")
        got = json_sink.at("oncall")[0].payload
        assert got["title"] == "[MONITOR PROBLEM] config reload failed; the monitor keeps running the previous config"
        assert "channels[0].urls[0]" in got["message"] and "secret-value-1234" not in got["message"]
        assert await monitor.reload(str(bad)) is False
        service = next(s for s in monitor.services if isinstance(s, NotifierService))
        for _ in range(3):  # more passes: the same errors are not told again
            await asyncio.to_thread(service.check_self)
        with monitor.store.session() as s:
            assert len(s.exec(select(OutboxRow).where(OutboxRow.event == "monitor.problem")).all()) == 1
    finally:
        await monitor.stop()


class _Writer:
    """What SelfCheck reads of a ResultWriter (its public counters)."""

    def __init__(self) -> None:
        self.failures = 0
        self.last_error: str | None = None


async def test_database_refusing_writes_is_reported_directly(tmp_path: Path, json_sink: JsonSink) -> None:
    (tmp_path / "db-is-a-directory.db").mkdir()
    url = f"sqlite:///{tmp_path}/db-is-a-directory.db"
    config = write_config(tmp_path, url, f"""
channels:
  - {{name: oncall, urls: "{json_sink.url('oncall')}"}}
""")
    check, writer, health = SelfCheck(), _Writer(), Health()
    writer.failures, writer.last_error = 1, "cannot write results: OperationalError: unable to open database file"
    now = datetime.now(UTC)
    notices = check.notices(health, writer, now)
    assert [n.key.rsplit(":", 1)[0] for n in notices] == ["monitor:store-write-failed"]
    await asyncio.to_thread(check.report, Store(url), config, notices, now)
    assert len(json_sink.at("oncall")) == 1
    assert "【监控系统自身问题】" in json_sink.at("oncall")[0].payload["title"]
    await asyncio.to_thread(check.report, Store(url), config, notices, now)  # rate-limited
    assert len(json_sink.at("oncall")) == 1


def test_a_message_held_by_the_group_window_goes_out_when_the_window_ends_not_at_the_next_poll(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The poll is a minute; the route holds an incident's later messages 30 s. On a moved
    clock: after the update is queued the service sleeps until its hold ends, not a poll, and
    moving the clock by the hold delivers it (the minute's poll is not due yet)."""

    async def main(clock: MovedClock) -> None:
        sink, runners = JsonSink(), []
        app = web.Application()
        app.router.add_post("/{tail:.*}", sink.handle)
        sink.base = await serve(app, runners)
        config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: oncall, urls: "{sink.url('oncall')}", language: en}}
routes:
  - {{events: "incident.*", channels: oncall, group_window: 30s}}
notifications: {{poll_interval: 60s}}
""")
        store = Store(sqlite_url)
        store.migrate()
        bus = Bus()
        service = NotifierService(store, config, clock=clock, bus=bus, redactor=Redactor(config.secrets),
                                  health=Health(), writer=_Writer())  # type: ignore[arg-type]
        await service.start()
        try:
            with store.session() as s:
                enqueue(s, opened(clock), config)
                s.commit()
            bus.publish("outbox_added")
            await until(lambda: len(sink.at("oncall")) == 1, timeout=30, what="the first page, at once")
            clock.advance(5)
            with store.session() as s:
                enqueue(s, update(clock, 1, "now failing for every user"), config)  # held 30 s
                s.commit()
            bus.publish("outbox_added")
            held_until = clock.now() + timedelta(seconds=30)
            await until(lambda: service.next_look == held_until, timeout=30, what="a sleep until the hold ends")
            assert len(sink.at("oncall")) == 1
            clock.advance(30)
            await until(lambda: len(sink.at("oncall")) == 2, timeout=30, what="the update when its hold ended")
            assert sink.at("oncall")[1].key == "incident:7:update:1"
        finally:
            await service.stop()
            for runner in runners:
                await runner.cleanup()
            store.close()

    run_moved(main)
