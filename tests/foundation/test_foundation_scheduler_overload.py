"""ProbeScheduler when it cannot keep up: skipped slots are counted, never run twice at once,
reported as one figure per window; lateness counts the wait for a place; a shutdown with a
backlog says so in one line. Probes are the `gate` kind (they run until the test opens the
door), so everything is observed, not timed."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from checks.base import Context
from checks.client import HttpClientFactory
from monitor.core.clock import FakeClock
from monitor.core.secrets import Redactor
from monitor.scheduler import ProbeScheduler
from tests.foundation.test_foundation_scheduler import Gate, Harness, gate_kind, spec
from tests.moved_loop import MovedClock, run_moved, turns

__all__ = ["gate_kind"]  # the fixture, used by name below


async def wait_for(condition: object, what: str, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)


async def test_slots_of_a_check_still_waiting_are_skipped_and_reported_once_per_window(
    gate_kind: None, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    ctx = Context(clock=FakeClock(), http=HttpClientFactory(), redactor=Redactor(), services={"gate": gate})
    scheduler = ProbeScheduler(ctx, lambda s, r: None, timezone=ZoneInfo("UTC"), max_concurrent=1, report_every=0.3)
    caplog.set_level(logging.WARNING, logger="monitor.scheduler")
    every = timedelta(milliseconds=20)
    scheduler.start([spec("holder"), spec("starved", interval=every, timeout=every)])
    scheduler.recheck_soon("holder", timedelta(0))
    await gate.wait_inside(1)  # the holder has the only place until the door opens
    try:
        await wait_for(lambda: scheduler.skipped_runs >= 20, "twenty skipped slots")
        await wait_for(lambda: any("runs skipped" in r.message for r in caplog.records), "an overload figure")
        assert gate.entered == ["holder"] and scheduler.waiting == 1  # one waiting run, never a pile
        overload = [r.message for r in caplog.records if "overloaded" in r.message]
        assert len(overload) < scheduler.skipped_runs / 5  # figures per window, not a line per skip
        assert "runs skipped in the last minute" in overload[0] and "1 waiting for a slot" in overload[0]
    finally:
        await scheduler.shutdown(grace=0.01)
    stopped = [r.message for r in caplog.records if r.message.startswith("stopped with")]
    assert stopped == ["stopped with 2 probes unfinished after the 0.01s grace (cancelled; 1 of them had not started)"]
    assert gate.cancelled == 1


async def one_place_one_queued(running: str, queued: str) -> Harness:
    """One place under the cap, taken by `running` (inside the gate); `queued` waits for it."""
    h = Harness(max_concurrent=1)
    h.scheduler.start([spec(running), spec(queued)])
    h.scheduler.recheck_soon(running, timedelta(0))
    await h.gate.wait_inside(1)
    h.scheduler.recheck_soon(queued, timedelta(0))
    await wait_for(lambda: h.scheduler.waiting == 1, f"{queued} waiting for the place")
    return h


async def test_lateness_counts_the_wait_for_a_place_under_the_cap(gate_kind: None) -> None:
    h = await one_place_one_queued("first", "second")
    assert h.scheduler.started == 1 and len(h.scheduler.lateness) == 1
    h.gate.door.set()
    await h.wait_results(2)
    assert h.scheduler.started == 2 and h.scheduler.skipped_runs == 0
    first, second = h.scheduler.lateness
    assert second >= first  # measured when the probe started, not when its slot came
    await h.scheduler.shutdown()


def test_tasks_alive_stay_within_the_cap_however_far_behind_the_schedule_falls(gate_kind: None) -> None:
    """Overload on a moved clock: 60 checks every second, 3 places, probes that only end at
    their timeout; two minutes of slots pass a second at a time. At every step at most 3 probe
    tasks exist (a task per late check would make 60) and each other check has one queued
    slot, never more; the queue is served in slot order, so every check gets its turns, and
    lateness counts the time from the slot to the start."""

    async def main(clock: MovedClock) -> None:
        gate = Gate()
        ctx = Context(clock=clock, http=HttpClientFactory(), redactor=Redactor(), services={"gate": gate})
        scheduler = ProbeScheduler(ctx, lambda s, r: None, timezone=ZoneInfo("UTC"), max_concurrent=3)
        names = [f"c{i:02d}" for i in range(60)]
        second = timedelta(seconds=1)
        scheduler.start([spec(n, interval=second, timeout=second) for n in names])
        tasks, queued = [], []
        for _ in range(120):
            clock.advance(second)
            await turns()
            tasks.append(sum(1 for t in asyncio.all_tasks() if t.get_name().startswith("probe ")))
            queued.append(scheduler.waiting)
        assert max(tasks) == 3 and scheduler.in_flight == 3 and gate.peak == 3
        assert 50 <= max(queued) <= 60 - 3  # one slot per waiting check, however late
        assert set(gate.entered) == set(names)
        assert scheduler.skipped_runs > 60 * 100 and max(scheduler.lateness) > 10
        await scheduler.shutdown(grace=0)

    run_moved(main)


async def test_run_once_waits_for_a_place_under_the_cap_ahead_of_queued_slots(gate_kind: None) -> None:
    h = await one_place_one_queued("holder", "queued")
    gave_up = asyncio.create_task(h.scheduler.run_once(spec("gave-up")))
    asked = asyncio.create_task(h.scheduler.run_once(spec("asked")))
    await turns()
    assert h.gate.entered == ["holder"]  # both calls wait: the only place is taken
    gave_up.cancel()
    h.gate.door.set()
    assert (await asked).check == "asked"
    await h.wait_results(3)
    assert h.gate.entered == ["holder", "asked", "queued"] and h.gate.peak == 1  # the cancelled call took no place
    assert gave_up.cancelled()
    await h.scheduler.shutdown()


async def test_a_slot_waiting_for_a_place_does_not_run_once_a_reload_removed_its_check(gate_kind: None) -> None:
    h = await one_place_one_queued("holder", "removed")
    h.scheduler.replace([spec("holder")])  # the reload comes while the slot waits for the place
    assert h.scheduler.next_run("removed") is None
    h.gate.door.set()
    await h.wait_results(1)
    await turns(50)  # a probe handed the freed place would be inside the (open) gate by now
    assert h.gate.entered == ["holder"] and [r.check for _, r in h.results] == ["holder"]
    assert h.scheduler.waiting == 0 and h.scheduler.in_flight == 0
    await h.scheduler.shutdown()


async def test_a_slot_waiting_for_a_place_runs_its_check_as_a_reload_changed_it(gate_kind: None) -> None:
    h = await one_place_one_queued("holder", "changed")
    changed = spec("changed", timeout=timedelta(seconds=7))
    h.scheduler.replace([spec("holder"), changed])
    h.gate.door.set()
    await h.wait_results(2)
    assert [(s.name, s is changed) for s, _ in h.results] == [("holder", False), ("changed", True)]
    await h.scheduler.shutdown()
