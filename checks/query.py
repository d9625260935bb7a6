"""`query`: an authenticated invoice query over a recent window, timed and sanity-checked.

Latency thresholds are the generic `latency: {degraded, down}` of every check, applied to the
query's own time (pages summed; a token request is not counted). Sanity: the envelope is OK,
the record list is where the profile says, and at least `min_items` came back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from checks.base import Context
from checks.platform.registry import platforms_of
from checks.platform.specs import PlatformTarget, window_variables
from checks.platform.steps import Steps, finish
from monitor.core.durations import Duration
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec


class Spec(CheckSpec, PlatformTarget):
    kind: Literal["query"]
    operation: str = Field("list_invoices", description="the list operation of the platform profile")
    window: Duration = Field(timedelta(hours=1), description="query invoices of the last ...")
    limit: int = Field(50, ge=1, le=5000, description="records to fetch at most")
    min_items: int = Field(0, ge=0, description="fewer records than this is down")


async def run(spec: Spec, ctx: Context) -> Result:
    registry = platforms_of(ctx, spec)
    session = registry.session(spec.platform, spec.user)
    session.profile.operation(spec.operation)
    result = Result(spec.name, Status.UP, ctx.clock.now())
    steps = Steps()
    variables = {**window_variables(ctx.clock.now(), spec.window), **spec.variables}
    records, exchanges, total = await session.list_records(spec.operation, variables, limit=spec.limit)
    result.latency_ms = steps.pages(spec.operation, exchanges)
    if records is None:
        return finish(result, steps, message_ok="")
    result.values.update(items=len(records), total=total, pages=len(exchanges))
    if len(records) < spec.min_items:
        steps.add("items", Status.DOWN, f"{len(records)} records in the last {spec.window.total_seconds():g}s, expected at least {spec.min_items}")
    return finish(result, steps, message_ok=f"{len(records)} records in {result.latency_ms:.0f} ms")
