"""/metrics from a running monitor and server, parsed with prometheus_client's own parser: every
family is there with values that match what happened (a real outage opened an incident, a
refusing webhook left a failed attempt and a pending message, a login asked the simulator
for a token). Database figures are cached, read off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from monitor.config import load_config
from monitor.core.clock import FakeClock
from monitor.runtime import Monitor
from monitor.server import WebService
from monitor.simulator import Simulator, serve
from monitor.store import Store, pages
from tests.platform.platform_kit import platform_yaml, sim_settings
from tests.selfwatch.selfwatch_kit import Receiver, until

CONFIG = """
monitor: {{database: "sqlite:///{db}", write_interval: 50ms}}
evaluation: {{sweep_interval: 100ms}}
components:
  - {{id: api, name: API}}
checks:
  - {{name: api, kind: http, url: "{target}/health", component: api, interval: 1s, timeout: 500ms,
     failure_threshold: 1, retry_interval: 1s}}
  - {{name: login, kind: login, platform: sim, interval: 1h}}
channels:
  - {{name: oncall, urls: ["json://{hook}/hook"], audience: oncall}}
notifications: {{poll_interval: 100ms}}
status_page: {{output_dir: "{out}", listen: 127.0.0.1, port: 0}}
"""

FAMILIES = {
    # name (as the parser names it) -> type
    "invoicewatch_probe_duration_seconds": "histogram",
    "invoicewatch_scheduler_lateness_seconds": "histogram",
    "invoicewatch_scheduler_skipped_runs": "counter",
    "invoicewatch_probes": "counter",
    "invoicewatch_checks": "gauge",
    "invoicewatch_check_status": "gauge",
    "invoicewatch_check_latency_seconds": "gauge",
    "invoicewatch_check_last_result_timestamp_seconds": "gauge",
    "invoicewatch_component_status": "gauge",
    "invoicewatch_incidents_open": "gauge",
    "invoicewatch_outbox_pending": "gauge",
    "invoicewatch_outbox_oldest_pending_age_seconds": "gauge",
    "invoicewatch_delivery_failures": "counter",
    "invoicewatch_token_requests": "counter",
    "invoicewatch_results_written": "counter",
    "invoicewatch_results_pending": "gauge",
    "invoicewatch_write_failures": "counter",
    "invoicewatch_results_dropped": "counter",
    "invoicewatch_results_rejected": "counter",
    "invoicewatch_config_reload_ok": "gauge",
    "invoicewatch_config_reloads": "counter",
    "invoicewatch_config_last_reload_timestamp_seconds": "gauge",
    "invoicewatch_watchdog_pings": "counter",
    "invoicewatch_watchdog_withheld": "counter",
    "invoicewatch_self_heartbeats": "counter",
    "invoicewatch_statuspage_renders": "counter",
    "invoicewatch_statuspage_render_failures": "counter",
    "invoicewatch_statuspage_last_render_timestamp_seconds": "gauge",
    "invoicewatch_statuspage_render_duration_seconds": "gauge",
    "invoicewatch_metrics_store_read_failures": "counter",
    "process_resident_memory_bytes": "gauge",
}


@dataclass
class Running:
    monitor: Monitor
    client: httpx.AsyncClient
    hook: Receiver
    target: Receiver


@pytest.fixture
async def running(tmp_path: Path, http_server: Any) -> AsyncIterator[Running]:
    clock = FakeClock()
    simulator = Simulator(clock, seed=7, settings=sim_settings())
    sim_runner, sim_url = await serve(simulator, port=0)
    target, hook = Receiver(status=503), Receiver(status=503)
    target.base = str(await http_server(target.app()))
    hook.base = str(await http_server(hook.app()))
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "iw.db", target=target.base, hook=hook.base.removeprefix("http://"),
                                  out=tmp_path / "site") + platform_yaml(sim_url), encoding="utf-8")
    monitor = Monitor(load_config(path), clock=clock)
    await monitor.start()
    svc = next(s for s in monitor.services if isinstance(s, WebService))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.port}", trust_env=False) as client:
            yield Running(monitor, client, hook, target)
    finally:
        await monitor.stop()
        await sim_runner.cleanup()


async def scrape(client: httpx.AsyncClient) -> dict[str, list[Sample]]:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert r.headers["x-content-type-options"] == "nosniff"
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    missing = sorted(set(FAMILIES) - set(families))
    assert not missing, f"families missing from /metrics: {missing}"
    for name, kind in FAMILIES.items():
        assert families[name].type == kind, (name, families[name].type)
    return {name: f.samples for name, f in families.items()}


def failed_attempts(store: Store, channel: str) -> int:
    with store.engine.connect() as conn:
        return pages.delivery_failures(conn, pages.tables(conn)).get(channel, 0)


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return float(found[0])


async def test_metrics_has_every_family_with_what_happened(running: Running) -> None:
    m = running.monitor
    login = next(s for s in m.specs if s.name == "login")
    await m.scheduler.run_once(login)  # one token from the simulator
    await until(lambda: running.hook.hits, what="the on-call webhook tried (and refused)")
    # The receiver answers before the dispatcher records the refusal: wait for the record.
    await until(lambda: failed_attempts(m.store, "oncall"), what="the refused delivery recorded")
    await until(lambda: m.scheduler.lateness, what="a scheduled run")
    await until(lambda: any(st.check == "api" and st.last_status == "down" for st in m.store.states()),
                what="the failed probe written")
    await asyncio.to_thread(m.metrics.live.refresh, 0)  # a snapshot taken after the outage
    s = await scrape(running.client)

    assert value(s["invoicewatch_probe_duration_seconds"], "invoicewatch_probe_duration_seconds_count",
                 check="api", location="local") >= 1
    assert value(s["invoicewatch_probe_duration_seconds"], "invoicewatch_probe_duration_seconds_count",
                 check="login", location="local") == 1
    assert value(s["invoicewatch_scheduler_lateness_seconds"], "invoicewatch_scheduler_lateness_seconds_count") >= 1
    assert value(s["invoicewatch_probes"], "invoicewatch_probes_total") >= 2
    assert value(s["invoicewatch_scheduler_skipped_runs"], "invoicewatch_scheduler_skipped_runs_total",
                 reason="max_instances") == 0
    assert value(s["invoicewatch_checks"], "invoicewatch_checks") == 2
    assert value(s["invoicewatch_check_status"], "invoicewatch_check_status", check="api", status="down") == 1
    assert value(s["invoicewatch_check_status"], "invoicewatch_check_status", check="api", status="up") == 0
    assert 0 <= value(s["invoicewatch_check_latency_seconds"], "invoicewatch_check_latency_seconds", check="api") < 5
    assert value(s["invoicewatch_component_status"], "invoicewatch_component_status",
                 component="api", status="major_outage") == 1
    assert value(s["invoicewatch_incidents_open"], "invoicewatch_incidents_open") == 1
    assert value(s["invoicewatch_outbox_pending"], "invoicewatch_outbox_pending", channel="oncall") >= 1
    assert value(s["invoicewatch_outbox_oldest_pending_age_seconds"],
                 "invoicewatch_outbox_oldest_pending_age_seconds", channel="oncall") >= 0
    assert value(s["invoicewatch_delivery_failures"], "invoicewatch_delivery_failures_total", channel="oncall") >= 1
    assert value(s["invoicewatch_token_requests"], "invoicewatch_token_requests_total", platform="sim", user="") == 1
    assert value(s["invoicewatch_results_written"], "invoicewatch_results_written_total") >= 1
    assert value(s["invoicewatch_write_failures"], "invoicewatch_write_failures_total") == 0
    assert value(s["invoicewatch_config_reload_ok"], "invoicewatch_config_reload_ok") == 1
    assert value(s["invoicewatch_config_reloads"], "invoicewatch_config_reloads_total", outcome="failed") == 0
    started = value(s["invoicewatch_config_last_reload_timestamp_seconds"],
                    "invoicewatch_config_last_reload_timestamp_seconds")
    assert started == m.clock.now().timestamp()
    assert value(s["invoicewatch_statuspage_renders"], "invoicewatch_statuspage_renders_total") >= 1
    assert value(s["process_resident_memory_bytes"], "process_resident_memory_bytes") > 10_000_000

    # The page's age moves with the injected clock; a reload is counted and timed.
    m.clock.advance(90)  # type: ignore[attr-defined]
    assert await m.reload() is True
    s = await scrape(running.client)
    assert value(s["invoicewatch_outbox_oldest_pending_age_seconds"],
                 "invoicewatch_outbox_oldest_pending_age_seconds", channel="oncall") >= 90
    assert value(s["invoicewatch_config_reloads"], "invoicewatch_config_reloads_total", outcome="ok") == 1
    assert value(s["invoicewatch_config_last_reload_timestamp_seconds"],
                 "invoicewatch_config_last_reload_timestamp_seconds") == started + 90


async def test_database_figures_are_cached_between_scrapes(running: Running) -> None:
    live = running.monitor.metrics.live
    await scrape(running.client)
    first = live.snapshot
    await scrape(running.client)
    assert live.snapshot is first  # within SNAPSHOT_TTL: no second round of queries
    live.refresh(ttl=0)
    assert live.snapshot is not first and live.snapshot.taken_at > first.taken_at


async def test_openmetrics_is_served_when_asked_for(running: Running) -> None:
    r = await running.client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
