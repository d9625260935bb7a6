"""Probe scheduling: one heap of slots on the event loop, one timer, one task per probe in flight.

Each check has a slot every `interval` (or at each `cron` time in the configured zone); its
first slot is staggered by a stable hash of its name (restarts keep the same spread, no
thundering herd at :00). At its slot a check joins the queue of due slots, and its probe
starts as a task when one of the `max_concurrent` places is free (at once when capacity
suffices); `run_check` applies the per-check timeout. A check never runs twice at once: a
slot that comes while its previous run is still going or still queued is *skipped*
(counted), as are slots the loop was too busy to reach (coalesced into one late run).
`recheck_soon` adds the one-off fast re-check the evaluator asks for after a first failure.

Why a queue and not a task per slot waiting on a semaphore (as before): under overload every
late check held a waiting task (its coroutine frame, the check's spec and context, a context
copy), so memory grew with lateness, up to one task per check (at 60,000 checks, over 100 MB
more when the box was overloaded, bench/capacity.py). A queued slot is one reference to the
check's schedule entry, which exists anyway; the tasks alive are at most `max_concurrent`.

Why not APScheduler's dispatcher (used here before): every due job went through its executor,
a lock, two event dispatches and a sorted-list job store whose update is O(n) per run; at
60,000 checks that was most of a core, and its lateness was measured when the job was handed
over, not when the probe started. Here a run costs a heap push and pop; lateness is measured
from the check's slot to the moment its probe starts (after waiting in the queue for a
place), so a saturated monitor shows it (the queue is first-come first-served, by slot).
Cron times still come from APScheduler's CronTrigger (`monitor.core.cron`), which stays the
one crontab reading.

Overload is reported once a minute as a figure (runs skipped, lateness p99, probes waiting),
never one warning per skipped run; a shutdown with a backlog says so in one line.

Slots are planned on the loop's monotonic clock; `next_run` answers in system time (the wall
time at planning plus the monotonic offset), while results carry `ctx.clock` times. Tests
that need time to move drive `run_once` or the evaluator with a FakeClock instead.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import logging
import math
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from checks import KINDS, run_check
from checks.base import Context
from monitor.core import cron
from monitor.core.results import Result
from monitor.core.spec import CheckSpec

log = logging.getLogger(__name__)

ResultHandler = Callable[[CheckSpec, Result], Awaitable[None] | None]


# First runs are spread over at most this long: a 15-minute check still reports within a
# minute of start, while a thousand 10-second checks spread over their whole interval.
MAX_STAGGER = timedelta(seconds=60)
REPORT_EVERY = 60.0  # seconds between overload figures in the log


def stagger(name: str, interval: timedelta) -> timedelta:
    """A stable offset in [0, min(interval, MAX_STAGGER)) for a check, from its name."""
    span_ms = max(int(min(interval, MAX_STAGGER).total_seconds() * 1000), 1)
    return timedelta(milliseconds=zlib.crc32(name.encode()) % span_ms)


def settle_gc() -> None:
    """Keep the cyclic collector from stalling the schedule (`tune_gc=True`, the monitor's).

    At 60,000 checks the config and schedule are a few million long-lived objects; with the
    default thresholds full collections came every few seconds and each stalled the loop for
    0.5-2.5 s (lateness p99 in seconds, bench/capacity.py). So, once the schedule is built:
    `gc.freeze()` moves what is loaded out of the collector's sight (it lives until the next
    reload anyway), and a larger young generation lets a probe's short-lived objects die
    before a collection promotes them. Process-wide, so only the running monitor asks for it.
    """
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, 50_000), max(middle, 20), max(old, 100))


def _now() -> datetime:
    """System time, what `next_run` and cron times are told in."""
    return datetime.now(UTC)


def checks_for_location(checks: list[Any], location: str) -> list[CheckSpec]:
    return [c for c in checks if c.enabled and (not c.locations or location in c.locations)]


class _Job:
    """One check's schedule (or one queued re-check): its next slot and whether it runs."""

    __slots__ = ("due", "every", "key", "name", "recheck", "removed", "running", "slot", "trigger", "wall")

    def __init__(self, key: str, name: str, *, every: float | None, trigger: Any, recheck: bool = False) -> None:
        self.key = key
        self.name = name  # its probe runs the check of this name as configured when it starts
        self.every = every
        self.trigger = trigger
        self.recheck = recheck
        self.due = 0.0  # loop time of the next slot
        self.wall = _now()  # the same slot in system time (for next_run and cron)
        self.running = False  # its probe is queued or running: a slot that comes now is skipped
        self.removed = False
        self.slot = 0.0  # loop time of the slot its queued or running probe is for


