"""The built-in server on 127.0.0.1: headers, files, /healthz, /metrics, /internal/, and the
service that regenerates the page when the bus says something changed."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from monitor.config import Config, load_config
from monitor.core.clock import FakeClock
from monitor.core.errors import StoreError
from monitor.core.results import Result, Status
from monitor.runtime import Monitor
from monitor.selfwatch import WRITER_FAILING_AFTER
from monitor.server import WebService, make_app, start
from monitor.statuspage.render import render_site
from monitor.statuspage.service import PageService
from monitor.statuspage.snapshot import build_snapshot
from tests.statuspage.statuspage_scenarios import NOW, PRIVATE, hostile_scenario, open_store, scenario

SERVICE_YAML = """
monitor: {{name: invoicewatch, timezone: Asia/Shanghai, language: zh-CN, database: "sqlite:///{db}", write_interval: 50ms}}
components:
  - {{id: query, name: {{zh-CN: 查询, en: Query}}}}
  - {{id: network, name: 本地网络, public: false}}
status_page:
  output_dir: "{out}"
  listen: 127.0.0.1
  port: 0
  refresh: {refresh}
  debounce: 20ms
  internal: {internal}
"""


async def until(predicate: Any, timeout: float = 30.0) -> Any:
    """Poll every 25 ms until `predicate()` (sync or async) is truthy; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.025)


def service_config(tmp: Path, *, refresh: str = "1h", internal: str = "auto") -> Path:
    path = tmp / "config.yaml"
    path.write_text(SERVICE_YAML.format(db=tmp / "iw.db", out=tmp / "site", refresh=refresh, internal=internal))
    return path


def page_monitor(config: Config, clock: FakeClock) -> tuple[Monitor, PageService, WebService]:
    """A monitor running only the status page: the regeneration loop and the server."""
    monitor = Monitor(config, clock=clock, services=[])
    page = PageService(monitor.store, config, clock=clock, bus=monitor.bus, redactor=monitor.redactor)
    web = WebService(config.status_page, page=page, monitor=monitor)
    monitor.services = [page, web]
    return monitor, page, web


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Monitor, PageService, httpx.AsyncClient]]:
    config = load_config(service_config(tmp_path))
    monitor, page, web = page_monitor(config, FakeClock(NOW))
    await monitor.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web.port}") as client:
        yield monitor, page, client
    await monitor.stop()


@pytest.fixture
async def site(tmp_path: Path, http_server: Any) -> str:
    config, store, _ = scenario("major_with_announcement", tmp_path)
    render_site(build_snapshot(store, config, NOW), tmp_path / "site")
    (tmp_path / "outside.txt").write_text("outside the folder")
    (tmp_path / "site" / "link.txt").symlink_to(tmp_path / "outside.txt")
    return str(await http_server(make_app(tmp_path / "site", config.status_page)))


