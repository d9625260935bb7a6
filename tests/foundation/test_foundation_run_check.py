"""`checks.run_check`: the one way any kind runs. Latency thresholds, failures, redaction.

A tiny kind defined here through the public contract returns whatever the test hands it in
`ctx.services`, so the wrapper's rules are seen on their own.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, Literal

import pytest

from checks import KINDS, run_check
from checks.base import Context
from checks.client import HttpClientFactory
from monitor.core.clock import FakeClock
from monitor.core.results import ConditionResult, Result, Status, StepResult
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec, LatencyThresholds

SECRET = "sk-live-0123456789"


class CannedSpec(CheckSpec):
    kind: Literal["canned"] = "canned"


async def canned_run(spec: CannedSpec, ctx: Context) -> Result:
    make: Callable[[Context], Awaitable[Result]] = ctx.services["canned"]
    return await make(ctx)


@pytest.fixture(autouse=True)
def canned_kind() -> Iterator[None]:
    module = types.ModuleType("canned_kind")
    module.Spec = CannedSpec  # type: ignore[attr-defined]
    module.run = canned_run  # type: ignore[attr-defined]
    KINDS["canned"] = module
    yield
    del KINDS["canned"]


async def run(make: Callable[[Context], Awaitable[Result]], **spec: Any) -> Result:
    ctx = Context(clock=FakeClock(), http=HttpClientFactory(), redactor=Redactor([SECRET]), location="bj",
                  services={"canned": make})
    return await run_check(CannedSpec(name="probe", **spec), ctx)


def returning(status: Status, latency_ms: float | None, message: str = "") -> Callable[[Context], Awaitable[Result]]:
    async def make(ctx: Context) -> Result:
        return Result("whatever", status, ctx.clock.now(), latency_ms, message)

    return make


LAT = LatencyThresholds(degraded=timedelta(seconds=1), down=timedelta(seconds=3))


@pytest.mark.parametrize(
    ("status", "latency_ms", "expected", "message"),
    [
        (Status.UP, 999.0, Status.UP, ""),
        (Status.UP, 1000.0, Status.UP, ""),
        (Status.UP, 1500.0, Status.DEGRADED, "latency 1.50s above 1s"),
        (Status.UP, 3500.0, Status.DOWN, "latency 3.50s above 3s"),
        (Status.DEGRADED, 3500.0, Status.DOWN, "latency 3.50s above 3s"),
        (Status.DOWN, 9000.0, Status.DOWN, ""),
        (Status.UP, None, Status.UP, ""),
    ],
)
async def test_latency_thresholds_give_three_outcomes(status: Status, latency_ms: float | None, expected: Status, message: str) -> None:
    result = await run(returning(status, latency_ms), latency=LAT)
    assert (result.status, result.message) == (expected, message)


async def test_result_is_named_and_located_by_the_runner() -> None:
    result = await run(returning(Status.UP, 5.0))
    assert (result.check, result.location) == ("probe", "bj")


async def test_a_crashing_check_is_down_not_an_exception() -> None:
    async def crash(ctx: Context) -> Result:
        raise KeyError("items")

    result = await run(crash)
    assert (result.status, result.message, result.values) == (Status.DOWN, "check failed: KeyError: 'items'", {"internal_error": True})


async def test_secrets_are_masked_in_every_part_of_a_result() -> None:
    async def leaky(ctx: Context) -> Result:
        return Result(
            "x", Status.DOWN, ctx.clock.now(), 1.0, f"401 for {SECRET}",
            conditions=[ConditionResult(f"[BODY] == {SECRET}", False, {"token": SECRET}, error=f"bad {SECRET}")],
            steps=[StepResult("login", Status.DOWN, 1.0, f"sent {SECRET}", values={"echo": [SECRET]},
                              conditions=[ConditionResult("[STATUS] == 200", False, SECRET)])],
            values={SECRET: SECRET},
        )

    result = await run(leaky)
    assert SECRET not in repr(result)
    assert result.message == "401 for ***"
    assert result.steps[0].values == {"echo": ["***"]}
    assert result.conditions[0].actual == {"token": "***"}
