"""The notifier commands against a real database and real receivers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlmodel import select

from monitor.cli import cli
from monitor.core.clock import FakeClock
from monitor.core.events import Notice
from monitor.store import Store
from monitor.store.announcements import AnnouncementRow
from monitor.store.outbox import OutboxRow
from notifiers.dispatcher import Dispatcher
from notifiers.outbox import enqueue
from tests.notifiers.notify_helpers import JsonSink, write_config


async def run(config_file: Path, *args: str) -> Result:
    """Invoke the CLI in a thread: the receivers live on this test's event loop."""
    return await asyncio.to_thread(CliRunner().invoke, cli, ["-c", str(config_file), *args])


def setup(tmp_path: Path, sqlite_url: str, sink: JsonSink) -> Any:
    return write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: oncall, urls: ["{sink.url('ok')}", "{sink.url('down')}/${{HOOK_TOKEN}}"]}}
  - {{name: staff, urls: "{sink.url('staff')}", audience: staff, language: en,
     quiet_hours: {{start: "22:00", end: "08:00"}}}}
""")


async def test_channels_test_prints_each_targets_result_without_secrets(
    tmp_path: Path, sqlite_url: str, json_sink: JsonSink, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "tok-SECRET-123456")
    config = setup(tmp_path, sqlite_url, json_sink)
    json_sink.status["/down/tok-SECRET-123456"] = 500
    result = await run(Path(config.file), "channels", "test", "oncall")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("oncall[0] json://127.0.0.1:") and ": ok (" in lines[0]
    assert lines[1].startswith("oncall[1] json://127.0.0.1:") and "FAILED" in lines[1] and "500" in lines[1]
    assert "tok-SECRET" not in result.output
    [got] = json_sink.at("ok")
    assert got.payload["title"] == "【测试】invoicewatch 通知渠道测试"

    listing = await run(Path(config.file), "channels", "list")
    assert listing.exit_code == 0 and "quiet 22:00-08:00" in listing.output and "tok-SECRET" not in listing.output
    unknown = await run(Path(config.file), "channels", "test", "oncal")
    assert unknown.exit_code == 2 and "did you mean 'oncall'" in unknown.output


async def test_outbox_lists_failed_deliveries_and_retry_sends_them(
    tmp_path: Path, sqlite_url: str, store_for: Any, json_sink: JsonSink, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "tok-SECRET-123456")
    config = setup(tmp_path, sqlite_url, json_sink)
    store: Store = store_for(sqlite_url)
    clock = FakeClock(datetime.now(UTC))
    json_sink.status["/down/tok-SECRET-123456"] = 500
    with store.session() as s:
        enqueue(s, Notice(event="incident.opened", key="incident:4:opened", at=clock.now(), incident_id=4,
                          component="login", severity="critical", title="登录失败"), config)
        s.commit()
    dispatcher = Dispatcher(store, config.model_copy(update={"notifications": config.notifications.model_copy(
        update={"max_age": config.notifications.retry_initial * 0})}), clock=clock)
    await dispatcher.run_due()
    listing = await run(Path(config.file), "outbox")
    assert listing.exit_code == 0
    assert "failed" in listing.output and "oncall[1]" in listing.output and "oncall[0]" not in listing.output
    assert "tok-SECRET" not in listing.output
    with store.session() as s:
        failed_id = s.exec(select(OutboxRow.id).where(OutboxRow.status == "failed")).one()

    json_sink.status.clear()
    retried = await run(Path(config.file), "outbox", "retry", str(failed_id))
    assert retried.exit_code == 0 and "1 message queued" in retried.output
    clock.set(datetime.now(UTC))
    await dispatcher.run_due()
    await dispatcher.close()
    assert len(json_sink.at("/down/tok-SECRET-123456")) == 1
    assert "outbox is empty" in (await run(Path(config.file), "outbox")).output
    assert (await run(Path(config.file), "outbox", "retry", "999")).exit_code == 1


async def test_announce_publish_update_close_by_hand_reaches_staff(
    tmp_path: Path, sqlite_url: str, store_for: Any, json_sink: JsonSink, monkeypatch: Any
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "tok-SECRET-123456")
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: staff, urls: "{json_sink.url('staff')}", audience: staff}}
""")
    store: Store = store_for(sqlite_url)
    file = Path(config.file)
    published = await run(file, "announce", "publish", "--component", "issuance", "--title", "周六开票系统维护",
                          "--phenomenon", "周六 20:00-22:00 无法开票", "--scope", "全公司", "--next-update", "2h")
    assert published.exit_code == 0, published.output
    assert (await run(file, "announce", "publish", "--component", "nope", "--title", "x")).exit_code == 2
    listing = await run(file, "announce", "list")
    assert "周六开票系统维护" in listing.output and "yes" in listing.output
    updated = await run(file, "announce", "update", "1", "--message", "维护推迟到 21:00 开始")
    assert updated.exit_code == 0, updated.output
    closed = await run(file, "announce", "close", "1", "--message", "维护已完成")
    assert closed.exit_code == 0, closed.output
    assert (await run(file, "announce", "close", "1")).exit_code == 1

    dispatcher = Dispatcher(store, config, clock=FakeClock(datetime.now(UTC)))
    await dispatcher.run_due()
    await dispatcher.close()
    got = [r.payload for r in json_sink.at("staff")]
    assert [p["title"] for p in got] == ["【系统公告】周六开票系统维护", "【公告更新】周六开票系统维护", "【已恢复】周六开票系统维护"]
    assert "现象：周六 20:00-22:00 无法开票" in got[0]["message"] and "影响范围：全公司" in got[0]["message"]
    assert "临时办法：请暂时使用纸质发票" in got[0]["message"]  # the configured default
    assert got[1]["message"].startswith("维护推迟到 21:00 开始")
    assert got[2]["message"].startswith("维护已完成")
    with store.session() as s:
        row = s.get(AnnouncementRow, 1)
        assert row is not None and row.status == "closed" and row.manual and row.revision == 1