async def raw_get(base: str, target: str) -> int:
    """Send a request line exactly as written (no client-side path normalisation)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize("path", ["/", "/en/", "/api/v2/summary.json", "/badges/query.svg", "/no-such-file", "/healthz"])
async def test_every_response_carries_the_security_headers(site: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=site) as client:
        r = await client.get(path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert "aiohttp" not in r.headers.get("server", "")


@pytest.mark.parametrize(
    ("path", "content_type", "cache"),
    [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/history.html", "text/html; charset=utf-8", "no-cache"),
        ("/api/v2/summary.json", "application/json; charset=utf-8", "no-cache"),
        ("/feed.atom", "application/atom+xml; charset=utf-8", "no-cache"),
        ("/badges/uptime/query.svg", "image/svg+xml; charset=utf-8", "public, max-age=60"),
        ("/static/status.css", "text/css; charset=utf-8", "public, max-age=86400"),
        ("/static/status.js", "text/javascript; charset=utf-8", "public, max-age=86400"),
    ],
)
async def test_files_are_served_with_type_and_cache_policy(site: str, path: str, content_type: str, cache: str) -> None:
    async with httpx.AsyncClient(base_url=site) as client:
        r = await client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"] == content_type
        assert r.headers["cache-control"] == cache
        again = await client.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


async def test_language_folder_without_slash_redirects(site: str) -> None:
    async with httpx.AsyncClient(base_url=site) as client:
        r = await client.get("/en")
        assert r.status_code == 301 and r.headers["location"] == "/en/"
        page = await client.get("/en/")
    assert '<html lang="en">' in page.text


@pytest.mark.parametrize(
    "target",
    ["/../outside.txt", "/%2e%2e/outside.txt", "/static/..%2f..%2foutside.txt", "/.manifest.json",
     "/link.txt", "/static/.status.css.1.tmp", "/%00", "/api/v2/..%5c..%5coutside.txt"],
)
async def test_nothing_outside_the_folder_or_hidden_is_served(site: str, target: str) -> None:
    assert await raw_get(site, target) in (400, 404)


async def test_healthz_is_ok_and_describes_the_monitor(running: Any) -> None:
    _monitor, _svc, client = running
    r = await client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["problems"] == []
    assert {"checks", "runs", "results_written", "results_pending", "write_failures", "config_ok"} <= set(body)
    assert body["status_page"]["renders"] >= 1
    assert r.headers["cache-control"] == "no-store"


async def test_healthz_is_503_after_a_failed_reload(running: Any) -> None:
    monitor, _svc, client = running
    Path(monitor.config.file).write_text("monitor: {timezone: Mars/Olympus}\n")
    assert await monitor.reload() is False
    r = await client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["problems"] == ["last config reload failed; running on the previous config"]
    assert "Mars" not in r.text  # no raw error text on a possibly public port


async def test_healthz_is_503_while_the_result_writer_keeps_failing(running: Any) -> None:
    monitor, _svc, client = running
    result = Result(check="x", status=Status.UP, started_at=NOW, latency_ms=1.0, location="local")
    await monitor.writer.close()  # stop the background writer; flush by hand below
    with monitor.store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE check_result RENAME TO check_result_gone"))
    monitor.writer.add(result)
    for n in range(WRITER_FAILING_AFTER):
        with pytest.raises(StoreError, match="cannot write results"):
            await monitor.writer.flush()
        assert (await client.get("/healthz")).status_code == (503 if n + 1 >= WRITER_FAILING_AFTER else 200)
    assert "result writer: 3 failed writes in a row" in (await client.get("/healthz")).json()["problems"]
    with monitor.store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE check_result_gone RENAME TO check_result"))
    await monitor.writer.flush()  # the batch was kept and now goes through
    assert (await client.get("/healthz")).status_code == 200


async def test_metrics_are_prometheus_text_with_checks_and_components(running: Any) -> None:
    monitor, _svc, client = running
    monitor.store.write_results([
        Result(check='查询"延迟"', status=Status.DEGRADED, started_at=NOW, latency_ms=1530.0, location="local"),
    ])
    _, seed = open_store(monitor.config)
    seed.status("query", "degraded_performance", NOW)
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert 'invoicewatch_check_status{check="查询\\"延迟\\"",location="local",status="degraded"} 1' in text
    assert 'invoicewatch_check_latency_seconds{check="查询\\"延迟\\"",location="local"} 1.53' in text
    assert 'invoicewatch_component_status{component="query",status="degraded_performance"} 1' in text
    assert 'invoicewatch_component_status{component="query",status="operational"} 0' in text
    for family in ("probes_total", "results_written_total", "results_pending", "write_failures_total",
                   "statuspage_renders_total"):
        assert f"# TYPE invoicewatch_{family} " in text


async def test_bus_change_regenerates_the_page_after_debounce(running: Any) -> None:
    monitor, page, client = running
    assert "查询" in (await client.get("/")).text
    renders = page.health.renders
    _, seed = open_store(monitor.config)
    seed.status("query", "major_outage", NOW - timedelta(minutes=1))
    for _ in range(5):  # a burst of changes is one render
        monitor.bus.publish("component_changed", "query")
    html = await until(lambda: _text_if(client, "服务严重中断"))
    assert "严重中断" in html
    await until(lambda: page.health.renders == renders + 1)
    monitor.bus.publish("announcement_changed")
    await until(lambda: page.health.renders == renders + 2)


async def _text_if(client: httpx.AsyncClient, needle: str) -> str | None:
    r = await client.get("/")
    return r.text if needle in r.text else None


async def test_page_is_regenerated_every_refresh_interval(tmp_path: Path) -> None:
    config = load_config(service_config(tmp_path, refresh="100ms"))
    clock = FakeClock(NOW)
    monitor, page, _web = page_monitor(config, clock)
    await monitor.start()
    try:
        clock.advance(timedelta(minutes=7))
        await until(lambda: "2026-03-02 14:37 UTC+08:00" in (tmp_path / "site" / "index.html").read_text())
        assert page.health.renders >= 2 and page.health.failures == 0
    finally:
        await monitor.stop()


async def test_internal_page_shows_check_detail_escaped_on_loopback_only(tmp_path: Path, http_server: Any) -> None:
    config, store, _ = hostile_scenario(tmp_path)
    from monitor.core.secrets import Redactor
    from monitor.statuspage.internal import render_internal

    async def internal() -> str:
        return await asyncio.to_thread(render_internal, store, config, NOW, Redactor(["s3cr3t-token-value"]))

    render_site(build_snapshot(store, config, NOW), tmp_path / "site")
    base = await http_server(make_app(tmp_path / "site", config.status_page, internal=internal))
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.get("/internal/")
        assert r.status_code == 200
        assert "10.20.30.40" in r.text and "Traceback" in r.text  # the raw evidence IT needs
        assert "s3cr3t-token-value" not in r.text and "***" in r.text  # secrets masked
        assert "<script>alert" not in r.text and "&lt;script&gt;" in r.text
        assert (await client.get("/internal/", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 404
        public = await client.get("/")
        assert not any(p in public.text for p in PRIVATE)


@pytest.mark.parametrize(
    ("listen", "mode", "forwarded", "allowed"),
    [
        ("127.0.0.1", "auto", False, True),
        ("127.0.0.1", "auto", True, False),
        ("0.0.0.0", "auto", False, False),
        ("0.0.0.0", "on", True, True),
        ("127.0.0.1", "off", False, False),
        ("::1", "auto", False, True),
        ("localhost", "auto", False, True),
    ],
)
def test_who_may_see_the_internal_page(listen: str, mode: str, forwarded: bool, allowed: bool) -> None:
    from aiohttp.test_utils import make_mocked_request

    from monitor.config.status_page import StatusPageSection
    from monitor.server import internal_allowed

    section = StatusPageSection(listen=listen, internal=mode)  # type: ignore[arg-type]
    headers = {"X-Forwarded-For": "203.0.113.9"} if forwarded else {}
    request = make_mocked_request("GET", "/internal/", headers=headers,
                                  transport=_Transport(("127.0.0.1", 50000)))
    assert internal_allowed(section, request) is allowed


class _Transport:
    """The peer address an aiohttp request reads (request.remote), for the pure access rule."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def is_closing(self) -> bool:
        return False


async def test_server_binds_a_free_port_when_port_is_zero(tmp_path: Path) -> None:
    from monitor.config.status_page import StatusPageSection

    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    runner, port = await start(make_app(tmp_path, StatusPageSection(port=0)), "127.0.0.1", 0)
    try:
        assert port > 0
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 200
    finally:
        await runner.cleanup()
