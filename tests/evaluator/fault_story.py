"""One platform fault, played against the real simulator on a FakeClock (issue 15.3).

Every kind of check the example config runs on an invoice platform (the gateway, login, query,
a flow, permission, freshness, completeness, issuance) runs against the bundled simulator as
`invoicewatch run` would schedule it (intervals, fast re-checks); the results go through the
real IncidentService and Watcher into a real SQLite store. A fault is set at FAULT_AT and
cleared after its span; the story goes on until every incident has resolved, and keeps every
incident row, timeline entry and outbox row (what on-call and staff were sent).

`python -m tests.evaluator.fault_story latency` prints the figures of one story (incidents
opened, on-call messages, staff announcements).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from checks import run_check
from monitor.config import Config, load_config
from monitor.core.clock import FakeClock
from monitor.core.spec import CheckSpec
from monitor.incidents.service import IncidentService
from monitor.runtime import Monitor, close_context
from monitor.statuspage.render import render_site
from monitor.statuspage.snapshot import build_snapshot
from monitor.store.incidents import CURRENT, INCIDENTS, UPDATES
from monitor.store.outbox import OUTBOX
from notifiers.watcher import Watcher
from tests.simulator.simulator_kit import settings
from tests.statuspage.statuspage_story import AUDIENCES, Message

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
FAULT_AT = timedelta(minutes=2)
STEP = timedelta(seconds=5)
COMPONENTS = ("login", "query", "permission", "issuance", "sync", "data")

CONFIG = """
monitor: {{name: invoicewatch, timezone: Asia/Shanghai, language: zh-CN, database: "sqlite:///{db}"}}
defaults: {{interval: 30s, timeout: 10s, failure_threshold: 3, success_threshold: 2, retry_interval: 10s,
           latency: {{degraded: 500ms, down: 8s}}}}
components:
  - {{id: network, name: {{zh-CN: 本地网络, en: Local network}}, public: false}}
  - {{id: login, name: {{zh-CN: 登录, en: Login}}}}
  - {{id: query, name: {{zh-CN: 发票查询, en: Invoice query}}}}
  - {{id: permission, name: {{zh-CN: 查询权限, en: Query permissions}}}}
  - {{id: issuance, name: {{zh-CN: 开票, en: Invoice issuance}}}}
  - {{id: sync, name: {{zh-CN: 数据同步, en: Data sync}}}}
  - {{id: data, name: {{zh-CN: 发票数据完整性, en: Invoice data completeness}}}}
platforms:
  sim:
    profile: simulator
    base_url: "{sim}"
    sandbox: true
    timeout: 5s
    credentials: {{appKey: sim-admin, appSecret: sim-admin-secret}}
    users:
      sales: {{credentials: {{appKey: sim-sales, appSecret: sim-sales-secret}}}}
checks:
  - {{name: 本地网关, kind: tcp, component: network, role: baseline, host: 127.0.0.1, port: {port}}}
  - name: 开票平台网关
    kind: http
    component: login
    url: "{sim}/openapi/certification"
    conditions: ["[STATUS] < 500", "has([BODY].code) == true"]
  - {{name: 登录, kind: login, platform: sim, component: login, weight: critical}}
  - {{name: 发票查询, kind: query, platform: sim, component: query, window: 1h}}
  - name: 按流水号查询
    kind: flow
    platform: sim
    component: query
    steps:
      - {{name: newest, operation: list_invoices, variables: {{page: 1, page_size: 1}},
         extract: {{serial: "$.result.list[0].serialNo"}}, conditions: ["len([BODY].result.list) > 0"]}}
      - {{name: by-serial, request: {{path: "/openapi/invoices/{{serial}}"}}}}
  - name: 查询权限
    kind: permission
    platform: sim
    component: permission
    interval: 1m
    window: 3h
    users: [{{user: sales, min_visible: 1, reference: {{where: $.department, equals: [sales], min_share: 100%}}}}]
  - {{name: 数据同步, kind: freshness, platform: sim, component: sync, interval: 1m, field: date, window: 1h,
     max_lag: {{degraded: 5m, down: 15m}}, canary_prefixes: [IWCANARY]}}
  - {{name: 发票字段完整性, kind: completeness, platform: sim, component: data, interval: 1m, window: 3h,
     required: [number, date, amount]}}
  - {{name: 开票, kind: issuance, platform: sim, component: issuance, interval: 1m, timeout: 50s, deadline: 30s,
     poll_every: 2s, slow: 20s, cleanup: [red_flush], order_prefix: IWCANARY}}
