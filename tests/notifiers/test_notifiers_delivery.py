"""Real delivery through Apprise: json:// to a local aiohttp sink, mailto:// to a local aiosmtpd
server. The tests read what arrived and check its content in both languages."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import sqlalchemy as sa

from monitor.config import Config
from monitor.core.clock import FakeClock
from monitor.core.events import Notice
from monitor.rulebook import notices
from monitor.store.outbox import DeliveryAttemptRow, OutboxRow
from notifiers import announce as ann
from notifiers.dispatcher import Dispatcher
from notifiers.outbox import enqueue
from notifiers.sender import key_header
from tests.notifiers.notify_helpers import JsonSink, mailto, until, write_config

EVIDENCE = {
    "check": "登录",
    "step": "token",
    "envelope_code": "E1001",
    "envelope_message": "appSecret <script>alert(1)</script> 错误",
    "http_status": 200,
    "latency_ms": 312.4,
    "phases": {"connect": 1.2, "ttfb": 300.0},
    "since": "2026-03-02T00:55:00+00:00",
    "runbook": "http://wiki.local/runbook/login",
    "last_results": [
        {"at": "2026-03-02T00:58:00+00:00", "status": "down", "latency_ms": 310, "message": "E1001"},
        {"at": "2026-03-02T00:59:00+00:00", "status": "down", "latency_ms": 312, "message": "E1001"},
    ],
}


def opened(clock: FakeClock, incident_id: int = 7) -> Notice:
    return Notice(event="incident.opened", key=f"incident:{incident_id}:opened", at=clock.now(),
                  incident_id=incident_id, component="login", severity="critical",
                  title="登录接口连续失败", data=dict(EVIDENCE))


def rows(store, **where) -> list[OutboxRow]:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    with store.session() as s:
        stmt = select(OutboxRow)
        for k, v in where.items():
            stmt = stmt.where(getattr(OutboxRow, k) == v)
        return list(s.exec(stmt.order_by(OutboxRow.id)))


async def test_oncall_alert_arrives_by_webhook_and_email_in_both_languages(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink, smtp_sink, clock: FakeClock
) -> None:
    port, mails = smtp_sink
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: oncall-zh, urls: ["{json_sink.url('oncall-zh')}", "{mailto(port)}"]}}
  - {{name: oncall-en, urls: "{json_sink.url('oncall-en')}", language: en}}
  - {{name: staff, urls: "{json_sink.url('staff')}", audience: staff}}
""")
    store = store_for(sqlite_url)
    with store.session() as s:
        assert enqueue(s, opened(clock), config) == 3
        s.commit()
    dispatcher = Dispatcher(store, config, clock=clock)
    await dispatcher.run_due()
    await dispatcher.close()

    zh = json_sink.at("oncall-zh")
    en = json_sink.at("oncall-en")
    assert len(zh) == 1 and len(en) == 1 and json_sink.at("staff") == []
    zh_text = zh[0].payload["title"] + "\n" + zh[0].payload["message"]
    for expected in ("登录", "失败检查：登录，步骤：获取 token", "E1001", "平台返回：HTTP 200，但返回内容中报错 E1001", "312 ms", "connect 1.2 ms",
                     "开始于：2026-03-02 08:55", "已持续 5m", "处理手册：http://wiki.local/runbook/login",
                     "invoicewatch ack 7", "08:59:00 故障"):
        assert expected in zh_text, expected
    assert "<script>" in zh_text  # plain text is not escaped
    en_text = en[0].payload["title"] + "\n" + en[0].payload["message"]
    for expected in ("Login", "Failed check: 登录, step: token", "Platform said: HTTP 200, but an error inside the answer: E1001", "Since: 2026-03-02 08:55",
                     "Runbook: http://wiki.local/runbook/login", "Ack (stops reminders and escalation): invoicewatch ack 7"):
        assert expected in en_text, expected
    assert zh[0].key == "incident:7:opened"

    assert len(mails) == 1
    mail = mails[0]
    assert "登录接口连续失败" in mail.subject
    html = mail.part("text/html")
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert '<a href="http://wiki.local/runbook/login">' in html
    assert mail.message["X-Invoicewatch-Key"] == "incident:7:opened"
    assert all(r.status == "sent" and r.attempts == 1 for r in rows(store))


