"""The running monitor, composed in plain sight: every service is built here by explicit
construction, and the path of a result reads top to bottom in this file.

    ProbeScheduler job (monitor/scheduler.py)
      -> checks.run_check(spec, ctx)                  probe: a Result with its evidence
      -> Monitor._on_result(spec, result)
           -> ResultWriter.add(result)                recorded, batched into the store
           -> IncidentService.on_result(spec, result) judged by the rulebook (evaluate); a
                                                      state change wakes the deciding tick
    IncidentService.tick()                            rulebook.reconcile -> incident, timeline,
                                                      component status and outbox rows in one
                                                      transaction -> bus "outbox_added",
                                                      "component_changed", "incident_changed"
    NotifierService (bus "outbox_added")              the dispatcher delivers outbox rows
                                                      through Apprise; the watcher applies
                                                      paging and announcement timing
    PageService (bus "component_changed", ...)        re-renders the status page files
    WebService                                        serves them, /healthz, /metrics

Roles (`run --role`, `monitor.role`) pick which of these a node runs:

    all          everything above in one process. On SQLite the only role: it is always the
                 leader and folds its own results as they come. On PostgreSQL it also
                 competes for leadership, like a controller that probes.
    probe        the scheduler, the result writer (numbering results in this node's
                 sequence, NOTIFY on commit), LocalRechecks (fast re-checks from the pure
                 evaluator over its own results), the token-quota watch (the counts are
                 this node's) and the self-check: no deciding, no dispatching, no page.
    controller   Leadership (one elected at a time, the others standing by), the Listener
                 (LISTEN: a node wrote results), IncidentService reading every node's
                 results from the store, the notifiers (dispatching while leading), the
                 page and /push/ (served by standbys too: the page only reads) and the
                 housekeeping (rollups and prune are idempotent). Probes nothing.

Every node keeps its row in `monitor_node` (NodePresence), which is how the leader notices a
node gone silent and `status` lists the nodes.

Services start in the order of `Monitor.services` (the simulator first, so the platform
answers before the first probe; leadership before deciding, deciding before telling) and stop
in reverse, before the final flush of buffered results: the services that act as the leader
stop before the lease is given up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from checks import run_check
from checks.base import Context, Progress
from checks.client import HttpClientFactory
from checks.heartbeat import SERVICE as PINGS
from checks.platform import registry as platform_registry
from checks.platform.history import SERVICE_KEY as HISTORY_KEY
from checks.platform.ledger import SERVICE_KEY as CANARY_LEDGER
from checks.platform.recovery import PlatformService
from checks.platform.registry import TOKEN_FILE_KEY as TOKEN_FILE
from checks.platform.tokens import TokenFile
from checks.sql import SERVICE as SQL_ENGINES
from checks.sql import SqlEngines
from monitor.config import Config
from monitor.config.models import DEFAULT_STATE_DIR, MonitorSection, role_problem
from monitor.config.reload import Budget, load_isolated
from monitor.core import __version__
from monitor.core.bus import Bus, Health
from monitor.core.clock import Clock, SystemClock
from monitor.core.errors import ConfigError, ConfigProblem
from monitor.core.results import Result
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec
from monitor.housekeeping import HousekeepingService
from monitor.incidents.rechecks import LocalRechecks
from monitor.incidents.service import IncidentService
from monitor.metrics import MonitorMetrics
from monitor.push import PushEndpoint
from monitor.quota import TokenQuotaWatch
from monitor.scheduler import ProbeScheduler, checks_for_location
from monitor.selfwatch import SelfWatch
from monitor.server import WebService
from monitor.simulator.service import SimulatorService
from monitor.statuspage.service import PageService
from monitor.store import ResultWriter, Store
from monitor.store.canaries import SqlCanaryLedger
from monitor.store.history import ResultHistory
from monitor.store.intake import Listener
from monitor.store.leadership import NEVER, SOLE, Leader, Leadership
from monitor.store.nodes import NodeInfo, NodePresence
from monitor.store.pings import SqlPingLedger
from monitor.warm import CommandServer
from monitor.warm import enabled as warm_enabled
from notifiers.service import NotifierService

log = logging.getLogger(__name__)


class Service(Protocol):
    """What the monitor starts beside probing. `on_config` is called after a good reload."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ResultConsumer(Protocol):
    async def on_result(self, spec: CheckSpec, result: Result) -> None: ...


