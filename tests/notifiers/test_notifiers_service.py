"""The notifier service inside a real Monitor: woken by the bus, polling otherwise, and
reporting the monitor's own problems."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from monitor.core.events import Notice
from monitor.runtime import Health, Monitor
from monitor.store import Store
from monitor.store.outbox import OutboxRow
from notifiers.outbox import enqueue
from notifiers.selfcheck import SelfCheck
from notifiers.service import NotifierService
from tests.notifiers.notify_helpers import JsonSink, until, write_config


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