incidents: {{resolve_after: 2m}}
""" + AUDIENCES + """announcements: {{delay: 1m, min_impact: minor}}
status_page: {{output_dir: "{out}", port: 0}}
"""


@dataclass
class Outcome:
    config: Config
    incidents: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    sites: dict[str, Path] = field(default_factory=dict)  # moment -> rendered status page
    seen: dict[str, set[str]] = field(default_factory=dict)  # component -> every status it showed
    shown: list[tuple[timedelta, str, str]] = field(default_factory=list)  # (since START, component, status) changes

    def last(self, comp: str) -> str | None:
        return next((st for _, c, st in reversed(self.shown) if c == comp), None)

    def spells(self, status: str) -> list[tuple[str, timedelta]]:
        """(component, how long) of every time a component showed `status`."""
        out = []
        for i, (at, comp, st) in enumerate(self.shown):
            if st == status:
                end = next((a for a, c, _ in self.shown[i + 1:] if c == comp), None)
                out.append((comp, (end if end is not None else at) - at))
        return out

    def to(self, channel: str, event: str | None = None) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and (event is None or m.event == event)]

    @property
    def pages(self) -> list[Message]:
        """On-call pages: the messages that tell on-call an incident opened."""
        return [m for m in self.to("oncall") if m.event in ("incident.opened", "incident.degraded")]

    @property
    def announcements(self) -> list[Message]:
        return self.to("staff", "announcement.published")

    def figures(self) -> dict[str, int]:
        return {"incidents": len(self.incidents), "pages": len(self.pages), "oncall": len(self.to("oncall")),
                "announcements": len(self.announcements), "staff": len(self.to("staff"))}


@dataclass
class Script:
    """What happens: `fault` (name, params) from FAULT_AT for `span`; `also` more faults set
    at FAULT_AT + their offset and cleared with their own span; `moments` to look at the page
    and the CLI (name -> time since START)."""

    fault: str
    params: dict[str, Any] = field(default_factory=dict)
    span: timedelta = timedelta(minutes=3)
    also: tuple[tuple[timedelta, str, dict[str, Any], timedelta], ...] = ()
    moments: dict[str, timedelta] = field(default_factory=dict)
    end: timedelta = timedelta(minutes=12)


async def play(tmp: Path, script: Script, *, text: str = CONFIG) -> Outcome:
    from monitor.simulator import Simulator, serve

    clock = FakeClock(START)
    simulator = Simulator(clock, seed=7, settings=settings())
    runner, url = await serve(simulator, port=0)
    port = int(url.rsplit(":", 1)[1])
    path = tmp / "config.yaml"
    path.write_text(text.format(db=tmp / "iw.db", sim=url, port=port, out=tmp / "site"), encoding="utf-8")
    config = load_config(path)
    out = Outcome(config)
    monitor = Monitor(config, clock=clock, services=[])
    due: dict[str, datetime] = {}

    async def fake_sleep(seconds: float) -> None:  # a canary's polls move the shared clock
        clock.advance(seconds)
        await asyncio.sleep(0)

    monitor.ctx.services["platforms"].sleep = fake_sleep

    def recheck(name: str, delay: timedelta) -> None:
        due[name] = min(due.get(name, clock.now() + delay), clock.now() + delay)

    svc = IncidentService(monitor.store, config, clock=clock, bus=monitor.bus, recheck=recheck, autorun=False)
    watcher = Watcher(monitor.store, config, clock=clock)
    await asyncio.to_thread(monitor.store.migrate)
    await svc.start()
    specs: list[CheckSpec] = [c for c in config.checks if c.enabled]
    for spec in specs:
        due[spec.name] = START
    events = [(FAULT_AT, "set", script.fault, script.params), (FAULT_AT + script.span, "clear", script.fault, {})]
    for offset, name, params, span in script.also:
        events += [(FAULT_AT + offset, "set", name, params), (FAULT_AT + offset + span, "clear", name, {})]
    events.sort(key=lambda e: e[0])
    moments = dict(script.moments)
    try:
        while clock.now() - START <= script.end:
            elapsed = clock.now() - START
            while events and events[0][0] <= elapsed:
                _, what, name, params = events.pop(0)
                if what == "set":
                    simulator.faults.set(name, params)
                else:
                    simulator.faults.clear(name)
            for spec in specs:
                if due[spec.name] <= clock.now():
                    due[spec.name] = clock.now() + spec.interval
                    result = await run_check(spec, monitor.ctx)
                    await svc.on_result(spec, result)
            await svc.tick()
            await asyncio.to_thread(watcher.tick)
            for comp, status in (await asyncio.to_thread(_statuses, monitor)).items():
                if status not in out.seen.setdefault(comp, set()) or out.last(comp) != status:
                    out.shown.append((clock.now() - START, comp, status))
                out.seen[comp].add(status)
            for name, moment in list(moments.items()):
                if clock.now() - START >= moment:
                    del moments[name]
                    await asyncio.to_thread(_look, monitor, config, clock.now(), tmp / "sites" / name, out, name)
            clock.advance(STEP.total_seconds())
        out.incidents, out.updates, out.messages = await asyncio.to_thread(_rows, monitor)
    finally:
        await svc.stop()
        await close_context(monitor.ctx)
        await monitor.http.aclose()
        await asyncio.to_thread(monitor.store.close)
        await runner.cleanup()
    return out


def _look(monitor: Monitor, config: Config, now: datetime, folder: Path, out: Outcome, name: str) -> None:
    """What people see at a moment: the status page and the components' status."""
    render_site(build_snapshot(monitor.store, config, now), folder)
    out.sites[name] = folder


