"""The status page's regeneration loop: `PageService` renders the files (served by
monitor.server.WebService or any web server) once at start, so the folder is never empty,
and then regenerates

* after a status change: the bus topics in TOPICS wake the loop; it waits
  `status_page.debounce` so a burst of changes (ten components failing together) costs one
  render, then renders;
* at least every `status_page.refresh` (uptime figures and "last updated" move with time, and
  changes made by another process, e.g. the `announce` CLI, reach the page this way).

A render renders again only the component cards, incidents and badges whose content changed
(render.Fragments keeps the rest from the last render); one whose snapshot says exactly what
the last one said (its time aside) is skipped:
no templates, no files (`PageHealth.skipped`); the page is rendered anyway once its "last
updated" is `STALE_AFTER` refresh periods old, so it never looks abandoned.

Rendering runs in a worker thread (SQL + Jinja2); a failed render is logged, counted in
PageHealth (/healthz, /metrics) and retried at the next wake-up; the previous files stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import Config
from monitor.core.aio import wait_event
from monitor.statuspage.internal import render_internal
from monitor.statuspage.model import ComponentView, IncidentView, Snapshot
from monitor.statuspage.render import Fragments, SiteWriter, WriteStats, build_files
from monitor.statuspage.snapshot import PageMemo, build_snapshot
from monitor.store.engine import log_failure

if TYPE_CHECKING:
    from monitor.core.bus import Bus
    from monitor.core.clock import Clock
    from monitor.core.secrets import Redactor
    from monitor.store import Store

log = logging.getLogger(__name__)

TOPICS = ("component_changed", "incident_changed", "announcement_changed")
STALE_AFTER = 10  # refresh periods an unchanged page may keep its "last updated" time
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class PageHealth:
    """The status page's own figures, kept by the regeneration loop, read by /healthz and /metrics."""

    renders: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_ok_at: float | None = None  # unix time
    last_duration_s: float | None = None
    files_written: int = 0
    skipped: int = 0  # renders skipped because nothing the page shows had changed


class PageService:
    def __init__(self, store: Store, config: Config, *, clock: Clock, bus: Bus, redactor: Redactor) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.bus = bus
        self.redactor = redactor
        self.out = Path(config.status_page.output_dir)
        self.health = PageHealth()
        self.writer = SiteWriter(self.out)
        self.fragments = Fragments()  # cards, incidents and badges of the last render, by what they show
        self.memo = PageMemo()  # what the last snapshot read and worked out, by what it was made from
        self._last_digest: str | None = None
        self._last_full = 0.0  # monotonic time of the last render that wrote the site
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.config.status_page.enabled

    async def start(self) -> None:
        if not self.enabled:
            log.info("status page disabled (status_page.enabled: false)")
            return
        for topic in TOPICS:
            self.bus.subscribe(topic, self.changed)
        await self.render_now()
        self._task = asyncio.create_task(self._loop(), name="statuspage-regenerate")

    def changed(self, _payload: Any = None) -> None:
        """Bus callback: something the page shows has changed; regenerate soon."""
        self._wake.set()

    def on_config(self, config: Config) -> None:
        if Path(config.status_page.output_dir) != self.out:
            log.warning("status_page.output_dir changed; takes effect after a restart")
        self.config = config
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            section = self.config.status_page
            await wait_event(self._wake, section.refresh.total_seconds())
            if self._wake.is_set():
                await asyncio.sleep(section.debounce.total_seconds())
            self._wake.clear()
            await self.render_now()

    async def render_now(self) -> WriteStats | None:
        t0 = time.perf_counter()
        try:
            stats = await asyncio.to_thread(self._render)
        except Exception as exc:
            self.health.failures += 1
            self.health.consecutive_failures += 1
            log_failure(log, "rendering the status page failed (%d in a row); keeping the previous files", exc,
                        self.health.consecutive_failures)
            return None
        self.health.renders += 1
        self.health.consecutive_failures = 0
        self.health.last_ok_at = time.time()
        self.health.last_duration_s = time.perf_counter() - t0
        self.health.files_written += stats.written
        return stats

    def _render(self) -> WriteStats:
        snap = build_snapshot(self.store, self.config, self.clock.now(), self.memo)
        digest = snapshot_digest(snap)
        age = self.clock.monotonic() - self._last_full
        if digest == self._last_digest and age < STALE_AFTER * self.config.status_page.refresh.total_seconds():
            self.health.skipped += 1
            return WriteStats(files=0, written=0, removed=0, bytes=0)
        stats = self.writer.write(build_files(snap, self.fragments))
        self._last_digest, self._last_full = digest, self.clock.monotonic()
        return stats

    async def internal(self) -> str:
        """The internal page (/internal/), rendered per request, never written to disk."""
        return await asyncio.to_thread(render_internal, self.store, self.config, self.clock.now(), self.redactor)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def snapshot_digest(snap: Snapshot) -> str:
    """What the page would say, its generation time aside, as a digest (the view model is
    frozen dataclasses, tuples and plain values: its repr is its content). Each component
    and incident brings the digest of its own repr (`ComponentView.key`, `IncidentView.key`,
    made with the view), so the 90,000 day bars of 1,000 components and the timelines of
    2,000 incidents are not written out again."""
    rest = repr(dataclasses.replace(snap, generated_at=_EPOCH, components=(), active_incidents=(),
                                    past_incidents=(), recent_incidents=())).encode()
    views: dict[str, Sequence[ComponentView | IncidentView]] = {
        "c": snap.components, "a": snap.active_incidents, "p": snap.past_incidents, "r": snap.recent_incidents,
    }
    keys = [f"{part}:{v.key or hashlib.sha256(repr(v).encode()).hexdigest()}".encode()
            for part, found in views.items() for v in found]
    return hashlib.sha256(b"\n".join((rest, *keys))).hexdigest()
