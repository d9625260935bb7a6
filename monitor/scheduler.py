"""Probe scheduling on APScheduler 3 (asyncio): one job per check at this location.

Each job: interval or cron in the configured zone; start staggered by a stable hash of the
check name (restarts keep the same spread, no thundering herd at :00); `max_instances=1` and
coalescing, so a slow target never piles up runs; a global semaphore caps probes in flight;
`run_check` applies the per-check timeout. `recheck_soon` adds the one-off fast re-check the
evaluator asks for after a first failure.

APScheduler keeps its own time (the system clock); it cannot be handed ours. So *when* jobs
run is planned on system time here (`_now`), while the results carry `ctx.clock` times.
Tests that need time to move drive `run_once` or the evaluator with a FakeClock instead.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from checks import run_check
from checks.base import Context
from monitor.core import cron
from monitor.core.results import Result
from monitor.core.spec import CheckSpec

log = logging.getLogger(__name__)

ResultHandler = Callable[[CheckSpec, Result], Awaitable[None] | None]


# First runs are spread over at most this long: a 15-minute check still reports within a
# minute of start, while a thousand 10-second checks spread over their whole interval.
MAX_STAGGER = timedelta(seconds=60)


def stagger(name: str, interval: timedelta) -> timedelta:
    """A stable offset in [0, min(interval, MAX_STAGGER)) for a check, from its name."""
    span_ms = max(int(min(interval, MAX_STAGGER).total_seconds() * 1000), 1)
    return timedelta(milliseconds=zlib.crc32(name.encode()) % span_ms)


def _now() -> datetime:
    """System time, the time APScheduler plans on (see the module docstring)."""
    return datetime.now(UTC)


def checks_for_location(checks: list[Any], location: str) -> list[CheckSpec]:
    return [c for c in checks if c.enabled and (not c.locations or location in c.locations)]


class ProbeScheduler:
    def __init__(
        self,
        ctx: Context,
        on_result: ResultHandler,
        *,
        timezone: Any,
        max_concurrent: int = 200,
        lateness_samples: int = 10_000,
    ) -> None:
        self.ctx = ctx
        self.on_result = on_result
        self.timezone = timezone
        self._sem = asyncio.Semaphore(max_concurrent)
        self._specs: dict[str, CheckSpec] = {}
        self._inflight: set[asyncio.Task[Any]] = set()
        self.lateness: deque[float] = deque(maxlen=lateness_samples)  # seconds, for metrics/bench
        self.runs = 0
        self.skipped: dict[str, int] = {"max_instances": 0, "missed": 0}  # runs not started, for /metrics
        self.on_late: list[Callable[[float], None]] = []  # called with each run's lateness (s)
        self._scheduler = AsyncIOScheduler(
            timezone=timezone,
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)

    # lifecycle ----------------------------------------------------------------------------
    def start(self, specs: list[CheckSpec]) -> None:
        for spec in specs:
            self._add(spec)
        self._scheduler.start()

    def replace(self, specs: list[CheckSpec]) -> None:
        """Swap the schedule for a new set of checks (config reload). Unchanged checks keep
        their next run time; running probes are not interrupted."""
        new = {s.name: s for s in specs}
        for name in list(self._specs):
            if name not in new:
                self._remove(name)
        for name, spec in new.items():
            old = self._specs.get(name)
            if old is None:
                self._add(spec)
            elif old != spec:
                if (old.interval, old.cron) == (spec.interval, spec.cron):
                    self._specs[name] = spec  # same timing: keep the slot, use the new spec
                else:
                    self._remove(name)
                    self._add(spec)

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop scheduling; let running probes finish for `grace` seconds, then cancel them.

        Pause first and shut APScheduler down last: its asyncio executor's shutdown cancels
        every running job at once, which would void the grace period (and lose the results).
        """
        if self._scheduler.running:
            self._scheduler.pause()
        # A job submitted just before the pause registers itself on its first step: give it one.
        await asyncio.sleep(0)
        tasks = set(self._inflight)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    # jobs ---------------------------------------------------------------------------------
    def _add(self, spec: CheckSpec) -> None:
        self._specs[spec.name] = spec
        if spec.cron:
            trigger: Any = cron.trigger(spec.cron, self.timezone)
            grace = 60
        else:
            start = _now() + stagger(spec.name, spec.interval)
            trigger = IntervalTrigger(seconds=spec.interval.total_seconds(), start_date=start, timezone=self.timezone)
            grace = max(1, int(spec.interval.total_seconds()))
        self._scheduler.add_job(
            self._job, trigger, args=[spec.name], id=spec.name, name=spec.name,
            misfire_grace_time=grace, replace_existing=True,
        )

    def _remove(self, name: str) -> None:
        self._specs.pop(name, None)
        for job_id in (name, f"{name}#recheck"):
            if self._scheduler.get_job(job_id):
                self._scheduler.remove_job(job_id)

    def recheck_soon(self, name: str, delay: timedelta) -> None:
        """Run a check once more after `delay` (fast re-check), unless one is already queued."""
        if name not in self._specs:
            return
        job_id = f"{name}#recheck"
        if self._scheduler.get_job(job_id):
            return
        when = _now() + delay
        self._scheduler.add_job(
            self._job, DateTrigger(run_date=when), args=[name], id=job_id, name=job_id,
            misfire_grace_time=max(1, int(delay.total_seconds()) * 2),
        )

    def next_run(self, name: str) -> datetime | None:
        job = self._scheduler.get_job(name)
        return job.next_run_time if job else None

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        now = _now()
        for scheduled in event.scheduled_run_times:
            late = max(0.0, (now - scheduled).total_seconds())
            self.lateness.append(late)
            for callback in self.on_late:
                callback(late)

    def _on_skipped(self, event: JobEvent) -> None:
        self.skipped["max_instances" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"] += 1

    async def _job(self, name: str) -> None:
        spec = self._specs.get(name)
        if spec is None:
            return
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await self.run_once(spec)
        finally:
            self._inflight.discard(task)

    async def run_once(self, spec: CheckSpec) -> Result:
        """Run one check now (under the global cap) and hand the result on."""
        async with self._sem:
            result = await run_check(spec, self.ctx)
        self.runs += 1
        try:
            outcome = self.on_result(spec, result)
            if outcome is not None:
                await outcome
        except Exception:
            log.exception("handling the result of %s failed", spec.name)
        return result
