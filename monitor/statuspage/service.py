"""The status page as a runtime Service: the built-in server plus the regeneration loop.

`service(monitor)` is listed in monitor.runtime.SERVICE_MODULES. On start it renders once
(so the folder is never empty while serving), starts the server on status_page.listen/port,
and then regenerates

* after a status change: the bus topics in TOPICS wake the loop; it waits
  `status_page.debounce` so a burst of changes (ten components failing together) costs one
  render, then renders;
* at least every `status_page.refresh` (uptime figures and "last updated" move with time, and
  changes made by another process, e.g. the `announce` CLI, reach the page this way).

Rendering runs in a worker thread (SQL + Jinja2); a failed render is logged, counted in
PageHealth (/healthz, /metrics) and retried at the next wake-up; the previous files stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.config import Config
from monitor.core.aio import wait_event
from monitor.server import PageHealth, make_app, start
from monitor.statuspage.internal import render_internal
from monitor.statuspage.render import SiteWriter, WriteStats, build_files
from monitor.statuspage.snapshot import build_snapshot

if TYPE_CHECKING:
    from monitor.runtime import Monitor

log = logging.getLogger(__name__)

TOPICS = ("component_changed", "incident_changed", "announcement_changed")


class StatusPageService:
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        section = monitor.config.status_page
        self.out = Path(section.output_dir)
        self.page = PageHealth()
        self.writer = SiteWriter(self.out)
        self.port: int | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._bind = (section.listen, section.port)

    async def start(self, monitor: Monitor) -> None:
        self.monitor = monitor
        section = monitor.config.status_page
        if not section.enabled:
            log.info("status page disabled (status_page.enabled: false)")
            return
        for topic in TOPICS:
            monitor.bus.subscribe(topic, self.changed)
        await self.render_now()
        app = make_app(self.out, section, monitor=monitor, page=self.page, internal=self._internal)
        try:
            self._runner, self.port = await start(app, section.listen, section.port)
        except OSError as exc:
            # Probing and alerting matter more than serving the page: keep running, keep
            # writing the static files (any web server can serve them), and say so loudly.
            log.error(
                "status page server not started on %s:%d (%s); the page is still written to %s",
                section.listen, section.port, exc.strerror or exc, self.out,
            )
        else:
            log.info("status page at http://%s:%d/ (files in %s)", section.listen, self.port, self.out)
        self._task = asyncio.create_task(self._loop(), name="statuspage-regenerate")

    def changed(self, _payload: Any = None) -> None:
        """Bus callback: something the page shows has changed; regenerate soon."""
        self._wake.set()

    def on_config(self, config: Config) -> None:
        section = config.status_page
        if (section.listen, section.port) != self._bind or Path(section.output_dir) != self.out:
            log.warning("status_page listen/port/output_dir changed; takes effect after a restart")
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            section = self.monitor.config.status_page
            await wait_event(self._wake, section.refresh.total_seconds())
            if self._wake.is_set():
                await asyncio.sleep(section.debounce.total_seconds())
            self._wake.clear()
            await self.render_now()

    async def render_now(self) -> WriteStats | None:
        t0 = time.perf_counter()
        try:
            stats = await asyncio.to_thread(self._render)
        except Exception:
            self.page.failures += 1
            self.page.consecutive_failures += 1
            log.exception("rendering the status page failed (%d in a row); keeping the previous files",
                          self.page.consecutive_failures)
            return None
        self.page.renders += 1
        self.page.consecutive_failures = 0
        self.page.last_ok_at = time.time()
        self.page.last_duration_s = time.perf_counter() - t0
        self.page.files_written += stats.written
        return stats

    def _render(self) -> WriteStats:
        monitor = self.monitor
        snap = build_snapshot(monitor.store, monitor.config, monitor.clock.now())
        return self.writer.write(build_files(snap))

    async def _internal(self) -> str:
        m = self.monitor
        return await asyncio.to_thread(render_internal, m.store, m.config, m.clock.now(), m.redactor)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def service(monitor: Monitor) -> StatusPageService:
    return StatusPageService(monitor)
