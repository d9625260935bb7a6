"""The login-outage story of issue 12, played against the real simulator on a FakeClock.

Real checks (login, the gateway, query, freshness, completeness, the baseline) run against
the bundled simulator as `invoicewatch run` would schedule them (interval, fast re-checks);
their results go through the real IncidentService and Watcher into a real SQLite store. At
minute 2 `login_refused` is set; at minute 12 it is cleared; the incident resolves after its
quiet period. The story keeps every outbox row (the exact text each channel is sent) and
renders the status page at the moments people look at it.

Used by the browser test (tests/statuspage/test_statuspage_story.py) and the message test
(tests/notifiers/test_notifiers_story.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from checks import run_check
from monitor.config import Config, load_config
from monitor.core.clock import FakeClock
from monitor.core.spec import CheckSpec
from monitor.incidents import manual
from monitor.incidents.service import IncidentService
from monitor.runtime import Monitor, close_context
from monitor.statuspage.render import render_site
from monitor.statuspage.snapshot import build_snapshot
from monitor.store.incidents import INCIDENTS
from monitor.store.outbox import OUTBOX
from notifiers.watcher import Watcher
from tests.simulator.simulator_kit import settings

T = TypeVar("T")

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
FAULT_AT = timedelta(minutes=2)
MEND_AT = timedelta(minutes=12)
ACK_AT = timedelta(minutes=4)
END = timedelta(minutes=26)
STEP = timedelta(seconds=5)
ACKER = "zhang.san"
# Moments the page is rendered: name -> time since START.
MOMENTS = {"outage": timedelta(minutes=8), "recovered": timedelta(minutes=13), "resolved": END}

# Every audience in both languages: incidents to on-call, announcements to staff (a template
# like CONFIG: doubled braces).
AUDIENCES = """channels:
  - {{name: oncall, urls: "json://127.0.0.1:9/oncall", audience: oncall, language: zh-CN}}
  - {{name: oncall-en, urls: "json://127.0.0.1:9/oncall-en", audience: oncall, language: en}}
  - {{name: staff, urls: "json://127.0.0.1:9/staff", audience: staff, language: zh-CN}}
  - {{name: staff-en, urls: "json://127.0.0.1:9/staff-en", audience: staff, language: en}}
routes:
  - {{events: ["incident.*", reminder, escalation], channels: [oncall, oncall-en]}}
  - {{events: ["announcement.*", "maintenance.*"], channels: [staff, staff-en]}}
escalation: {{repeat_interval: 30m, tiers: []}}
"""

CONFIG = """
monitor: {{name: invoicewatch, timezone: Asia/Shanghai, language: zh-CN, database: "sqlite:///{db}"}}
defaults: {{interval: 1m, timeout: 5s, failure_threshold: 3, success_threshold: 2, retry_interval: 10s}}
components:
  - {{id: network, name: {{zh-CN: 本地网络, en: Local network}}, public: false}}
  - {{id: login, name: {{zh-CN: 登录, en: Login}}}}
  - {{id: query, name: {{zh-CN: 发票查询, en: Invoice query}}}}
  - {{id: sync, name: {{zh-CN: 数据同步, en: Data sync}}}}
  - {{id: data, name: {{zh-CN: 发票数据完整性, en: Invoice data completeness}}}}
platforms:
  sim: {{profile: simulator, base_url: "{sim}", sandbox: true, timeout: 3s,
        credentials: {{appKey: sim-admin, appSecret: sim-admin-secret}}}}
checks:
  - {{name: 本地网关, kind: tcp, component: network, role: baseline, host: 127.0.0.1, port: {port}, interval: 30s}}
  - name: 开票平台网关
    kind: http
    component: login
    url: "{sim}/openapi/certification"
    interval: 30s
    conditions: ["[STATUS] < 500", "has([BODY].code) == true"]
  - {{name: 登录, kind: login, platform: sim, component: login, weight: critical, interval: 30s,
     runbook: "https://wiki.example.com/runbooks/einvoice-login"}}
  - {{name: 发票查询, kind: query, platform: sim, component: query, interval: 1m, window: 1h}}
  - {{name: 数据同步, kind: freshness, platform: sim, component: sync, interval: 2m, field: date, window: 1h,
     max_lag: {{degraded: 5m, down: 15m}}}}
  - {{name: 发票字段完整性, kind: completeness, platform: sim, component: data, interval: 5m, window: 3h,
     required: [number, date, amount]}}
incidents: {{resolve_after: 10m}}
""" + AUDIENCES + """announcements:
  delay: 5m
  component_workarounds:
    login: {{zh-CN: 请改用手机App登录开票。, en: Please sign in with the mobile app instead.}}