def make_context(config: Config, clock: Clock, http: HttpClientFactory, redactor: Redactor) -> Context:
    """The context every check runs in, with the shared services checks may look up:
    platform sessions and their token caches (`ctx.services["platforms"]`), the SQL engines
    of `sql` checks and `freshness` sources (`"sql"`), and the canary ledger in the monitor's
    database (`"canaries"`, which the platform registry hands to the canary code). Checks
    never import the store: this is how what they need of it reaches them."""
    ctx = Context(clock=clock, http=http, redactor=redactor, location=config.monitor.location)
    ctx.services[SQL_ENGINES] = SqlEngines()
    if config.monitor.database:
        ctx.services[CANARY_LEDGER] = SqlCanaryLedger(config.monitor.database)
        ctx.services[PINGS] = SqlPingLedger(config.monitor.database)  # heartbeat checks and /push/
    # Platform tokens survive restarts and are shared with `check` (checks/platform/tokens.py).
    ctx.services[TOKEN_FILE] = TokenFile(state_dir(config))
    platform_registry.provide(ctx, config.platforms, timezone=config.monitor.timezone)
    return ctx


def state_dir(config: Config) -> Path:
    """`monitor.state_dir`. Left at its default under systemd, the unit's StateDirectory=
    (systemd passes it as $STATE_DIRECTORY). A relative one is taken from the config file's
    folder, so the monitor and `invoicewatch check` on the same file find the same state
    wherever they start."""
    given = config.monitor.state_dir
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if given == DEFAULT_STATE_DIR and systemd:
        return Path(systemd)
    path = Path(given).expanduser()
    if not path.is_absolute() and config.file:
        path = Path(config.file).resolve().parent / path
    return path


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


async def run_one(
    config: Config, spec: CheckSpec, *, clock: Clock | None = None, transport: httpx.AsyncBaseTransport | None = None,
    progress: Progress | None = None,
) -> Result:
    """Run one check now, outside any monitor (`invoicewatch check`, which watches it through
    `progress`), in a context of its own."""
    http = HttpClientFactory(transport=transport)
    ctx = make_context(config, clock or SystemClock(), http, Redactor(config.secrets))
    ctx.progress = progress
    try:
        return await run_check(spec, ctx)
    finally:
        await close_context(ctx)


def node_name(config: Config, role: str) -> str:
    """This node's name: `monitor.node`, else the location (all, probe) or the host name
    (a controller, which probes from nowhere)."""
    if config.monitor.node:
        return config.monitor.node
    return socket.gethostname()[:64] if role == "controller" else config.monitor.location


def _no_recheck(_check: str, _delay: timedelta) -> None:
    """An elected controller's evaluator asks for re-checks; the probing nodes' own
    LocalRechecks make them (they see the first failure before the controller does)."""