def _statuses(monitor: Monitor) -> dict[str, str]:
    with monitor.store.engine.connect() as conn:
        return {r.component: r.status for r in conn.execute(sa.select(CURRENT.c.component, CURRENT.c.status))}


def _rows(monitor: Monitor) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Message]]:
    with monitor.store.engine.connect() as conn:
        incidents = [dict(r._mapping) for r in conn.execute(sa.select(INCIDENTS).order_by(INCIDENTS.c.id))]
        updates = [dict(r._mapping) for r in conn.execute(sa.select(UPDATES).order_by(UPDATES.c.id))]
        rows = conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)).all()
    messages = [Message(r.created_at, r.channel, r.event, r.key, r.title, r.body) for r in rows]
    return incidents, updates, messages


FAULTS: dict[str, Script] = {
    "latency": Script("latency", {"seconds": 0.6}, span=timedelta(minutes=2)),
    "error_rate": Script("error_rate", {"rate": 0.3, "status": 500}, span=timedelta(minutes=8), end=timedelta(minutes=16)),
}


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "latency"
    with tempfile.TemporaryDirectory() as tmp:
        outcome = asyncio.run(play(Path(tmp), FAULTS[name]))
    print(f"{name}: {outcome.figures()}")
    print(f"  statuses shown: {[(str(a), c, s) for a, c, s in outcome.shown]}")
    for inc in outcome.incidents:
        print(f"  incident {inc['id']} {inc['component']}: {inc['title']} ({inc['impact']})")
    for m in outcome.messages:
        print(f"  {m.at - START} {m.channel} {m.event}: {m.title}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
