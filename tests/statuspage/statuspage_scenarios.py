"""Scripted states of the platform, written into a real SQLite store (tests and bench share them).

Each scenario returns (config, store); `now` is a fixed moment so output is reproducible.
A background history (90 days of mostly operational status with a few short outages) makes
the bars and uptime figures realistic.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import Config, load_config
from monitor.core.results import Result, Status
from monitor.store import Store
from tests.statuspage.statuspage_seed import Seed

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)  # 14:30 in Asia/Shanghai

BASE_YAML = """
monitor:
  name: invoicewatch
  timezone: Asia/Shanghai
  language: {language}
  database: "sqlite:///{db}"
components:
{components}
checks:
  - {{name: 查询延迟, kind: tcp, component: query, host: 127.0.0.1, port: 9, interval: 30s}}
  - {{name: loopback, kind: tcp, component: network, host: 127.0.0.1, port: 9, role: baseline}}
status_page:
  output_dir: "{out}"
  port: 0
  description: {{zh-CN: 开票、查询遇到问题时请先查看本页。, en: Check this page first when invoicing misbehaves.}}
{extra}
"""

COMPONENTS = [
    ("login", "登录", "Login"),
    ("query", "查询", "Query"),
    ("issuance", "开票", "Issuance"),
    ("sync", "数据同步", "Data sync"),
]


def components_yaml(extra: list[tuple[str, str, str]] | None = None, private: tuple[str, ...] = ("network",)) -> str:
    lines = []
    for cid, zh, en in [*COMPONENTS, *(extra or [])]:
        lines.append(f"  - {{id: {cid}, name: {{zh-CN: {zh}, en: {en}}}}}")
    for cid in private:
        lines.append(f"  - {{id: {cid}, name: {{zh-CN: 本地网络, en: Local network}}, public: false}}")
    return "\n".join(lines)


def make_config(tmp: Path, *, language: str = "zh-CN", components: str | None = None, extra: str = "") -> Config:
    text = BASE_YAML.format(
        language=language, db=tmp / "iw.db", out=tmp / "site", components=components or components_yaml(), extra=extra
    )
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def open_store(config: Config) -> tuple[Store, Seed]:
    store = Store(config.monitor.database)
    return store, Seed(store)


def background(seed: Seed, ids: list[str], now: datetime = NOW, *, rng_seed: int = 7, outages: int = 3) -> None:
    """90 days operational for each component, with a few short outages in the past."""
    rng = random.Random(rng_seed)
    start = now - timedelta(days=92)
    for cid in ids:
        changes: list[tuple[datetime, str]] = [(start, "operational")]
        for _ in range(outages):
            at = start + timedelta(minutes=rng.randrange(0, 85 * 24 * 60))
            changes.append((at, rng.choice(["major_outage", "partial_outage", "degraded_performance"])))
            changes.append((at + timedelta(minutes=rng.randrange(3, 90)), "operational"))
        changes.sort()
        seed.history(cid, changes)


def latency_results(store: Store, check: str, now: datetime = NOW, *, message: str = "") -> None:
    """A day of results every 5 minutes with a daily curve, through the real result writer path."""
    rng = random.Random(3)
    results = []
    t = now - timedelta(hours=24)
    while t < now:
        base = 180 + 120 * (1 if 1 <= t.hour <= 9 else 0)
        results.append(Result(check=check, status=Status.UP, started_at=t, latency_ms=base + rng.expovariate(1 / 60),
                              message=message, location="local"))
        t += timedelta(minutes=5)
    store.write_results(results)


def scenario(name: str, tmp: Path, **kw: Any) -> tuple[Config, Store, Seed]:
    config = make_config(tmp, **kw)
    store, seed = open_store(config)
    ids = [c[0] for c in COMPONENTS]
    background(seed, ids)
    latency_results(store, "查询延迟")
    SCENARIOS[name](seed, NOW)
    return config, store, seed


def _all_up(seed: Seed, now: datetime) -> None:
    pass


def _one_degraded(seed: Seed, now: datetime) -> None:
    seed.status("query", "degraded_performance", now - timedelta(minutes=20))
    i = seed.incident("query", impact="minor", started_at=now - timedelta(minutes=22), title="查询延迟 degraded")
    seed.update(i, now - timedelta(minutes=20), "investigating", "latency 2.31s above 1.5s (http://10.20.30.40:8900/openapi)")


def _major_with_announcement(seed: Seed, now: datetime) -> None:
    seed.status("issuance", "major_outage", now - timedelta(minutes=35))
    i = seed.incident("issuance", impact="critical", started_at=now - timedelta(minutes=38),
                      detected_at=now - timedelta(minutes=35), title="开票 down: E1003 签名服务异常",
                      root_check="开票", data={"envelope_message": "E1003 internal error at 10.20.30.40"})
    seed.update(i, now - timedelta(minutes=35), "investigating", "E1003 签名服务异常 Traceback (most recent call last)")
    seed.update(i, now - timedelta(minutes=10), "identified", "税局接口签名服务故障，供应商正在处理。", kind="manual", author="ops")
    seed.announcement(
        title={"zh-CN": "开票服务中断", "en": "Invoice issuance is down"},
        body={
            "zh-CN": {"phenomenon": "开具电子发票时提示“签名失败”。", "scope": "所有开票用户。",
                      "workaround": "请暂时使用纸质发票，或使用税务数字账户手机 App 开票。", "contact": "IT 服务台 分机 8000"},
            "en": {"phenomenon": "Issuing an e-invoice fails with 'signature failed'.", "scope": "Everyone who issues invoices.",
                   "workaround": "Use paper invoices for now, or issue from the tax bureau mobile app.", "contact": "IT help desk, ext. 8000"},
        },
        components=["issuance"], created_at=now - timedelta(minutes=30), next_update_at=now + timedelta(minutes=30),
        incident_id=i,
    )


def _maintenance(seed: Seed, now: datetime) -> None:
    seed.status("sync", "under_maintenance", now - timedelta(minutes=15))
    seed.maintenance("数据同步服务升级", starts_at=now - timedelta(minutes=15), ends_at=now + timedelta(minutes=45),
                     components=["sync"])
    seed.maintenance("税局平台例行维护", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=2),
                     components=[])
    seed.maintenance("内网交换机更换", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=1),
                     components=["network"])


SCENARIOS = {
    "all_up": _all_up,
    "one_degraded": _one_degraded,
    "major_with_announcement": _major_with_announcement,
    "maintenance": _maintenance,
}


# Hostile text for the XSS and leak tests: each would run script if it reached the page unescaped.
HOSTILE = [
    '<script>alert("xss-script")</script>',
    '"><img src=x onerror=alert("xss-img")>',
    "javascript:alert('xss-js-url')",
    "<a href=\"javascript:alert('xss-link')\">click</a>",
    "'><svg onload=alert('xss-svg')>",
    "</title></textarea><iframe src=javascript:alert('xss-iframe')></iframe>",
    "{{ 7*7 }}{% raw %}",
]
# Evidence that must stay off the public page (it may appear on /internal/ only).
PRIVATE = ["10.20.30.40", "internal.bj-einvoice.local", "Traceback (most recent call last)", "s3cr3t-token-value"]


def hostile_scenario(tmp: Path) -> tuple[Config, Store, Seed]:
    """Every field that can reach a page carries hostile markup (and raw evidence where raw)."""
    import yaml

    h = " ".join(HOSTILE)
    leak = " ".join(PRIVATE)
    doc = {
        "monitor": {"name": "invoicewatch", "timezone": "Asia/Shanghai", "language": "zh-CN",
                    "database": f"sqlite:///{tmp / 'iw.db'}"},
        "components": [
            {"id": "evil", "name": {"zh-CN": f"恶意{h}", "en": f"Evil {h}"}, "description": {"zh-CN": h, "en": h}},
            {"id": "query", "name": {"zh-CN": "查询", "en": "Query"}},
            {"id": "network", "name": "本地网络", "public": False},
        ],
        "checks": [
            {"name": f"chk{HOSTILE[1]}", "kind": "tcp", "component": "evil", "host": "127.0.0.1", "port": 9},
            {"name": "查询延迟", "kind": "tcp", "component": "query", "host": "127.0.0.1", "port": 9},
        ],
        "status_page": {"output_dir": str(tmp / "site"), "port": 0, "title": {"zh-CN": f"状态{h}", "en": f"Status {h}"},
                        "description": h, "latency_components": ["evil", "query"]},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    store, seed = open_store(config)
    background(seed, ["evil", "query"])
    seed.status("evil", "major_outage", NOW - timedelta(minutes=30))
    i = seed.incident("evil", started_at=NOW - timedelta(minutes=31), title=f"{h} {leak}", root_check=f"chk{HOSTILE[1]}",
                      data={"envelope_message": f"{h} {leak}", "url": "http://internal.bj-einvoice.local/openapi"})
    seed.update(i, NOW - timedelta(minutes=30), "investigating", f"auto: {h} {leak}")
    seed.update(i, NOW - timedelta(minutes=5), "identified", f"manual: {h}", kind="manual", author=h)
    past = seed.incident("evil", status="resolved", started_at=NOW - timedelta(days=3),
                         resolved_at=NOW - timedelta(days=3) + timedelta(minutes=20), title=leak)
    seed.update(past, NOW - timedelta(days=3) + timedelta(minutes=20), "resolved", f"manual: {h}", kind="manual")
    seed.announcement(
        title={"zh-CN": f"公告{h}", "en": f"Notice {h}"},
        body={lang: {"phenomenon": h, "scope": h, "workaround": h, "contact": h} for lang in ("zh-CN", "en")},
        components=["evil"], created_at=NOW - timedelta(minutes=20), next_update_at=NOW + timedelta(minutes=30),
    )
    seed.maintenance(f"维护{h}", starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=1, hours=1),
                     components=["evil"])
    t = NOW - timedelta(hours=3)
    store.write_results([
        Result(check=f"chk{HOSTILE[1]}", status=Status.DOWN, started_at=t + timedelta(minutes=k), latency_ms=50.0 + k,
               message=f"{h} {leak}", location="local")
        for k in range(6)
    ])
    return config, store, seed
