"""The built-in HTTP server (aiohttp): the status page folder, /healthz, /metrics, /internal/,
and the heartbeat checks' /push/<token> (monitor/push.py).

    make_app(root, section, monitor=None, page=None, internal=None) -> web.Application
    start(app, host, port) -> (runner, bound port)      port 0 picks a free one
    WebService                                           the two above as a runtime service

Every response carries a strict Content-Security-Policy (default-src 'self', no inline
script or style), X-Content-Type-Options, Referrer-Policy and X-Frame-Options /
frame-ancestors, and `Server: invoicewatch` instead of aiohttp's version banner. Files are
served from the generated folder only: dot-files (temp files, the manifest) and anything
outside the folder are 404. HTML and JSON are `no-cache` (revalidated with ETag /
Last-Modified, so always fresh); versioned static assets are cached.

The port may be public, so the connection layer is guarded too (monitor/webguard.py):
requests aiohttp's parser rejects get the same headers and a neutral body, and one log line
without a traceback; headers must arrive within `status_page.header_timeout` of the
connection opening (or of the previous response), bodies within `body_timeout`; one client
address holds at most `max_connections_per_client` connections (more get 503, closed).

/healthz is 503 while monitor.selfwatch.problems() names any (probing or writing stalled,
the result writer failing, the last reload failed); its body is monitor.describe() plus the
page's render figures and those sentences, never raw error text. /metrics is the Prometheus
exposition of monitor/metrics.py (content type negotiated by prometheus_client).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from prometheus_client import ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from monitor.config.status_page import StatusPageSection, is_loopback
from monitor.push import PushEndpoint
from monitor.statuspage.render import CSP
from monitor.statuspage.service import PageHealth, PageService
from monitor.webguard import LIMITS, GuardedRunner, Limits, body_in_time

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.bus import Health
    from monitor.core.spec import CheckSpec
    from monitor.metrics import MonitorMetrics
    from monitor.scheduler import ProbeScheduler
    from monitor.selfwatch import SelfWatch
    from monitor.store import ResultWriter, Store

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Server": "invoicewatch",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".png": "image/png",
}
FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

InternalRenderer = Callable[[], Awaitable[str]]


class Monitor(Protocol):
    """What the server reads of the running monitor (monitor.runtime.Monitor) for /healthz and
    /metrics."""

    health: Health
    writer: ResultWriter
    scheduler: ProbeScheduler
    store: Store
    selfwatch: SelfWatch
    metrics: MonitorMetrics

    @property
    def specs(self) -> list[CheckSpec]: ...

    def describe(self) -> dict[str, Any]: ...


def health(monitor: Monitor | None, page: PageHealth | None) -> tuple[bool, dict[str, Any]]:
    body: dict[str, Any] = dict(monitor.describe()) if monitor is not None else {}
    problems = monitor.selfwatch.problems() if monitor is not None else []
    if page is not None:
        body["status_page"] = {
            "renders": page.renders, "render_failures": page.failures,
            "consecutive_render_failures": page.consecutive_failures, "last_render_ok_at": page.last_ok_at,
        }
    body["ok"] = not problems
    body["problems"] = problems
    return not problems, body


class PageCollector:
    """The status page's render figures for /metrics."""

    def __init__(self, page: PageHealth) -> None:
        self.page = page

    def collect(self) -> Iterator[Metric]:
        p = self.page
        yield CounterMetricFamily("invoicewatch_statuspage_renders", "Status page renders.", value=p.renders)
        yield CounterMetricFamily("invoicewatch_statuspage_render_failures", "Failed status page renders.",
                                  value=p.failures)
        last = GaugeMetricFamily("invoicewatch_statuspage_last_render_timestamp_seconds", "When the page was "
                                 "last rendered.")
        if p.last_ok_at is not None:
            last.add_metric([], p.last_ok_at)
        yield last
        duration = GaugeMetricFamily("invoicewatch_statuspage_render_duration_seconds", "Duration of the "
                                     "last render.")
        if p.last_duration_s is not None:
            duration.add_metric([], p.last_duration_s)
        yield duration


def metrics_registry(monitor: Monitor | None, page: PageHealth | None) -> CollectorRegistry:
    """One registry per app: the monitor's collectors, the page's, and the process's own
    (memory, CPU, open files: what a leak or a slow death shows first)."""
    registry = CollectorRegistry()
    if monitor is not None:
        for collector in monitor.metrics.collectors():
            registry.register(collector)
    if page is not None:
        registry.register(PageCollector(page))
    ProcessCollector(registry=registry)
    return registry


