"""Keeping the database bounded while the monitor runs for years: `HousekeepingService`.

* Rollups: a little after each hour closes (monitor.store.rollups.SETTLE), every hour not
  rolled yet and every local day whose hours are all rolled get their rows. At start the
  service catches up on what was missed while it was stopped (and, on a database from before
  rollups, on every raw result still kept).
* Pruning: at `monitor.retention.schedule` (nightly by default) every history table is
  pruned in small batches (monitor.store.retention) and SQLite's free pages are given back.
  `invoicewatch prune` runs the same `prune_now` once.

Both run in a worker thread; a failure is logged and retried at the next occasion, never
stopping the monitor (probing and alerting matter more than tidying).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from monitor.config import Config
from monitor.core import cron
from monitor.core.aio import cancel, wait_event
from monitor.core.clock import Clock
from monitor.store import Store
from monitor.store.engine import log_failure
from monitor.store.retention import Policy
from monitor.store.rollups import HOUR, SETTLE, RollStats, hour_floor

log = logging.getLogger(__name__)


def policy_of(config: Config) -> Policy:
    m = config.monitor
    r = m.retention
    return Policy(
        results=m.result_retention, passing_results=r.passing_results, outbox=r.outbox, incident_timelines=r.incident_timelines,
        incidents=r.incidents, status_changes=r.status_changes, rollups=r.rollups, pings=r.pings,
        keep_passing={
            spec.name: timedelta(days=learn.days)
            for spec in config.checks
            if (learn := getattr(spec, "learn", None)) is not None and learn.enabled
        },
    )


def components_of(config: Config) -> dict[str, str]:
    """check name -> component id, for the component rollups."""
    return {spec.name: spec.component for spec in config.checks if spec.component}


def roll_now(store: Store, config: Config, now: datetime) -> RollStats:
    return store.roll_up(now, components=components_of(config), tz=config.monitor.tz)


def prune_now(store: Store, config: Config, now: datetime) -> dict[str, int]:
    """Roll what is closed (so nothing unrolled is pruned), then prune and reclaim."""
    roll_now(store, config, now)
    return store.prune_history(now, policy_of(config))


class HousekeepingService:
    def __init__(self, store: Store, config: Config, *, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.last_roll: RollStats | None = None
        self.last_prune: dict[str, int] | None = None
        self.last_prune_seconds: float | None = None
        self.failures = 0
        self._next_prune: datetime | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._next_prune = self._prune_after(self.clock.now())
        self._task = asyncio.create_task(self._loop(), name="housekeeping")

    def on_config(self, config: Config) -> None:
        self.config = config
        self._next_prune = self._prune_after(self.clock.now())
        self._wake.set()

    def _prune_after(self, now: datetime) -> datetime:
        r = self.config.monitor.retention
        after = next(cron.starts_between(r.schedule, self.config.monitor.tz, now, now + timedelta(days=32), limit=1), None)
        return after or now + timedelta(days=1)

    async def tick(self) -> None:
        """What is due now: roll closed hours; prune when the schedule says so."""
        now = self.clock.now()
        await self.roll()
        if self._next_prune is not None and now >= self._next_prune:
            await self.prune()
            self._next_prune = self._prune_after(now)

    async def roll(self) -> RollStats | None:
        try:
            self.last_roll = await asyncio.to_thread(roll_now, self.store, self.config, self.clock.now())
        except Exception as exc:
            self.failures += 1
            log_failure(log, "rolling up results failed; trying again at the next hour", exc)
            return None
        if self.last_roll.hours > 1:
            log.info("rolled up %d hours and %d days (%d results)", self.last_roll.hours, self.last_roll.days,
                     self.last_roll.results, extra={"event": "store.rolled_up"})
        return self.last_roll

    async def prune(self) -> dict[str, int] | None:
        t0 = time.perf_counter()
        try:
            deleted = await asyncio.to_thread(self.store.prune_history, self.clock.now(), policy_of(self.config))
        except Exception as exc:
            self.failures += 1
            log_failure(log, "pruning the history failed; trying again at the next scheduled time", exc)
            return None
        self.last_prune, self.last_prune_seconds = deleted, time.perf_counter() - t0
        log.info("pruned the history in %.1f s: %s", self.last_prune_seconds,
                 ", ".join(f"{k} {v}" for k, v in deleted.items() if v),
                 extra={"event": "store.pruned", "fields": deleted})
        return deleted

    def _seconds_to_next(self) -> float:
        now = self.clock.now()
        next_roll = hour_floor(now) + HOUR + SETTLE + timedelta(seconds=5)
        due = min(next_roll, self._next_prune or next_roll)
        return max(1.0, (due - now).total_seconds())

    async def _loop(self) -> None:
        while True:
            await self.tick()
            await wait_event(self._wake, self._seconds_to_next())
            self._wake.clear()

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