async def test_staff_announcement_carries_workaround_contact_and_next_update_in_both_languages(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink, smtp_sink, clock: FakeClock
) -> None:
    port, mails = smtp_sink
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: finance, urls: ["{json_sink.url('finance')}", "{mailto(port, 'finance@example.com')}"], audience: finance}}
  - {{name: staff-en, urls: "{json_sink.url('staff-en')}", audience: staff, language: en}}
  - {{name: oncall, urls: "{json_sink.url('oncall')}"}}
announcements:
  workaround: {{zh-CN: 请使用纸质发票或手机App开票, en: Use paper invoices or the mobile app}}
  contact: {{zh-CN: 财务IT 张三 分机 8123, en: Finance IT Zhang San ext. 8123}}
  next_update: 30m
notifications:
  status_page_url: http://status.local/
""")
    store = store_for(sqlite_url)
    from monitor.rulebook.paging import IncidentView

    view = IncidentView(id=3, component="issuance", impact="critical", title="开票接口不可用", status="investigating",
                        detected_at=clock.now(), started_at=clock.now())
    with store.session() as s:
        title, body, _ = ann.automatic_text(config, view)
        ann.publish(s, config, clock.now(), components=["issuance"], title=title, body=body, incident_id=3)
        s.commit()
    dispatcher = Dispatcher(store, config, clock=clock)
    await dispatcher.run_due()
    await dispatcher.close()

    assert json_sink.at("oncall") == []
    zh = json_sink.at("finance")[0].payload
    assert zh["title"] == "【系统公告】开票暂时无法使用"
    for expected in ("现象：开票暂时无法使用", "影响范围：", "临时办法：请使用纸质发票或手机App开票",
                     "联系方式：财务IT 张三 分机 8123", "下次更新时间：2026-03-02 09:30", "服务状态页：http://status.local/"):
        assert expected in zh["message"], expected
    en = json_sink.at("staff-en")[0].payload
    assert en["title"] == "[Notice] Invoice issuing is unavailable"
    for expected in ("What you see: Invoice issuing is unavailable", "Affected: Everyone who uses Invoice issuing",
                     "Meanwhile: Use paper invoices or the mobile app", "Contact: Finance IT Zhang San ext. 8123",
                     "Next update: 2026-03-02 09:30"):
        assert expected in en["message"], expected
    assert len(mails) == 1 and "临时办法" in mails[0].part("text/html")


async def test_channel_failing_for_ten_minutes_gets_its_message_once_after_recovery(
    tmp_path: Path, db_url: str, store_for, json_sink: JsonSink, clock: FakeClock
) -> None:
    config = write_config(tmp_path, db_url, f"""
channels:
  - {{name: flaky, urls: "{json_sink.url('flaky')}/${{HOOK_TOKEN}}"}}
  - {{name: steady, urls: "{json_sink.url('steady')}"}}
  - {{name: email, urls: "{json_sink.url('backup')}"}}