class Monitor:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        services: list[Any] | None = None,
        role: str | None = None,
        location: str | None = None,
        node: str | None = None,
    ) -> None:
        """Build the monitor. `services` replaces the standard set (tests run the probing
        pipeline alone, or with the one service they are about); each given service that has
        `on_result` receives every result. `role`, `location` and `node` (from `run`'s
        options or INVOICEWATCH_LOCATION / INVOICEWATCH_NODE: one config file for every node)
        win over the file's `monitor.*`, also after a reload; the role is fixed for the
        process's life."""
        self._identity = {k: v for k, v in (("location", location), ("node", node)) if v}
        config = self._identified(config)
        self.role = role or config.monitor.role
        problem = role_problem(self.role, config.monitor.database)
        if problem:
            raise ConfigError([ConfigProblem(config.file, None, None, "monitor.role", f"{problem} (run --role)")])
        self.node = node_name(config, self.role)
        self.probes = self.role in ("all", "probe")
        self.decides = self.role in ("all", "controller")
        # On PostgreSQL whoever may decide is elected; on SQLite the one process decides.
        self.elected = self.decides and not config.monitor.database.startswith("sqlite")
        self.config = config
        self.clock = clock or SystemClock()
        self.redactor = Redactor(config.secrets)
        self.health = Health()
        self.bus = Bus()
        self.store = Store(config.monitor.database, name=self.node)
        self.http = HttpClientFactory(transport=transport)
        self.ctx = make_context(config, self.clock, self.http, self.redactor)
        self.ctx.services[HISTORY_KEY] = ResultHistory(self.store)  # checks that learn from their own results
        self.writer = ResultWriter(
            self.store,
            batch_size=config.monitor.write_batch_size,
            interval=config.monitor.write_interval.total_seconds(),
            node=self.node,
            urgent_failures=self.role != "all" or self.elected,  # a controller elsewhere waits for it
        )
        self.leader: Leader = SOLE if self.decides else NEVER
        self.scheduler = ProbeScheduler(
            self.ctx,
            self._on_result,
            timezone=config.monitor.tz,
            max_concurrent=config.monitor.max_concurrent_probes,
            tune_gc=True,  # the running monitor owns the process: see monitor.scheduler.settle_gc
        )
        # Monitoring the monitor: sd_notify, watchdog, self heartbeat (monitor/selfwatch.py);
        # /metrics (monitor/metrics.py). Both read the monitor's live state.
        self.selfwatch = SelfWatch(self)
        self.metrics = MonitorMetrics(self)
        if services is None:
            self.services = self._standard_services()
        else:
            self.services = list(services)
        self.result_consumers: list[ResultConsumer] = [s for s in self.services if hasattr(s, "on_result")]
        self._stop = asyncio.Event()
        self._reloading: asyncio.Task[None] | None = None
        self._reload_again = False

    def _standard_services(self) -> list[Any]:
        config, clock, bus, store, node = self.config, self.clock, self.bus, self.store, self.node
        db, lease = config.monitor.database, config.monitor.lease.total_seconds()
        silent_after = config.monitor.node_silent_after
        self.simulator = SimulatorService(config.simulator, clock=clock)
        self.platforms = PlatformService(platform_registry.platforms_of(self.ctx))
        self.presence = NodePresence(
            store.engine, NodeInfo(node, self.role, config.monitor.location, socket.gethostname(), os.getpid(), __version__),
            clock=clock, every=min(5.0, silent_after.total_seconds() / 4), silent_after=silent_after,
        )
        services: list[Any] = [self.simulator, self.platforms, self.presence]
        if self.elected:
            self.leadership = Leadership(db, node, lease=lease, on_change=lambda leading: bus.publish("leadership", leading),
                                         application_name=f"{store.application_name} leadership")
            self.leader = self.leadership
            services.append(self.leadership)
        if self.probes and (self.elected or not self.decides):
            self.rechecks = LocalRechecks(config, clock=clock, recheck=self.scheduler.recheck_soon)
            services.append(self.rechecks)
        if self.decides:
            self.incidents = IncidentService(
                store, config, clock=clock, bus=bus, leader=self.leader, node=node, fold_own=not self.elected,
                recheck=_no_recheck if self.elected else self.scheduler.recheck_soon,
            )
            bus.subscribe("leadership", lambda _leading: self.incidents.wake())
            services.append(self.incidents)
            if self.elected:
                self.listener = Listener(db, self.incidents.wake, application_name=f"{store.application_name} listen")
                services.insert(services.index(self.incidents), self.listener)
        self.notifiers = NotifierService(
            store, config, clock=clock, bus=bus, redactor=self.redactor, health=self.health, writer=self.writer,
            leader=self.leader, node=node,
        )  # on a probe node only the self-check: its own problems, queued for the leader to send
        services.append(self.notifiers)
        if self.decides:
            self.page = PageService(store, config, clock=clock, bus=bus, redactor=self.redactor)
            pings = self.ctx.services.get(PINGS)
            self.push = PushEndpoint(pings, clock, config.checks) if pings is not None else None
            self.web = WebService(config.status_page, page=self.page, monitor=self, push=self.push)
            # Rollups as each hour closes, the nightly prune (monitor/housekeeping.py).
            self.housekeeping = HousekeepingService(store, config, clock=clock)
            services += [self.page, self.web, self.housekeeping]
        if self.probes:
            # On-call hears before a platform's token quota is spent (monitor/quota.py): the
            # token counts are this node's, where its platform sessions are.
            self.quota = TokenQuotaWatch(store, config, clock=clock, bus=bus,
                                         platforms=platform_registry.platforms_of(self.ctx))
            services.append(self.quota)
        if warm_enabled() and config.file:
            # Commands on this config file answered by a warm fork (monitor/warm.py).
            self.commands = CommandServer(config.file)
            services.append(self.commands)
        return services

    @property
    def specs(self) -> list[CheckSpec]:
        if not self.probes:
            return []
        return checks_for_location(list(self.config.checks), self.config.monitor.location)

    async def start(self) -> None:
        await asyncio.to_thread(self.store.migrate)
        self.writer.start()
        for svc in self.services:
            await svc.start()
        self.scheduler.start(self.specs)
        self.health.started = True
        await self.selfwatch.start()  # READY=1, watchdog and self heartbeat
        log.info("monitoring %d checks at location %r as node %r (role %s)", len(self.specs),
                 self.config.monitor.location, self.node, self.role)

    async def _on_result(self, spec: CheckSpec, result: Result) -> None:
        self.writer.add(result)
        self.metrics.observe(result)
        for consumer in self.result_consumers:
            try:
                await consumer.on_result(spec, result)
            except Exception:
                log.exception("%s failed on the result of %s", type(consumer).__name__, spec.name)

    async def reload(self, path: str | None = None) -> bool:
        """Load the config again, off the event loop: in a child process within the running
        config's budget (monitor.reload_timeout, reload_memory_mb), so probing goes on
        meanwhile. A file that fails for any reason (bad, too big, too slow) is reported and
        the running config kept."""
        path = path or self.config.file
        self.selfwatch.reloading()  # RELOADING=1
        m = self.config.monitor
        budget = Budget(seconds=m.reload_timeout.total_seconds(), memory_bytes=m.reload_memory_mb * 1024 * 1024)
        try:
            new = self._identified(await load_isolated(path, budget))
        except ConfigError as exc:
            self.health.last_reload_ok = False
            self.health.config_errors = [str(p) for p in exc.problems]
            log.error("config reload failed; keeping the running config:\n%s", exc,
                      extra={"event": "config.reload_failed", "fields": {"problems": self.health.config_errors}})
            self.selfwatch.reloaded(False)  # READY=1
            return False
        except OSError as exc:  # the child could not even be started
            self.health.last_reload_ok = False
            self.health.config_errors = [f"{path}:1:1: cannot start the config loader: {exc}"]
            log.error("config reload failed; keeping the running config: %s", exc)
            self.selfwatch.reloaded(False)  # READY=1
            return False
        try:
            self.apply(new)
        except Exception:  # a bug of ours; the monitor goes on with what it has
            log.exception("the reloaded config could not be applied")
            self.health.last_reload_ok = False
            self.health.config_errors = [f"{path}:1:1: the reloaded config could not be applied (see the log)"]
            self.selfwatch.reloaded(False)  # READY=1
            return False
        self.selfwatch.reloaded(True)  # READY=1
        return True

    def _identified(self, config: Config) -> Config:
        """The config with this node's location and name as given at start."""
        if not self._identity:
            return config
        try:
            section = MonitorSection.model_validate({**config.monitor.model_dump(), **self._identity})
        except ValidationError as exc:
            raise ConfigError([ConfigProblem(config.file, None, None, f"monitor.{'.'.join(map(str, e['loc']))}",
                                             f"{e['msg']} (run --location/--node)") for e in exc.errors()]) from None
        return config.model_copy(update={"monitor": section})

    def apply(self, new: Config) -> None:
        """Adopt a validated config: new secrets masked, checks rescheduled (unchanged ones
        keep their slot), platforms and every service told."""
        for secret in new.secrets:
            self.redactor.add(secret)
        if new.monitor.role != self.config.monitor.role:
            log.warning("monitor.role changed in the file; the role (%s) changes at the next start", self.role)
        self.config = new
        self.scheduler.replace(self.specs)
        platform_registry.platforms_of(self.ctx).update(new.platforms)
        for svc in self.services:
            if hasattr(svc, "on_config"):
                svc.on_config(new)
        self.health.last_reload_ok = True
        self.health.config_errors = []
        log.info("config reloaded: %d checks", len(self.specs),
                 extra={"event": "config.reloaded", "fields": {"checks": len(self.specs)}})

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        """SIGHUP: reload in a task (the handler must not block the loop). Signals that arrive
        while a reload runs are folded into one more reload after it."""
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True
            return
        self._reloading = asyncio.get_running_loop().create_task(self._reload_loop())

    async def _reload_loop(self) -> None:
        while True:
            self._reload_again = False
            try:
                await self.reload()
            except Exception:
                log.exception("config reload failed; keeping the running config")
            if not self._reload_again:
                return

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        await self.start()
        try:
            await self._stop.wait()
        finally:
            log.info("stopping")
            began = time.monotonic()
            await self.stop()
            log.info("stopped in %.1f s", time.monotonic() - began, extra={"event": "monitor.stopped"})

    async def stop(self, grace: float = 5.0) -> None:
        if self._reloading is not None and not self._reloading.done():
            self._reloading.cancel()  # the child loader is killed (load_isolated cleans up)
        await self.selfwatch.stop()  # STOPPING=1
        await self.scheduler.shutdown(grace)
        for svc in reversed(self.services):
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
            "role": self.role,
            "node": self.node,
            "leading": self.leader.is_leader,
        }
