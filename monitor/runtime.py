"""The running monitor: config -> store -> scheduler -> result pipeline -> services.

`Monitor` owns the pieces and their order of start and stop. Capabilities beyond probing
(evaluation and incidents, notification dispatch, the status page) plug in as `Service`s:
they are started after the store is migrated, get every result after it is queued for
writing, and are stopped before the final flush.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from checks.base import Context
from checks.client import HttpClientFactory
from monitor.config import Config, load_config
from monitor.core.clock import Clock, SystemClock
from monitor.core.errors import ConfigError
from monitor.core.results import Result
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec
from monitor.scheduler import ProbeScheduler, checks_for_location
from monitor.store import ResultWriter, Store

log = logging.getLogger(__name__)


class Service(Protocol):
    """A capability that runs alongside probing. Every method is optional in practice."""

    async def start(self, monitor: Monitor) -> None: ...

    async def stop(self) -> None: ...

    async def on_result(self, spec: CheckSpec, result: Result) -> None: ...

    def on_config(self, config: Config) -> None: ...


@dataclass
class Health:
    """What /healthz and the self-problem alerts read."""

    started: bool = False
    config_errors: list[str] = field(default_factory=list)
    last_reload_ok: bool = True


# Modules that give checks a shared service (platform sessions, token caches). Each exports
# `provide(config, ctx) -> None`, which puts its service into ctx.services.
# `invoicewatch check` builds its context the same way.
CONTEXT_PROVIDER_MODULES: list[str] = ["checks.platform.registry"]

# Modules of capabilities that run beside probing (evaluation, dispatch, the status page).
# Each exports `service(monitor) -> Service`; they start in this order and stop in reverse.
# Deciding first, telling after: incidents commit outbox rows that the notifiers deliver.
SERVICE_MODULES: list[str] = [
    "monitor.simulator.service",
    "checks.platform.registry",
    "monitor.incidents.service",
    "notifiers.service",
    "monitor.statuspage.service",
]


def make_context(config: Config, clock: Clock, http: HttpClientFactory, redactor: Redactor) -> Context:
    ctx = Context(clock=clock, http=http, redactor=redactor, location=config.monitor.location)
    for name in CONTEXT_PROVIDER_MODULES:
        importlib.import_module(name).provide(config, ctx)
    return ctx


async def close_context(ctx: Context) -> None:
    """Close what make_context opened: the HTTP clients and every shared service that has
    `aclose` (platform sessions, SQL engines and their worker threads)."""
    await ctx.http.aclose()
    for name, svc in list(ctx.services.items()):
        close = getattr(svc, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:
                log.exception("closing the %s service failed", name)


class Bus:
    """In-process notifications between services ("incident_changed", "outbox_added", ...).

    Publishing never fails the publisher: a subscriber's exception is logged. Durable facts
    live in the database; the bus only says "look again now".
    """

    def __init__(self) -> None:
        self._subs: dict[str, list[Callable[[Any], Any]]] = {}

    def subscribe(self, topic: str, callback: Callable[[Any], Any]) -> None:
        self._subs.setdefault(topic, []).append(callback)

    def publish(self, topic: str, payload: Any = None) -> None:
        for cb in self._subs.get(topic, []):
            try:
                out = cb(payload)
                if asyncio.iscoroutine(out):
                    asyncio.get_running_loop().create_task(out)
            except Exception:
                log.exception("subscriber of %s failed", topic)


class Monitor:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        services: list[Service] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.redactor = Redactor(config.secrets)
        self.store = Store(config.monitor.database)
        self.http = HttpClientFactory(transport=transport)
        self.ctx = make_context(config, self.clock, self.http, self.redactor)
        self.writer = ResultWriter(
            self.store,
            batch_size=config.monitor.write_batch_size,
            interval=config.monitor.write_interval.total_seconds(),
        )
        self.scheduler = ProbeScheduler(
            self.ctx,
            self._on_result,
            timezone=config.monitor.tz,
            max_concurrent=config.monitor.max_concurrent_probes,
        )
        self.services: list[Service] = list(services) if services is not None else []
        self.health = Health()
        self.bus = Bus()
        self._stop = asyncio.Event()

    @property
    def specs(self) -> list[CheckSpec]:
        return checks_for_location(list(self.config.checks), self.config.monitor.location)

    async def start(self) -> None:
        await asyncio.to_thread(self.store.migrate)
        self.writer.start()
        if not self.services:
            self.services = [importlib.import_module(m).service(self) for m in SERVICE_MODULES]
        for svc in self.services:
            if hasattr(svc, "start"):
                await svc.start(self)
        self.scheduler.start(self.specs)
        self.health.started = True
        log.info("monitoring %d checks at location %r", len(self.specs), self.config.monitor.location)

    async def _on_result(self, spec: CheckSpec, result: Result) -> None:
        self.writer.add(result)
        for svc in self.services:
            handler = getattr(svc, "on_result", None)
            if handler is not None:
                try:
                    await handler(spec, result)
                except Exception:
                    log.exception("%s failed on the result of %s", type(svc).__name__, spec.name)

    def reload(self, path: str | None = None) -> bool:
        """Load the config again. A bad file is reported and the running config kept."""
        path = path or self.config.file
        try:
            new = load_config(path)
        except ConfigError as exc:
            self.health.last_reload_ok = False
            self.health.config_errors = [str(p) for p in exc.problems]
            log.error("config reload failed; keeping the running config:\n%s", exc)
            return False
        for secret in new.secrets:
            self.redactor.add(secret)
        self.config = new
        self.scheduler.replace(self.specs)
        for svc in self.services:
            if hasattr(svc, "on_config"):
                svc.on_config(new)
        self.health.last_reload_ok = True
        self.health.config_errors = []
        log.info("config reloaded: %d checks", len(self.specs))
        return True

    def request_stop(self) -> None:
        self._stop.set()

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        await self.start()
        try:
            await self._stop.wait()
        finally:
            log.info("stopping")
            await self.stop()

    async def stop(self, grace: float = 5.0) -> None:
        await self.scheduler.shutdown(grace)
        for svc in reversed(self.services):
            if hasattr(svc, "stop"):
                try:
                    await svc.stop()
                except Exception:
                    log.exception("stopping %s failed", type(svc).__name__)
        await self.writer.close()
        await close_context(self.ctx)
        await asyncio.to_thread(self.store.close)

    def describe(self) -> dict[str, Any]:
        return {
            "checks": len(self.specs),
            "runs": self.scheduler.runs,
            "results_written": self.writer.written,
            "results_pending": self.writer.pending,
            "write_failures": self.writer.failures,
            "config_ok": self.health.last_reload_ok,
        }