notifications: {{retry_initial: 20s, retry_max: 2m, problem_after: 5m}}
""")
    flaky_path = "/flaky/tok-SECRET-123456"
    json_sink.status[flaky_path] = 500
    store = store_for(db_url)
    with store.session() as s:
        enqueue(s, opened(clock), config)
        s.commit()
    dispatcher = Dispatcher(store, config, clock=clock, rng=random.Random(1))
    start = clock.now()
    await dispatcher.run_due()
    # The healthy channels had their message at once, while flaky was refusing.
    assert len(json_sink.at("steady")) == 1 and len(json_sink.at("backup")) == 1
    assert json_sink.at(flaky_path) == [] and json_sink.refused

    while clock.now() - start < timedelta(minutes=10):
        clock.advance(timedelta(seconds=15))
        await dispatcher.run_due()
    assert json_sink.at(flaky_path) == []
    refusals = len(json_sink.refused)
    assert 4 <= refusals <= 12  # backoff, not hammering every 15 s

    json_sink.status[flaky_path] = 200
    for _ in range(20):  # at most retry_max (2 min) until the next try
        clock.advance(timedelta(seconds=15))
        await dispatcher.run_due()
    await dispatcher.close()
    assert len(json_sink.at(flaky_path)) == 1
    assert json_sink.at(flaky_path)[0].key == "incident:7:opened"

    flaky = rows(store, channel="flaky", key="incident:7:opened")[0]
    assert flaky.status == "sent" and flaky.attempts == refusals + 1
    # A channel failing past problem_after is reported to the others, once.
    problems = [r for r in json_sink.at("steady") if "flaky" in r.payload["message"]]
    assert len(problems) == 1 and "[MONITOR PROBLEM]" not in problems[0].payload["title"]  # zh-CN wording
    assert "渠道 flaky" in problems[0].payload["message"]
    assert rows(store, channel="flaky", event="monitor.problem") == []
    with store.engine.connect() as conn:
        attempts = conn.execute(sa.select(DeliveryAttemptRow.__table__).where(
            DeliveryAttemptRow.__table__.c.outbox_id == flaky.id)).all()
        dump = " ".join(str(tuple(r)) for r in conn.execute(sa.select(OutboxRow.__table__)))
        dump += " ".join(str(tuple(r)) for r in conn.execute(sa.select(DeliveryAttemptRow.__table__)))
    assert len(attempts) == refusals + 1 and [a.ok for a in attempts][-1] is True
    assert all(a.error and "500" in a.error for a in attempts[:-1])
    assert "tok-SECRET-123456" not in dump


async def test_slow_channel_does_not_hold_the_others(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink, clock: FakeClock
) -> None:
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: slow, urls: "{json_sink.url('slow')}", timeout: 5s}}
  - {{name: fast, urls: ["{json_sink.url('fast1')}", "{json_sink.url('fast2')}"]}}
""")
    json_sink.delay["/slow"] = 1.5
    store = store_for(sqlite_url)
    with store.session() as s:
        enqueue(s, opened(clock), config)
        s.commit()
    dispatcher = Dispatcher(store, config, clock=clock)
    began = time.monotonic()
    await dispatcher.run_due(wait=False)
    await until(lambda: len(json_sink.at("fast1")) == 1 and len(json_sink.at("fast2")) == 1, what="fast channels")
    assert json_sink.at("slow") == []
    fast_done = max(r.at for r in json_sink.received) - began
    await until(lambda: len(json_sink.at("slow")) == 1, what="slow channel")
    await dispatcher.close()
    assert fast_done < 1.0
    assert json_sink.at("slow")[0].at - began >= 1.5


def grouped_oncall(tmp_path: Path, sqlite_url: str, json_sink: JsonSink) -> Config:
    """One English on-call channel whose route groups incident events for 30 s."""
    return write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: oncall, urls: "{json_sink.url('oncall')}", language: en}}
routes:
  - {{events: "incident.*", channels: oncall, group_window: 30s}}