notifications: {{status_page_url: "http://127.0.0.1:8080/"}}
status_page: {{output_dir: "{out}", port: 0, title: {{zh-CN: 电子发票服务状态, en: E-invoice service status}}}}
"""


@dataclass
class Message:
    at: datetime
    channel: str
    event: str
    key: str
    title: str
    body: str


@dataclass
class Story:
    config: Config
    sites: Path
    messages: list[Message] = field(default_factory=list)
    incident: dict[str, Any] = field(default_factory=dict)
    timeline: list[tuple[datetime, str]] = field(default_factory=list)  # (when, what happened)

    def to(self, channel: str, event: str | None = None) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and (event is None or m.event == event)]


def play(tmp: Path) -> Story:
    """Play the whole story (in a thread of its own, so a sync Playwright test can call it)."""
    return in_thread(lambda: _play(tmp), "story")


def in_thread(story: Callable[[], Coroutine[Any, Any, T]], name: str) -> T:
    """Run the coroutine `story()` makes to its end on an event loop in a thread of its own
    (module fixtures and sync Playwright tests cannot await); what it raised is raised here."""
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(asyncio.run(story()))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    thread.join(600)
    if errors:
        raise errors[0]
    assert out, f"{name} did not finish within 10 minutes"
    return out[0]


async def _play(tmp: Path) -> Story:
    from monitor.simulator import Simulator, serve

    clock = FakeClock(START)
    simulator = Simulator(clock, seed=7, settings=settings())
    runner, url = await serve(simulator, port=0)
    port = int(url.rsplit(":", 1)[1])
    path = tmp / "config.yaml"
    path.write_text(CONFIG.format(db=tmp / "iw.db", sim=url, port=port, out=tmp / "site"), encoding="utf-8")
    config = load_config(path)
    story = Story(config, tmp / "sites")
    monitor = Monitor(config, clock=clock, services=[])
    due: dict[str, datetime] = {}

    def recheck(name: str, delay: timedelta) -> None:
        due[name] = min(due.get(name, clock.now() + delay), clock.now() + delay)

    svc = IncidentService(monitor.store, config, clock=clock, bus=monitor.bus, recheck=recheck, autorun=False)
    watcher = Watcher(monitor.store, config, clock=clock)
    await asyncio.to_thread(monitor.store.migrate)
    await svc.start()
    specs: list[CheckSpec] = [c for c in config.checks if c.enabled]
    for spec in specs:
        due[spec.name] = START
    seen: set[int] = set()
    faulted = mended = acked = False
    try:
        while clock.now() - START <= END:
            elapsed = clock.now() - START
            if not faulted and elapsed >= FAULT_AT:
                simulator.faults.set("login_refused")
                story.timeline.append((clock.now(), "fault set: login_refused"))
                faulted = True
            if not mended and elapsed >= MEND_AT:
                simulator.faults.clear()
                story.timeline.append((clock.now(), "fault cleared"))
                mended = True
            for spec in specs:
                if due[spec.name] <= clock.now():
                    due[spec.name] = clock.now() + spec.interval
                    result = await run_check(spec, monitor.ctx)
                    await svc.on_result(spec, result)
            await svc.tick()
            await asyncio.to_thread(watcher.tick)
            if not acked and elapsed >= ACK_AT:
                acked = await asyncio.to_thread(_ack, monitor, config, clock.now())
                if acked:
                    story.timeline.append((clock.now(), f"acked by {ACKER}"))
            story.messages += await asyncio.to_thread(_new_messages, monitor, seen)
            for name, moment in MOMENTS.items():
                if elapsed == moment:
                    await asyncio.to_thread(_render, monitor, config, clock.now(), story.sites / name)
            clock.advance(STEP.total_seconds())
        story.incident = await asyncio.to_thread(_incident, monitor)
    finally:
        await svc.stop()
        await close_context(monitor.ctx)
        await monitor.http.aclose()
        await asyncio.to_thread(monitor.store.close)
        await runner.cleanup()
    return story


def _ack(monitor: Monitor, config: Config, now: datetime) -> bool:
    with monitor.store.session() as s:
        row = s.connection().execute(sa.select(INCIDENTS.c.id).where(INCIDENTS.c.resolved_at.is_(None))).first()
        if row is None:
            return False
        manual.ack(s, int(row.id), who=ACKER, now=now, config=config)
        s.commit()
    return True


def _new_messages(monitor: Monitor, seen: set[int]) -> list[Message]:
    with monitor.store.engine.connect() as conn:
        rows = conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)).all()
    out = []
    for r in rows:
        if r.id in seen:
            continue
        seen.add(r.id)
        out.append(Message(r.created_at, r.channel, r.event, r.key, r.title, r.body))
    return out


def _render(monitor: Monitor, config: Config, now: datetime, folder: Path) -> None:
    render_site(build_snapshot(monitor.store, config, now), folder)


def _incident(monitor: Monitor) -> dict[str, Any]:
    with monitor.store.engine.connect() as conn:
        row = conn.execute(sa.select(INCIDENTS).order_by(INCIDENTS.c.id)).first()
    assert row is not None, "the story opened no incident"
    return dict(row._mapping)