def _cache_control(rel: str) -> str:
    if rel.startswith("static/"):
        return "public, max-age=86400"
    if rel.startswith("badges/"):
        return "public, max-age=60"
    return "no-cache"


def make_app(
    root: str | Path,
    section: StatusPageSection,
    *,
    monitor: Monitor | None = None,
    page: PageHealth | None = None,
    internal: InternalRenderer | None = None,
    push: PushEndpoint | None = None,
) -> web.Application:
    """The server's application. `monitor` feeds /healthz and /metrics; `internal` renders
    /internal/; `push` answers heartbeat pings on /push/ (monitor/push.py)."""
    base = Path(root).resolve()
    registry = metrics_registry(monitor, page)

    async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value

    async def healthz(_request: web.Request) -> web.Response:
        ok, body = health(monitor, page)
        return web.json_response(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})

    async def metrics(request: web.Request) -> web.Response:
        if monitor is not None:
            await asyncio.to_thread(monitor.metrics.refresh)  # database figures, cached a few seconds
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = await asyncio.to_thread(encode, registry)
        return web.Response(body=body, headers={"Cache-Control": "no-store", "Content-Type": content_type})

    async def internal_page(request: web.Request) -> web.Response:
        if internal is None or not internal_allowed(section, request):
            raise web.HTTPNotFound()
        html = await internal()
        return web.Response(text=html, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})

    async def files(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"]
        parts = [p for p in rel.split("/") if p]
        if any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
            raise web.HTTPNotFound()
        path = base.joinpath(*parts)
        if path.is_dir():
            if rel and not rel.endswith("/"):
                raise web.HTTPMovedPermanently(location=f"/{rel}/")
            path = path / "index.html"
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise web.HTTPNotFound() from None
        if not resolved.is_relative_to(base) or not resolved.is_file():
            raise web.HTTPNotFound()
        rel_path = resolved.relative_to(base).as_posix()
        headers = {"Cache-Control": _cache_control(rel_path)}
        content_type = CONTENT_TYPES.get(resolved.suffix)
        if content_type:
            headers["Content-Type"] = content_type
        if rel_path.startswith(("api/", "badges/")):
            headers["Access-Control-Allow-Origin"] = "*"
        return web.FileResponse(resolved, headers=headers)

    app = web.Application(middlewares=[body_in_time])
    app[LIMITS] = Limits(
        header_timeout=section.header_timeout.total_seconds(),
        body_timeout=section.body_timeout.total_seconds(),
        per_client=section.max_connections_per_client,
    )
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/internal/", internal_page)
    app.router.add_get("/internal", _to_internal)
    if push is not None:
        push.add_routes(app)
    app.router.add_get("/{path:.*}", files)
    return app


async def _to_internal(_request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(location="/internal/")


def internal_allowed(section: StatusPageSection, request: web.Request) -> bool:
    """on: always; off: never; auto: bound to loopback, asked from loopback, not via a proxy."""
    if section.internal == "on":
        return True
    if section.internal == "off" or not section.internal_enabled:
        return False
    if any(h in request.headers for h in FORWARDED):
        return False
    return is_loopback(request.remote or "")


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    # A short shutdown_timeout: stopping the monitor must not wait on idle keep-alive readers.
    runner = GuardedRunner(app, headers=SECURITY_HEADERS, access_log=None, shutdown_timeout=5.0, logger=log)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, int(bound)


class WebService:
    """The built-in server as a runtime service: the page folder, /healthz, /metrics and
    /internal/ on status_page.listen:port. A port that is taken does not stop the monitor:
    probing and alerting matter more than serving the page, which is still written to disk."""

    def __init__(
        self, section: StatusPageSection, *, page: PageService, monitor: Monitor | None = None,
        push: PushEndpoint | None = None,
    ) -> None:
        self.section = section
        self.page = page
        self.monitor = monitor
        self.push = push
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        section = self.section
        if not section.enabled:
            return
        app = make_app(section.output_dir, section, monitor=self.monitor, page=self.page.health,
                       internal=self.page.internal, push=self.push)
        try:
            self._runner, self.port = await start(app, section.listen, section.port)
        except OSError as exc:
            log.error(
                "status page server not started on %s:%d (%s); the page is still written to %s",
                section.listen, section.port, exc.strerror or exc, section.output_dir,
            )
            return
        log.info("status page at http://%s:%d/ (files in %s)", section.listen, self.port, section.output_dir)

    def on_config(self, config: Config) -> None:
        if self.push is not None:
            self.push.update(config.checks)
        new = config.status_page
        if (new.listen, new.port, new.output_dir) != (self.section.listen, self.section.port, self.section.output_dir):
            log.warning("status_page listen/port/output_dir changed; takes effect after a restart")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