""")


def update(clock: FakeClock, n: int, message: str) -> Notice:
    return Notice(event="incident.updated", key=f"incident:7:update:{n}", at=clock.now(), incident_id=7,
                  component="login", severity="critical", title="登录接口连续失败",
                  data={"message": message, "status": "identified"})


async def test_the_first_page_does_not_wait_for_the_group_window(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink, clock: FakeClock
) -> None:
    config = grouped_oncall(tmp_path, sqlite_url, json_sink)
    store = store_for(sqlite_url)
    dispatcher = Dispatcher(store, config, clock=clock)
    with store.session() as s:
        enqueue(s, opened(clock), config)
        s.commit()
    await dispatcher.run_due()  # the clock has not moved: the page goes now, not in 30 s
    assert [r.key for r in json_sink.received] == ["incident:7:opened"]
    assert "Sent late" not in json_sink.received[0].payload["message"]
    await dispatcher.close()


async def test_a_minor_incident_that_becomes_major_pages_at_once_despite_the_group_window(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink, clock: FakeClock
) -> None:
    config = grouped_oncall(tmp_path, sqlite_url, json_sink)
    store = store_for(sqlite_url)
    dispatcher = Dispatcher(store, config, clock=clock)
    with store.session() as s:
        enqueue(s, Notice(event="incident.degraded", key="incident:7:opened", at=clock.now(), incident_id=7,
                          component="login", severity="minor", title="登录变慢"), config)
        s.commit()
    await dispatcher.run_due()
    clock.advance(5)
    with store.session() as s:
        enqueue(s, update(clock, 1, "now down for every user"), config)  # critical: the first page
        s.commit()
    await dispatcher.run_due()
    assert [r.key for r in json_sink.received] == ["incident:7:opened", "incident:7:update:1"]
    clock.advance(5)
    with store.session() as s:
        enqueue(s, update(clock, 2, "the platform confirms"), config)  # a later page waits
        s.commit()
    await dispatcher.run_due()
    await dispatcher.close()
    assert len(json_sink.received) == 2


async def test_events_after_the_first_page_within_the_group_window_go_out_as_one_message(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink, clock: FakeClock
) -> None:
    config = grouped_oncall(tmp_path, sqlite_url, json_sink)
    store = store_for(sqlite_url)
    dispatcher = Dispatcher(store, config, clock=clock)
    with store.session() as s:
        enqueue(s, opened(clock), config)
        s.commit()
    await dispatcher.run_due()
    assert [r.key for r in json_sink.received] == ["incident:7:opened"]
    clock.advance(5)
    with store.session() as s:
        enqueue(s, update(clock, 1, "now failing for every user"), config)
        s.commit()
    clock.advance(10)
    await dispatcher.run_due()
    assert len(json_sink.received) == 1  # the update is held for the window
    with store.session() as s:
        enqueue(s, update(clock, 2, "the platform confirms"), config)
        s.commit()
    clock.advance(21)  # 31 s after the first update
    await dispatcher.run_due()
    await dispatcher.close()
    assert len(json_sink.received) == 2
    got = json_sink.received[1]
    assert got.key == "incident:7:update:1,incident:7:update:2"
    assert "now failing for every user" in got.payload["message"] and "the platform confirms" in got.payload["message"]
    assert all(r.status == "sent" for r in rows(store))


async def test_a_key_naming_a_chinese_check_is_delivered_with_a_percent_encoded_header(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink, smtp_sink, clock: FakeClock
) -> None:
    port, mails = smtp_sink
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: oncall, urls: ["{json_sink.url('oncall')}", "{mailto(port)}"], language: en}}
""")
    store = store_for(sqlite_url)
    notice = notices.flapping("登录", "login", clock.now(), 5, 1800.0, {})
    assert notice.key.startswith("check:登录:flapping:")
    with store.session() as s:
        assert enqueue(s, notice, config) == 2
        s.commit()
    dispatcher = Dispatcher(store, config, clock=clock)
    await dispatcher.run_due()
    await dispatcher.close()
    [got] = json_sink.at("oncall")  # not refused by the HTTP client, not retried
    raw = got.headers["X-Invoicewatch-Key"]
    assert raw.isascii() and "登录" not in raw and "%E7%99%BB%E5%BD%95" in raw
    assert unquote(raw) == notice.key == got.key
    assert [m.message["X-Invoicewatch-Key"] for m in mails] == [raw]
    assert [r.status for r in rows(store)] == ["sent", "sent"]


def test_key_header_encodes_what_a_header_cannot_carry_and_nothing_else() -> None:
    for key in ("incident:7:opened", "incident:7:opened,incident:7:update:1", "slo:api:page:2026-03-02T00:00:00+00:00"):
        assert key_header(key) == key
    for key in ("check:登录:flapping:x", "node:a\r\nX-Evil: 1", "a%b c", "tab\there"):
        value = key_header(key)
        assert value.isascii() and value.isprintable() and " " not in value and unquote(value) == key


async def test_quiet_hours_hold_minor_messages_but_not_pages(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink
) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - name: oncall
    urls: "{json_sink.url('oncall')}"
    quiet_hours: {{start: "22:00", end: "08:00"}}