class ProbeScheduler:
    def __init__(
        self,
        ctx: Context,
        on_result: ResultHandler,
        *,
        timezone: Any,
        max_concurrent: int = 200,
        lateness_samples: int = 10_000,
        report_every: float = REPORT_EVERY,
        tune_gc: bool = False,
    ) -> None:
        self.ctx = ctx
        self.on_result = on_result
        self.timezone = timezone
        self._cap = max_concurrent
        self._specs: dict[str, CheckSpec] = {}
        self._jobs: dict[str, _Job] = {}  # key: check name, or "<name>#recheck"
        self._heap: list[tuple[float, int, _Job]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._running = False
        self._queue: deque[_Job] = deque()  # due slots waiting for a place, in the order they came
        self._callers: deque[asyncio.Future[None]] = deque()  # run_once calls waiting for a place
        self._active = 0  # places taken (scheduled probes and run_once calls), <= max_concurrent
        self._inflight: set[asyncio.Task[Any]] = set()  # scheduled probes' tasks (at most max_concurrent)
        self._holding: set[asyncio.Task[Any]] = set()  # those of them still holding their place
        self.lateness: deque[float] = deque(maxlen=lateness_samples)  # seconds, slot -> probe start
        self.runs = 0
        self.started = 0  # scheduled probes that got a place and started
        # Slots that produced no run, for /metrics: the previous run was still going (or waiting
        # for a place), or the loop reached the slot only after the next one was due.
        self.skipped: dict[str, int] = {"max_instances": 0, "missed": 0}
        self.on_late: list[Callable[[float], None]] = []  # called with each run's lateness (s)
        self._window_lateness: list[float] = []
        self._reported_skipped = 0
        self._next_report = 0.0
        self._report_every = report_every
        self._tune_gc = tune_gc

    # lifecycle ----------------------------------------------------------------------------
    def start(self, specs: list[CheckSpec]) -> None:
        loop = asyncio.get_running_loop()
        self._running = True
        self._prepare(specs)
        self._next_report = loop.time() + self._report_every
        for spec in specs:
            self._add(spec)
        self._arm()
        if self._tune_gc:
            settle_gc()

    def replace(self, specs: list[CheckSpec]) -> None:
        """Swap the schedule for a new set of checks (config reload). Unchanged checks keep
        their next run time; running probes are not interrupted."""
        new = {s.name: s for s in specs}
        self._prepare([s for s in specs if self._specs.get(s.name) is not s])
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
        self._arm()
        if self._tune_gc:
            settle_gc()

    @property
    def skipped_runs(self) -> int:
        return sum(self.skipped.values())

    @property
    def waiting(self) -> int:
        """Probes whose slot came but that wait for a place under the global cap."""
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Scheduled probes started and not yet handed on (their tasks); at most max_concurrent."""
        return len(self._inflight)

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop scheduling and drop the queued slots (their probes never start); let running
        probes finish for `grace` seconds, then cancel them. One line if any were left."""
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        not_started = len(self._queue)
        for job in self._queue:
            job.running = False
        self._queue.clear()
        pending: set[asyncio.Task[Any]] = set()
        if self._inflight:
            _done, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if pending or not_started:
            log.warning(
                "stopped with %d probes unfinished after the %gs grace (cancelled; %d of them had not started)",
                len(pending) + not_started, grace, not_started,
            )

    def _prepare(self, specs: list[CheckSpec]) -> None:
        """Let each kind that has a `prepare(spec, ctx)` do its per-spec work now, before the
        first slot is planned: the work lands outside any probe's slot and, with tune_gc, is
        frozen with the config instead of being walked by every full collection."""
        for spec in specs:
            prepare = getattr(KINDS.get(spec.kind), "prepare", None)
            if prepare is not None:
                prepare(spec, self.ctx)

    # jobs ---------------------------------------------------------------------------------
    def _add(self, spec: CheckSpec) -> None:
        self._specs[spec.name] = spec
        loop = asyncio.get_running_loop()
        if spec.cron:
            job = _Job(spec.name, spec.name, every=None, trigger=cron.trigger(spec.cron, self.timezone))
            if not self._next_cron(job, loop.time()):
                return
        else:
            job = _Job(spec.name, spec.name, every=spec.interval.total_seconds(), trigger=None)
            offset = stagger(spec.name, spec.interval)
            job.due = loop.time() + offset.total_seconds()
            job.wall += offset
        self._put(job)

    def _remove(self, name: str) -> None:
        self._specs.pop(name, None)
        for key in (name, f"{name}#recheck"):
            job = self._jobs.pop(key, None)
            if job is not None:
                job.removed = True

    def _put(self, job: _Job) -> None:
        self._jobs[job.key] = job
        heapq.heappush(self._heap, (job.due, next(self._seq), job))

    def _next_cron(self, job: _Job, now: float) -> bool:
        wall = _now()
        fire = job.trigger.get_next_fire_time(None, wall + timedelta(microseconds=1))
        if fire is None:
            job.removed = True
            self._jobs.pop(job.key, None)
            return False
        job.due = now + (fire - wall).total_seconds()
        job.wall = fire
        return True

    def recheck_soon(self, name: str, delay: timedelta) -> None:
        """Run a check once more after `delay` (fast re-check), unless one is already queued."""
        spec = self._specs.get(name)
        key = f"{name}#recheck"
        if spec is None or key in self._jobs:
            return
        job = _Job(key, name, every=None, trigger=None, recheck=True)
        job.due = asyncio.get_running_loop().time() + max(delay.total_seconds(), 0.0)
        job.wall += max(delay, timedelta(0))
        self._put(job)
        self._arm()

    def next_run(self, name: str) -> datetime | None:
        job = self._jobs.get(name)
        return None if job is None else job.wall

    # the timer ----------------------------------------------------------------------------
    def _arm(self) -> None:
        if not self._running:
            return
        heap = self._heap
        while heap and (heap[0][2].removed or heap[0][0] != heap[0][2].due):
            heapq.heappop(heap)  # stale: removed, or rescheduled since
        if not heap:
            return
        at = heap[0][0]
        if at < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = at
            self._timer = asyncio.get_running_loop().call_at(at, self._wake)

    def _wake(self) -> None:
        self._timer, self._timer_at = None, math.inf
        if not self._running:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, job = heapq.heappop(heap)
            if job.removed or due != job.due:
                continue
            self._fire(job, due, now)
        if now >= self._next_report:
            self._report(now)
        self._arm()

    def _fire(self, job: _Job, due: float, now: float) -> None:
        if job.recheck:
            self._jobs.pop(job.key, None)
            job.removed = True
            self._start(job, due)
            return
        if job.running:
            self.skipped["max_instances"] += 1  # the previous run is still going: this slot has no run
        else:
            self._start(job, due)
        if job.every is not None:
            nxt = due + job.every
            steps = 1
            if nxt <= now:  # the loop was stalled past whole slots: they are skipped
                missed = int((now - nxt) // job.every) + 1
                self.skipped["missed"] += missed
                steps += missed
                nxt += missed * job.every
            job.due = nxt
            job.wall += timedelta(seconds=steps * job.every)
        elif not self._next_cron(job, now):
            return
        heapq.heappush(self._heap, (job.due, next(self._seq), job))

    def _start(self, job: _Job, due: float) -> None:
        """Queue the slot; its probe starts now if a place is free, else when one frees."""
        if not job.recheck:
            job.running = True
        job.slot = due
        self._queue.append(job)
        self._pump()

    # places under the cap -------------------------------------------------------------------
    def _pump(self) -> None:
        """Give each free place to the next waiter: a run_once call, else the oldest queued slot."""
        while self._active < self._cap:
            if self._callers:
                caller = self._callers.popleft()
                if caller.done():
                    continue  # cancelled while waiting
                caller.set_result(None)
            elif self._queue and self._running:
                job = self._queue.popleft()
                spec = self._specs.get(job.name)
                if spec is None:
                    continue  # a reload took its check away while the slot waited: no probe
                # The probe runs the check as configured now (a reload may have changed it).
                task = asyncio.get_running_loop().create_task(self._run(job, spec), name=f"probe {job.name}")
                self._inflight.add(task)
                self._holding.add(task)
                task.add_done_callback(self._finished)
            else:
                return
            self._active += 1

    def _release(self, task: asyncio.Task[Any] | None) -> None:
        """Free `task`'s place, once: when its probe ends, or when it ends without running."""
        if task is not None and task in self._holding:
            self._holding.discard(task)
            self._free()

    def _free(self) -> None:
        self._active -= 1
        self._pump()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._inflight.discard(task)
        self._release(task)  # a task cancelled before it began never released its place

    async def _run(self, job: _Job, spec: CheckSpec) -> None:
        loop = asyncio.get_running_loop()
        try:
            late = max(loop.time() - job.slot, 0.0)
            self.lateness.append(late)
            self._window_lateness.append(late)
            for callback in self.on_late:
                callback(late)
            self.started += 1
            try:
                result = await run_check(spec, self.ctx)
            finally:
                self._release(asyncio.current_task())  # the place is free before handing on
            await self._hand_on(spec, result)
        finally:
            if not job.recheck:
                job.running = False

    def _report(self, now: float) -> None:
        """Once a minute: how far behind the schedule is, as figures, when it is behind."""
        self._next_report = now + self._report_every
        window, self._window_lateness = self._window_lateness, []
        total = self.skipped_runs
        skipped, self._reported_skipped = total - self._reported_skipped, total
        p99 = sorted(window)[int(0.99 * (len(window) - 1))] if window else 0.0
        if skipped or p99 > 1.0:
            log.warning(
                "overloaded: %d runs skipped in the last minute, %d probes started, lateness p99 %.2fs, "
                "%d waiting for a slot under max_concurrent_probes",
                skipped, len(window), p99, self.waiting,
            )

    # running ------------------------------------------------------------------------------
    async def run_once(self, spec: CheckSpec) -> Result:
        """Run one check now (under the global cap, ahead of queued slots) and hand the result on."""
        if self._active < self._cap:
            self._active += 1
        else:
            caller = asyncio.get_running_loop().create_future()
            self._callers.append(caller)
            try:
                await caller
            except asyncio.CancelledError:
                if caller.done() and not caller.cancelled():
                    self._free()  # given a place, cancelled before it could use it
                raise
        try:
            result = await run_check(spec, self.ctx)
        finally:
            self._free()
        await self._hand_on(spec, result)
        return result

    async def _hand_on(self, spec: CheckSpec, result: Result) -> None:
        self.runs += 1
        try:
            outcome = self.on_result(spec, result)
            if outcome is not None:
                await outcome
        except Exception:
            log.exception("handling the result of %s failed", spec.name)
