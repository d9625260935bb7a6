"""/metrics through prometheus_client: what the monitor measures about itself.

    MonitorMetrics(monitor)   owned by the Monitor; `observe(result)` on every result,
                              `collectors()` for a CollectorRegistry (the server builds one)

Two kinds of figures:

* observed as they happen, in prometheus_client metrics: per-check probe duration
  histograms, scheduler lateness;
* read at scrape time by `LiveCollector`: counters the monitor keeps anyway (probes, writes,
  write failures, skipped runs, reloads, watchdog pings, token requests per platform) and
  figures from the database (check and component status, open incidents, outbox depth and
  oldest pending age, delivery failures per channel).

The database figures come from a `StoreSnapshot` refreshed at most every `SNAPSHOT_TTL`
seconds, in a worker thread (`refresh`), never on the event loop and never once per scrape
per Prometheus server: three Prometheus servers scraping every 5 s cost one set of queries.
A failed refresh keeps the previous snapshot and counts the failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.core.results import Result
from monitor.statuspage.model import SEVERITY
from monitor.store import incidents, pages

if TYPE_CHECKING:
    from checks.base import Context
    from monitor.config import Config
    from monitor.core.bus import Health
    from monitor.core.clock import Clock
    from monitor.core.spec import CheckSpec
    from monitor.scheduler import ProbeScheduler
    from monitor.selfwatch import SelfWatch
    from monitor.store import ResultWriter, Store

log = logging.getLogger(__name__)

SNAPSHOT_TTL = 5.0  # seconds a database snapshot is served before the next scrape refreshes it
PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)
CHECK_STATUSES = ("up", "degraded", "down")


class Monitor(Protocol):
    """What the metrics read of the running monitor (monitor.runtime.Monitor)."""

    config: Config
    clock: Clock
    health: Health
    store: Store
    writer: ResultWriter
    scheduler: ProbeScheduler
    ctx: Context
    selfwatch: SelfWatch

    @property
    def specs(self) -> list[CheckSpec]: ...


@dataclass(frozen=True)
class CheckFigures:
    check: str
    location: str
    status: str | None
    latency_s: float | None
    last_at: float | None  # unix time


@dataclass
class StoreSnapshot:
    """What the database says, read in one go (see the module docstring for why cached)."""

    taken_at: float = 0.0  # monotonic
    checks: list[CheckFigures] = field(default_factory=list)
    components: dict[str, str] = field(default_factory=dict)
    open_incidents: int = 0
    pending: dict[str, int] = field(default_factory=dict)  # channel -> rows
    oldest_pending: dict[str, datetime] = field(default_factory=dict)  # channel -> created_at
    delivery_failures: dict[str, int] = field(default_factory=dict)  # channel -> failed attempts


def read_snapshot(monitor: Monitor) -> StoreSnapshot:
    store = monitor.store
    snap = StoreSnapshot(taken_at=time.monotonic())
    snap.checks = [
        CheckFigures(
            st.check, st.location, st.last_status,
            st.last_latency_ms / 1000 if st.last_latency_ms is not None else None,
            st.last_result_at.timestamp() if st.last_result_at is not None else None,
        )
        for st in store.states()
    ]
    with store.engine.connect() as conn:
        have = pages.tables(conn)
        snap.components = {cid: cur.status for cid, cur in pages.current_statuses(conn, have).items()}
        for channel, (count, oldest) in pages.outbox_pending(conn, have).items():
            snap.pending[channel] = count
            snap.oldest_pending[channel] = oldest
        snap.delivery_failures = pages.delivery_failures(conn, have)
    with store.session() as session:
        snap.open_incidents = len(incidents.open_incidents(session))
    return snap


class LiveCollector:
    """Reads the monitor's live state at scrape time (see the module docstring)."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.snapshot = StoreSnapshot()
        self.snapshot_failures = 0
        self._lock = threading.Lock()

    def refresh(self, ttl: float = SNAPSHOT_TTL) -> None:
        """Re-read the database unless the snapshot is younger than `ttl` (call from a worker
        thread; concurrent callers wait for the one refresh instead of running their own)."""
        with self._lock:
            if self.snapshot.taken_at and time.monotonic() - self.snapshot.taken_at < ttl:
                return
            try:
                self.snapshot = read_snapshot(self.monitor)
            except Exception as exc:
                self.snapshot_failures += 1
                log.warning("metrics: reading the database failed; serving the previous figures: %s",
                            type(exc).__name__)

    def collect(self) -> Iterator[Metric]:
        m = self.monitor
        w = m.writer
        yield _counter("invoicewatch_probes", "Probes run since start.", m.scheduler.runs)
        skipped = CounterMetricFamily(
            "invoicewatch_scheduler_skipped_runs", "Runs the scheduler skipped: the previous run was still going "
            "(max_instances) or the run came too late (missed).", labels=["reason"])
        for reason, n in sorted(m.scheduler.skipped.items()):
            skipped.add_metric([reason], n)
        yield skipped
        yield _gauge("invoicewatch_checks", "Checks scheduled at this location.", len(m.specs))
        yield _counter("invoicewatch_results_written", "Results written to the store.", w.written)
        yield _gauge("invoicewatch_results_pending", "Results waiting to be written.", w.pending)
        yield _counter("invoicewatch_write_failures", "Failed result-batch writes.", w.failures)
        yield _counter("invoicewatch_results_dropped", "Results dropped because the buffer was full.", w.dropped)
        yield _counter("invoicewatch_results_rejected", "Results the database refused as data.", w.rejected)
        sw = m.selfwatch
        yield _gauge("invoicewatch_config_reload_ok", "1 when the last config (re)load succeeded.",
                     int(m.health.last_reload_ok))
        reloads = CounterMetricFamily("invoicewatch_config_reloads", "Config reloads (SIGHUP).", labels=["outcome"])
        reloads.add_metric(["ok"], sw.reloads - sw.reload_failures)
        reloads.add_metric(["failed"], sw.reload_failures)
        yield reloads
        yield _gauge("invoicewatch_config_last_reload_timestamp_seconds",
                     "When the config was last loaded or reloaded (start-up counts).", sw.last_reload_at)
        yield _counter("invoicewatch_watchdog_pings", "WATCHDOG=1 pings sent to systemd.", sw.watchdog_pings)
        yield _counter("invoicewatch_watchdog_withheld", "Watchdog pings withheld because probing or writing "
                       "stalled.", sw.watchdog_withheld)
        beats = CounterMetricFamily("invoicewatch_self_heartbeats", "Self-heartbeat pings.", labels=["outcome"])
        beats.add_metric(["ok"], sw.heartbeats)
        beats.add_metric(["failed"], sw.heartbeat_failures)
        yield beats
        yield self._tokens()
        yield from self._stored()

    def _tokens(self) -> Metric:
        family = CounterMetricFamily(
            "invoicewatch_token_requests", "Platform token requests since start (quota-limited), per platform "
            "and user (empty: the platform's own account).", labels=["platform", "user"])
        registry = self.monitor.ctx.services.get("platforms")
        sessions = registry.sessions() if registry is not None else []
        for sess in sorted(sessions, key=lambda s: (s.name, s.user or "")):
            if sess.tokens is not None:
                family.add_metric([sess.name, sess.user or ""], sess.tokens.requests)
        return family

    def _stored(self) -> Iterator[Metric]:
        snap = self.snapshot
        status = GaugeMetricFamily("invoicewatch_check_status", "Last probe status of each check "
                                   "(1 for the current one).", labels=["check", "location", "status"])
        latency = GaugeMetricFamily("invoicewatch_check_latency_seconds", "Latency of each check's last "
                                    "probe.", labels=["check", "location"])
        last_at = GaugeMetricFamily("invoicewatch_check_last_result_timestamp_seconds", "When each check "
                                    "last reported.", labels=["check", "location"])
        for c in snap.checks:
            for s in CHECK_STATUSES:
                status.add_metric([c.check, c.location, s], int(c.status == s))
            if c.latency_s is not None:
                latency.add_metric([c.check, c.location], c.latency_s)
            if c.last_at is not None:
                last_at.add_metric([c.check, c.location], c.last_at)
        yield from (status, latency, last_at)
        components = GaugeMetricFamily("invoicewatch_component_status", "Current status of each component "
                                       "(1 for the current one).", labels=["component", "status"])
        for cid, current in sorted(snap.components.items()):
            for s in SEVERITY:
                components.add_metric([cid, s], int(current == s))
        yield components
        yield _gauge("invoicewatch_incidents_open", "Incidents not yet resolved.", snap.open_incidents)
        channels = sorted({c.name for c in self.monitor.config.channels} | set(snap.pending)
                          | set(snap.delivery_failures))
        now = self.monitor.clock.now()
        depth = GaugeMetricFamily("invoicewatch_outbox_pending", "Messages waiting to be delivered.",
                                  labels=["channel"])
        age = GaugeMetricFamily("invoicewatch_outbox_oldest_pending_age_seconds", "Age of the oldest "
                                "undelivered message (0 when none).", labels=["channel"])
        failures = CounterMetricFamily("invoicewatch_delivery_failures", "Failed delivery attempts in the "
                                       "kept history.", labels=["channel"])
        for ch in channels:
            depth.add_metric([ch], snap.pending.get(ch, 0))
            oldest = snap.oldest_pending.get(ch)
            age.add_metric([ch], max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
            failures.add_metric([ch], snap.delivery_failures.get(ch, 0))
        yield from (depth, age, failures)
        yield _counter("invoicewatch_metrics_store_read_failures", "Failed database reads for /metrics.",
                       self.snapshot_failures)


def _counter(name: str, help_: str, value: float) -> Metric:
    return CounterMetricFamily(name, help_, value=value)


def _gauge(name: str, help_: str, value: float | None) -> Metric:
    family = GaugeMetricFamily(name, help_)
    if value is not None:
        family.add_metric([], value)
    return family


class MonitorMetrics:
    """The monitor's metrics: observed histograms plus the live collector."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.probe_duration = Histogram(
            "invoicewatch_probe_duration_seconds", "Duration of each probe.", ["check", "location"],
            buckets=PROBE_BUCKETS, registry=None,
        )
        self.lateness = Histogram(
            "invoicewatch_scheduler_lateness_seconds", "How late runs started against their planned time.",
            buckets=LATENESS_BUCKETS, registry=None,
        )
        self.live = LiveCollector(monitor)
        self._labelled: set[tuple[str, str]] = set()
        self._labelled_for: int = id(monitor.config)
        monitor.scheduler.on_late.append(self.lateness.observe)

    def observe(self, result: Result) -> None:
        if result.latency_ms is None:
            return
        if self._labelled_for != id(self.monitor.config):
            self._forget_removed()
        key = (result.check, result.location)
        self._labelled.add(key)
        self.probe_duration.labels(*key).observe(result.latency_ms / 1000)

    def _forget_removed(self) -> None:
        """After a reload, drop the histograms of checks no longer configured."""
        self._labelled_for = id(self.monitor.config)
        names = {s.name for s in self.monitor.config.checks}
        for key in [k for k in self._labelled if k[0] not in names]:
            self._labelled.discard(key)
            self.probe_duration.remove(*key)

    def collectors(self) -> list[Collector]:
        return [self.probe_duration, self.lateness, self.live]

    def refresh(self) -> None:
        self.live.refresh()


__all__ = ["LiveCollector", "MonitorMetrics", "StoreSnapshot", "read_snapshot"]