""")
    store = store_for(sqlite_url)
    with store.session() as s:
        enqueue(s, opened(clock, 1), config)
        enqueue(s, Notice(event="incident.degraded", key="incident:2:degraded", at=clock.now(), incident_id=2,
                          component="login", severity="minor", title="登录变慢"), config)
        s.commit()
    dispatcher = Dispatcher(store, config, clock=clock)
    await dispatcher.run_due()
    assert [r.key for r in json_sink.received] == ["incident:1:opened"]
    clock.set(datetime(2026, 3, 2, 23, 59, tzinfo=UTC))  # 07:59 local
    await dispatcher.run_due()
    assert len(json_sink.received) == 1
    clock.advance(60)
    await dispatcher.run_due()
    await dispatcher.close()
    assert [r.key for r in json_sink.received] == ["incident:1:opened", "incident:2:degraded"]


async def test_message_older_than_max_age_is_marked_failed_and_kept(
    tmp_path: Path, sqlite_url: str, store_for, json_sink: JsonSink, clock: FakeClock
) -> None:
    config = write_config(tmp_path, sqlite_url, f"""
channels:
  - {{name: dead, urls: "{json_sink.url('dead')}"}}
notifications: {{retry_initial: 1m, retry_max: 10m, max_age: 30m, problem_after: 1h}}
""")
    json_sink.status["/dead"] = 503
    store = store_for(sqlite_url)
    with store.session() as s:
        enqueue(s, opened(clock), config)
        s.commit()
    dispatcher = Dispatcher(store, config, clock=clock, rng=random.Random(2))
    for _ in range(40):
        await dispatcher.run_due()
        clock.advance(timedelta(minutes=1))
    await dispatcher.close()
    [row] = rows(store)
    assert row.status == "failed" and row.attempts >= 3 and "503" in (row.last_error or "")


async def test_two_dispatchers_on_one_database_send_each_message_once(
    tmp_path: Path, db_url: str, store_for, json_sink: JsonSink, clock: FakeClock
) -> None:
    urls = ", ".join(f'"{json_sink.url(f"t{i}")}"' for i in range(6))
    config = write_config(tmp_path, db_url, f"""
channels:
  - {{name: many, urls: [{urls}], concurrency: 3}}
""")
    store_a, store_b = store_for(db_url), store_for(db_url)
    with store_a.session() as s:
        for i in range(5):
            enqueue(s, opened(clock, 100 + i), config)
        s.commit()
    a = Dispatcher(store_a, config, clock=clock, node="a")
    b = Dispatcher(store_b, config, clock=clock, node="b")
    await asyncio.gather(a.run_due(), b.run_due(), a.run_due(), b.run_due())
    await asyncio.gather(a.close(), b.close())
    assert len(json_sink.received) == 30
    assert len({(r.path, r.key) for r in json_sink.received}) == 30
    assert a.sent + b.sent == 30


async def test_enqueue_is_idempotent_and_resolution_reaches_everyone_told(
    tmp_path: Path, db_url: str, store_for, clock: FakeClock
) -> None:
    config = write_config(tmp_path, db_url, """
channels:
  - {name: primary, urls: ["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"]}
  - {name: second, urls: "json://127.0.0.1:9/c", tier: 2}
  - {name: staff, urls: "json://127.0.0.1:9/d", audience: staff}
""")
    store = store_for(db_url)
    with store.session() as s:
        assert enqueue(s, opened(clock), config) == 2  # tier 2 is not paged yet
        assert enqueue(s, opened(clock), config) == 0  # same key, same transaction
        s.commit()
    with store.session() as s:
        assert enqueue(s, opened(clock), config) == 0  # same key, later transaction
        escalation = Notice(event="escalation", key="incident:7:escalation:2", at=clock.now(), incident_id=7,
                            component="login", severity="critical", title="x", data={"tier": 2})
        assert enqueue(s, escalation, config) == 3
        s.commit()
    resolved = Notice(event="incident.resolved", key="incident:7:resolved", at=clock.now(), incident_id=7,
                      component="login", severity="critical", title="x")
    with store.session() as s:
        assert enqueue(s, resolved, config) == 3  # everyone told, tier 2 included; not staff
        s.rollback()  # the caller's transaction decides: nothing was written
    assert rows(store, key="incident:7:resolved") == []
    assert {(r.channel, r.target_index) for r in rows(store)} == {("primary", 0), ("primary", 1), ("second", 0)}
