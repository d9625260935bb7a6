"""The built-in HTTP server (aiohttp): the status page folder, /healthz, /metrics, /internal/.

    make_app(root, section, monitor=None, page=None, internal=None) -> web.Application
    start(app, host, port) -> (runner, bound port)      port 0 picks a free one
    WebService                                           the two above as a runtime service

Every response carries a strict Content-Security-Policy (default-src 'self', no inline
script or style), X-Content-Type-Options, Referrer-Policy and X-Frame-Options /
frame-ancestors. Files are served from the generated folder only: dot-files (temp files,
the manifest) and anything outside the folder are 404. HTML and JSON are `no-cache`
(revalidated with ETag / Last-Modified, so always fresh); versioned static assets are cached.

/healthz is 503 when the result writer keeps failing (WRITER_FAILING_AFTER failed batches in
a row) or the last config reload failed; its body is monitor.describe() plus the page's
render figures and the reasons, never raw error text (this port may be public).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from monitor.config.status_page import StatusPageSection, is_loopback
from monitor.statuspage.render import CSP
from monitor.statuspage.service import PageHealth, PageService

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.bus import Health
    from monitor.core.spec import CheckSpec
    from monitor.scheduler import ProbeScheduler
    from monitor.store import ResultWriter, Store

log = logging.getLogger(__name__)

WRITER_FAILING_AFTER = 3
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

    @property
    def specs(self) -> list[CheckSpec]: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class WriterWatch:
    """Counts result-writer failures since its last successful batch (the writer only keeps a total)."""

    failures_at_last_success: int = 0
    attached: list[Any] = field(default_factory=list)

    def attach(self, monitor: Monitor) -> None:
        writer = monitor.writer
        self.failures_at_last_success = writer.failures

        def on_written(_batch: Any) -> None:
            self.failures_at_last_success = writer.failures

        writer.on_written.append(on_written)
        self.attached.append(on_written)

    def consecutive(self, monitor: Monitor) -> int:
        return max(0, monitor.writer.failures - self.failures_at_last_success)


def health(monitor: Monitor | None, page: PageHealth | None, watch: WriterWatch) -> tuple[bool, dict[str, Any]]:
    body: dict[str, Any] = dict(monitor.describe()) if monitor is not None else {}
    problems: list[str] = []
    if monitor is not None:
        failing = watch.consecutive(monitor)
        if failing >= WRITER_FAILING_AFTER:
            problems.append(f"result writer: {failing} failed writes in a row")
        if not monitor.health.last_reload_ok:
            problems.append("last config reload failed; running on the previous config")
    if page is not None:
        body["status_page"] = {
            "renders": page.renders, "render_failures": page.failures,
            "consecutive_render_failures": page.consecutive_failures, "last_render_ok_at": page.last_ok_at,
        }
    body["ok"] = not problems
    body["problems"] = problems
    return not problems, body


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in labels.items()) + "}"


class Metrics:
    """Prometheus text exposition format 0.0.4, written by hand (a dozen families)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str, samples: Sequence[tuple[str, float]]) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{labels} {_num(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _num(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def metrics_text(monitor: Monitor | None, page: PageHealth | None) -> str:
    """Collect figures (runs SQL; call from a worker thread)."""
    from monitor.statuspage import queries
    from monitor.statuspage.model import SEVERITY

    m = Metrics()
    if monitor is not None:
        w = monitor.writer
        m.family("invoicewatch_probes_total", "counter", "Probes run since start.", [("", monitor.scheduler.runs)])
        m.family("invoicewatch_results_written_total", "counter", "Results written to the store.", [("", w.written)])
        m.family("invoicewatch_results_pending", "gauge", "Results waiting to be written.", [("", w.pending)])
        m.family("invoicewatch_write_failures_total", "counter", "Failed result-batch writes.", [("", w.failures)])
        m.family("invoicewatch_results_dropped_total", "counter", "Results dropped because the buffer was full.", [("", w.dropped)])
        m.family("invoicewatch_checks", "gauge", "Checks scheduled at this location.", [("", len(monitor.specs))])
        m.family("invoicewatch_config_ok", "gauge", "1 when the last config (re)load succeeded.", [("", monitor.health.last_reload_ok)])
        states = monitor.store.states()
        status_samples: list[tuple[str, float]] = []
        latency: list[tuple[str, float]] = []
        last_at: list[tuple[str, float]] = []
        for st in states:
            for s in ("up", "degraded", "down"):
                status_samples.append((_labels(check=st.check, location=st.location, status=s), st.last_status == s))
            if st.last_latency_ms is not None:
                latency.append((_labels(check=st.check, location=st.location), st.last_latency_ms / 1000))
            if st.last_result_at is not None:
                last_at.append((_labels(check=st.check, location=st.location), st.last_result_at.timestamp()))
        m.family("invoicewatch_check_status", "gauge", "Last probe status of each check (1 for the current one).", status_samples)
        m.family("invoicewatch_check_latency_seconds", "gauge", "Latency of each check's last probe.", latency)
        m.family("invoicewatch_check_last_result_timestamp_seconds", "gauge", "When each check last reported.", last_at)
        with monitor.store.engine.connect() as conn:
            current = queries.current_statuses(conn, queries.tables(conn))
        comp_samples = [
            (_labels(component=cid, status=s), cur.status == s) for cid, cur in sorted(current.items()) for s in SEVERITY
        ]
        m.family("invoicewatch_component_status", "gauge", "Current status of each component (1 for the current one).", comp_samples)
    if page is not None:
        m.family("invoicewatch_statuspage_renders_total", "counter", "Status page renders.", [("", page.renders)])
        m.family("invoicewatch_statuspage_render_failures_total", "counter", "Failed status page renders.", [("", page.failures)])
        if page.last_ok_at is not None:
            m.family("invoicewatch_statuspage_last_render_timestamp_seconds", "gauge", "When the page was last rendered.", [("", page.last_ok_at)])
        if page.last_duration_s is not None:
            m.family("invoicewatch_statuspage_render_duration_seconds", "gauge", "Duration of the last render.", [("", page.last_duration_s)])
    return m.text()


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
) -> web.Application:
    """The server's application. `monitor` feeds /healthz and /metrics; `internal` renders /internal/."""
    base = Path(root).resolve()
    watch = WriterWatch()
    if monitor is not None:
        watch.attach(monitor)

    async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value

    async def healthz(_request: web.Request) -> web.Response:
        ok, body = health(monitor, page, watch)
        return web.json_response(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})

    async def metrics(_request: web.Request) -> web.Response:
        text = await asyncio.to_thread(metrics_text, monitor, page)
        return web.Response(
            body=text.encode(),
            headers={"Cache-Control": "no-store", "Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

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

    app = web.Application()
    app.on_response_prepare.append(security_headers)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/internal/", internal_page)
    app.router.add_get("/internal", _to_internal)
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
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
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

    def __init__(self, section: StatusPageSection, *, page: PageService, monitor: Monitor | None = None) -> None:
        self.section = section
        self.page = page
        self.monitor = monitor
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        section = self.section
        if not section.enabled:
            return
        app = make_app(section.output_dir, section, monitor=self.monitor, page=self.page.health, internal=self.page.internal)
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
        new = config.status_page
        if (new.listen, new.port, new.output_dir) != (self.section.listen, self.section.port, self.section.output_dir):
            log.warning("status_page listen/port/output_dir changed; takes effect after a restart")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
