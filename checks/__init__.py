"""Check kinds, and the one function that runs any of them.

KINDS maps `kind:` to its module; every module exports `Spec` (a CheckSpec subclass with
`kind: Literal[...]`) and `async def run(spec, ctx) -> Result`. Adding a kind is one module
and one line here (a test asserts each module is registered and documented).

A kind's module is imported when the kind is first asked for (`KINDS[kind]`), as the
command line imports a command's module (monitor/cli/app.py, COMMANDS): a config load
imports, and builds the pydantic models of, only the kinds its file uses (`spec_union`), and
no probe's network stack comes with a kind that does not use it. Iterating `KINDS.values()`
imports them all (the JSON Schema, the tests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import time
from collections.abc import Iterable, Iterator, MutableMapping
from types import ModuleType
from typing import Annotated, Any, Union

from pydantic import Field

from checks.base import RUN_STARTED, Context, watched_by
from monitor.core.results import ConditionResult, Result, Status, StepResult, worst
from monitor.core.spec import CheckSpec

__all__ = [
    "KINDS",
    "CheckSpec",
    "ConditionResult",
    "Context",
    "Result",
    "Status",
    "StepResult",
    "run_check",
    "spec_union",
    "worst",
]

# kind -> module path. One line per kind.
_KIND_MODULES: dict[str, str] = {
    "http": "checks.http",
    "tcp": "checks.tcp",
    "dns": "checks.dns",
    "tls": "checks.tls",
    "sql": "checks.sql",
    "flow": "checks.flow",
    "login": "checks.login",
    "query": "checks.query",
    "completeness": "checks.completeness",
    "freshness": "checks.freshness",
    "issuance": "checks.issuance",
    "permission": "checks.permission",
    "lifecycle": "checks.lifecycle",
    "heartbeat": "checks.heartbeat",
}


class _Kinds(MutableMapping[str, ModuleType]):
    """kind -> its module, imported when first looked up. `in`, `len` and the names import
    nothing; a test may register a kind of its own (`KINDS[name] = module`) and remove it."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = dict(paths)
        self._modules: dict[str, ModuleType] = {}

    def __getitem__(self, kind: str) -> ModuleType:
        module = self._modules.get(kind)
        if module is None:
            module = self._modules[kind] = importlib.import_module(self._paths[kind])
        return module

    def __setitem__(self, kind: str, module: ModuleType) -> None:
        self._paths[kind] = module.__name__
        self._modules[kind] = module

    def __delitem__(self, kind: str) -> None:
        del self._paths[kind]
        self._modules.pop(kind, None)

    def __contains__(self, kind: object) -> bool:
        return isinstance(kind, str) and kind in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


KINDS: MutableMapping[str, ModuleType] = _Kinds(_KIND_MODULES)


def spec_union(kinds: Iterable[str]) -> Any:
    """The discriminated union (on `kind:`) of these kinds' Specs, in KINDS order."""
    wanted = set(kinds)
    members = tuple(KINDS[k].Spec for k in KINDS if k in wanted)
    return Annotated[Union[members], Field(discriminator="kind")]  # noqa: UP007 - built at run time


async def run_check(spec: CheckSpec, ctx: Context) -> Result:
    """Run one check with its timeout, then apply latency thresholds and redact secrets.

    Never raises for a broken target: a timeout or an unexpected exception in the check
    becomes a down Result that says what happened.
    """
    module = KINDS[spec.kind]
    started = ctx.clock.now()
    t0 = ctx.clock.monotonic()
    timeout = spec.timeout.total_seconds()
    started_run = RUN_STARTED.set(time.perf_counter())  # the run's task copies it (set_budget)
    try:
        with watched_by(_Masked(ctx.progress, ctx.redactor) if ctx.progress else None):  # wait_for's task copies it
            result: Result = await asyncio.wait_for(module.run(spec, ctx), timeout)
    except TimeoutError:
        result = Result(
            check=spec.name,
            status=Status.DOWN,
            started_at=started,
            latency_ms=(ctx.clock.monotonic() - t0) * 1000,
            message=f"timed out after {timeout:g}s",
            values={"timeout": True},
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug in a check must not stop the monitor
        result = Result(
            check=spec.name,
            status=Status.DOWN,
            started_at=started,
            latency_ms=(ctx.clock.monotonic() - t0) * 1000,
            message=f"check failed: {type(exc).__name__}: {exc}",
            values={"internal_error": True},
        )
    finally:
        RUN_STARTED.reset(started_run)
    result.check = spec.name
    result.location = result.location or ctx.location
    apply_latency_thresholds(spec, result)
    return redact_result(result, ctx)


def apply_latency_thresholds(spec: CheckSpec, result: Result) -> None:
    if result.latency_ms is None or result.status is Status.DOWN:
        return
    seconds = result.latency_ms / 1000
    lat = spec.latency
    was_up = result.status is Status.UP
    if lat.down is not None and seconds > lat.down.total_seconds():
        result.status = Status.DOWN
        result.message = _join(result.message, f"latency {seconds:.2f}s above {lat.down.total_seconds():g}s")
    elif lat.degraded is not None and seconds > lat.degraded.total_seconds():
        result.status = worst(result.status, Status.DEGRADED)
        result.message = _join(
            result.message, f"latency {seconds:.2f}s above {lat.degraded.total_seconds():g}s"
        )
    if was_up and result.status is not Status.UP:
        # only its time failed it: the probable cause is the platform's speed, not what the kind measures
        result.values["latency_threshold"] = str(result.status)


def redact_result(result: Result, ctx: Context) -> Result:
    r = ctx.redactor
    if not len(r):
        return result
    result.message = r.redact(result.message)
    result.values = r.redact_obj(result.values)
    for c in result.conditions:
        _redact_condition(c, r)
    for step in result.steps:
        _redact_step(step, r)
    return result


def _redact_step(step: StepResult, r: Any) -> None:
    step.message = r.redact(step.message)
    step.values = r.redact_obj(step.values)
    for c in step.conditions:
        _redact_condition(c, r)


class _Masked:
    """What a watcher (checks.base.Progress) is told during a run, masked as the Result will
    be at its end: a step is shown before the run is over, so it is masked on a copy now,
    with every secret known so far (platform tokens obtained during the run included)."""

    def __init__(self, progress: Any, redactor: Any) -> None:
        self.progress = progress
        self.redactor = redactor

    def request(self, method: str, url: str) -> None:
        self.progress.request(method, self.redactor.redact(url))

    def step(self, step: StepResult) -> None:
        copy = dataclasses.replace(
            step, values=dict(step.values), conditions=[dataclasses.replace(c) for c in step.conditions]
        )
        _redact_step(copy, self.redactor)
        self.progress.step(copy)


def _redact_condition(c: ConditionResult, r: Any) -> None:
    c.condition = r.redact(c.condition)
    c.actual = r.redact_obj(c.actual)
    if c.error:
        c.error = r.redact(c.error)


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b
