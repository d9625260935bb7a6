"""ProbeScheduler on a real APScheduler and event loop.

Probes here are a tiny check kind defined by the test through the public contract (a module
with `Spec` and `run`, registered in `checks.KINDS`; its shared state comes through
`ctx.services`, as any kind's would). Its run waits on a gate the test opens, so concurrency,
grace and cancellation are observed, not timed.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest

from checks import KINDS
from checks.base import Context
from checks.client import HttpClientFactory
from monitor.core.clock import FakeClock
from monitor.core.results import Result, Status
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec
from monitor.scheduler import MAX_STAGGER, ProbeScheduler, checks_for_location, stagger

HOUR = timedelta(hours=1)


class Gate:
    """Shared state of the `gate` kind: who is inside, the most at once, a door to open."""

    def __init__(self) -> None:
        self.door = asyncio.Event()
        self.inside = 0
        self.peak = 0
        self.entered: list[str] = []
        self.cancelled = 0

    async def wait_inside(self, n: int, seconds: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while self.inside < n:
            assert asyncio.get_running_loop().time() < deadline, f"only {self.inside} probes started"
            await asyncio.sleep(0.02)


class GateSpec(CheckSpec):
    kind: Literal["gate"] = "gate"


async def gate_run(spec: GateSpec, ctx: Context) -> Result:
    gate: Gate = ctx.services["gate"]
    gate.inside += 1
    gate.peak = max(gate.peak, gate.inside)
    gate.entered.append(spec.name)
    try:
        await gate.door.wait()
    except asyncio.CancelledError:
        gate.cancelled += 1
        raise
    finally:
        gate.inside -= 1
    return Result(spec.name, Status.UP, ctx.clock.now(), 1.0, "passed the gate")


@pytest.fixture
def gate_kind() -> Iterator[None]:
    module = types.ModuleType("gate_kind")
    module.Spec = GateSpec  # type: ignore[attr-defined]
    module.run = gate_run  # type: ignore[attr-defined]
    KINDS["gate"] = module
    yield
    del KINDS["gate"]


def spec(name: str, **kw: Any) -> GateSpec:
    kw.setdefault("interval", HOUR)
    return GateSpec(name=name, **kw)


class Harness:
    def __init__(self, max_concurrent: int = 200) -> None:
        self.gate = Gate()
        self.results: list[tuple[CheckSpec, Result]] = []
        self.got = asyncio.Event()
        ctx = Context(clock=FakeClock(), http=HttpClientFactory(), redactor=Redactor(), services={"gate": self.gate})
        self.scheduler = ProbeScheduler(ctx, self.on_result, timezone=ZoneInfo("Asia/Shanghai"), max_concurrent=max_concurrent)

    def on_result(self, spec: CheckSpec, result: Result) -> None:
        self.results.append((spec, result))
        self.got.set()

    async def wait_results(self, n: int, seconds: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.results) < n:
            assert asyncio.get_running_loop().time() < deadline, f"only {len(self.results)} results"
            await asyncio.sleep(0.02)


@pytest.fixture
async def harness(gate_kind: None) -> AsyncIterator[Harness]:
    h = Harness()
    yield h
    h.gate.door.set()
    await h.scheduler.shutdown(grace=1)


# --- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [timedelta(milliseconds=1), timedelta(seconds=1), timedelta(seconds=30), timedelta(days=1)])
def test_stagger_is_stable_and_within_the_interval(interval: timedelta) -> None:
    names = [f"check-{i}" for i in range(200)] + ["登录", "查询延迟"]
    offsets = [stagger(n, interval) for n in names]
    assert offsets == [stagger(n, interval) for n in names]
    assert all(timedelta(0) <= o < min(interval, MAX_STAGGER) for o in offsets)
    if interval >= timedelta(seconds=1):
        assert len(set(offsets)) > 150  # spread out, not bunched at :00


def test_checks_for_location_skips_disabled_and_other_locations() -> None:
    checks = [
        spec("everywhere"),
        spec("off", enabled=False),
        spec("here", locations=["bj", "sh"]),
        spec("elsewhere", locations=["gz"]),
    ]
    assert [c.name for c in checks_for_location(checks, "bj")] == ["everywhere", "here"]
    assert [c.name for c in checks_for_location(checks, "gz")] == ["everywhere", "elsewhere"]


# --- scheduling ---------------------------------------------------------------------------------


async def test_first_runs_are_staggered_within_one_interval(harness: Harness) -> None:
    before = datetime.now(UTC)
    specs = [spec(f"c{i}") for i in range(20)]
    harness.scheduler.start(specs)
    after = datetime.now(UTC)
    for s in specs:
        first = harness.scheduler.next_run(s.name)
        assert first is not None
        offset = stagger(s.name, HOUR)
        assert before + offset <= first <= after + offset < before + HOUR + (after - before)


async def test_cron_runs_in_the_configured_zone(harness: Harness) -> None:
    harness.scheduler.start([spec("daily", cron="0 9 * * *")])
    first = harness.scheduler.next_run("daily")
    assert first is not None
    assert first.astimezone(ZoneInfo("Asia/Shanghai")).time().hour == 9
    assert first.astimezone(UTC).hour == 1


async def test_replace_keeps_unchanged_jobs_and_swaps_the_rest(harness: Harness) -> None:
    s = harness.scheduler
    s.start([spec("same"), spec("new-desc"), spec("retimed"), spec("gone")])
    before = {n: s.next_run(n) for n in ("same", "new-desc", "retimed")}
    s.replace([
        spec("same"),
        spec("new-desc", description="changed, same timing"),
        spec("retimed", interval=timedelta(hours=2)),
        spec("added"),
    ])
    assert s.next_run("same") == before["same"]
    assert s.next_run("new-desc") == before["new-desc"]
    assert s.next_run("retimed") != before["retimed"]
    assert s.next_run("gone") is None
    assert s.next_run("added") is not None
    # A check whose spec changed but timing did not runs with the new spec.
    harness.gate.door.set()
    s.recheck_soon("new-desc", timedelta(0))
    await harness.wait_results(1)
    assert harness.results[0][0].description == "changed, same timing"


async def test_recheck_soon_runs_once_however_often_asked(harness: Harness) -> None:
    s = harness.scheduler
    s.start([spec("flaky")])
    harness.gate.door.set()
    s.recheck_soon("flaky", timedelta(0))
    s.recheck_soon("flaky", timedelta(0))
    s.recheck_soon("unknown-check", timedelta(0))
    await harness.wait_results(1)
    assert s.next_run("flaky#recheck") is None
    for _ in range(20):
        await asyncio.sleep(0)
    assert [r.check for _, r in harness.results] == ["flaky"]
    assert s.next_run("flaky") is not None  # the regular schedule is untouched


async def test_global_cap_on_probes_in_flight_holds(gate_kind: None) -> None:
    h = Harness(max_concurrent=3)
    names = [f"c{i}" for i in range(10)]
    h.scheduler.start([spec(n) for n in names])
    for n in names:
        h.scheduler.recheck_soon(n, timedelta(0))
    await h.gate.wait_inside(3)
    for _ in range(50):
        await asyncio.sleep(0)  # every job has been submitted by now; the rest must wait
    assert h.gate.inside == 3
    h.gate.door.set()
    await h.wait_results(10)
    assert h.gate.peak == 3
    assert sorted(r.check for _, r in h.results) == names
    await h.scheduler.shutdown()


async def test_a_probe_over_its_timeout_is_down(harness: Harness) -> None:
    result = await harness.scheduler.run_once(spec("slow", timeout=timedelta(milliseconds=50)))
    assert (result.status, result.message, result.values) == (Status.DOWN, "timed out after 0.05s", {"timeout": True})
    assert harness.gate.cancelled == 1


async def test_shutdown_lets_running_probes_finish_within_grace(harness: Harness) -> None:
    s = harness.scheduler
    s.start([spec("a"), spec("b")])
    s.recheck_soon("a", timedelta(0))
    s.recheck_soon("b", timedelta(0))
    await harness.gate.wait_inside(2)
    stopping = asyncio.create_task(s.shutdown(grace=10))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not stopping.done()
    harness.gate.door.set()
    await asyncio.wait_for(stopping, 5)
    assert sorted(r.check for _, r in harness.results) == ["a", "b"]
    assert harness.gate.cancelled == 0


async def test_shutdown_cancels_probes_still_running_after_grace(harness: Harness) -> None:
    s = harness.scheduler
    s.start([spec("stuck")])
    s.recheck_soon("stuck", timedelta(0))
    await harness.gate.wait_inside(1)
    await asyncio.wait_for(s.shutdown(grace=0.05), 5)
    assert harness.gate.cancelled == 1
    assert harness.results == []


def test_check_cron_reads_weekday_zero_as_sunday() -> None:
    """`cron: "0 2 * * 0"` means Sunday 02:00, as in crontab(5), not APScheduler 3's Monday."""
    from datetime import UTC, datetime

    from monitor.core import cron

    trig = cron.trigger("0 2 * * 0", UTC)
    nxt = trig.get_next_fire_time(None, datetime(2026, 3, 2, 0, 0, tzinfo=UTC))  # a Monday
    assert nxt is not None and nxt.weekday() == 6 and nxt.hour == 2
