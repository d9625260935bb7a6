"""`issuance`: issue a canary invoice, wait for its final status, check its number, cancel it.

Evidence: one step per stage (leftover sweep, submit, wait, number, cleanup) with envelope
codes and timings; values `serial`, `invoice_number`, `final_status`, `issue_s` (submit to
final status), `canaries_today`. Refuses (CheckError, no request sent) unless the platform is
`sandbox: true` or `allow_production_issuance: true`. Cleanup runs whatever happened; a canary
that cannot be cancelled now stays in the ledger and is retried (checks/platform/sweep.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, model_validator

from checks.base import Context
from checks.platform.canary import CanaryOptions, cancel_canary, poll_status, refusal, submit_canary
from checks.platform.references import PlatformName, unresolved
from checks.platform.registry import PlatformRegistry, platforms_of
from checks.platform.steps import Steps, finish
from checks.platform.sweep import recover, recovery_step
from monitor.core.durations import Duration
from monitor.core.errors import CheckError
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec


class Spec(CheckSpec, CanaryOptions):
    kind: Literal["issuance"]
    platform: PlatformName
    interval: Duration = Field(timedelta(minutes=15), description="time between canaries")
    timeout: Duration = Field(timedelta(minutes=3), description="must cover deadline plus cleanup")
    expect_number: bool = Field(True, description="an issued canary must carry an invoice number")
    slow: Duration | None = Field(None, description="issued, but slower than this from submit: degraded")

    @model_validator(mode="after")
    def _deadline_fits(self) -> Spec:
        if self.deadline >= self.timeout:
            raise ValueError(
                f"deadline ({self.deadline.total_seconds():g}s) must be shorter than timeout "
                f"({self.timeout.total_seconds():g}s), or cleanup never gets to run"
            )
        return self

    @model_validator(mode="after")
    def _may_issue(self, info: ValidationInfo) -> Spec:
        found = unresolved(info, self.platform)
        if found is not None and self.enabled:
            found.canary(self.cleanup, "cleanup" in self.model_fields_set)
            found.raise_if("issuance")
        return self


def start_of_day(now: datetime, zone: str) -> datetime:
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def run(spec: Spec, ctx: Context) -> Result:
    registry = platforms_of(ctx, spec)
    why = refusal(registry, spec.platform)
    if why:
        raise CheckError(why)
    result = Result(spec.name, Status.UP, ctx.clock.now())
    steps = Steps()
    ledger = registry.ledger
    assert ledger is not None
    recovery_step(steps, await recover(registry, spec.platform, check=spec.name))

    today = await ledger.count_since(spec.platform, spec.name, start_of_day(ctx.clock.now(), registry.timezone))
    result.values["canaries_today"] = today
    if today >= spec.max_per_day:
        result.values["skipped"] = "max_per_day"
        result.message = f"skipped: {today} canaries issued today already (max_per_day {spec.max_per_day})"
        return finish(result, steps, message_ok=result.message)
    return await _issue(spec, ctx, registry, result, steps)


async def _issue(spec: Spec, ctx: Context, registry: PlatformRegistry, result: Result, steps: Steps) -> Result:
    session = registry.session(spec.platform)
    clock = ctx.clock
    t0 = clock.monotonic()
    canary = await submit_canary(registry, session, spec, spec.name, result, steps)
    if canary is None:
        return finish(result, steps, message_ok="")
    poll = None
    try:
        poll = await poll_status(
            registry, session, canary, until={"issued", "failed", "voided", "red_flushed"},
            every=spec.poll_every, deadline=spec.deadline, started=t0,
        )
        issue_s = round(clock.monotonic() - t0, 3)
        result.values.update(final_status=poll.raw_status, issue_s=issue_s, polls=poll.polls)
        wait_values = {"status": poll.raw_status, "polls": poll.polls, "seen": [s for s, _ in poll.seen]}
        if poll.status == "issued":
            slow = spec.slow is not None and issue_s > spec.slow.total_seconds()
            steps.add(
                "wait for issue", Status.DEGRADED if slow else Status.UP,
                f"issued after {issue_s:g}s" + (f" (slower than {spec.slow.total_seconds():g}s)" if slow and spec.slow else ""),
                values=wait_values,
            )
            number = poll.record.number if poll.record else None
            result.values["invoice_number"] = number
            if spec.expect_number:
                steps.add("invoice number", Status.UP if number else Status.DOWN,
                          f"number {number}" if number else "issued without an invoice number")
        elif poll.status == "failed":
            cause = poll.record.get("fail_cause") if poll.record else None
            steps.add("wait for issue", Status.DOWN, f"issuance failed: {poll.raw_status}" + (f" ({cause})" if cause else ""),
                      values={**wait_values, "fail_cause": cause})
        elif poll.timed_out and poll.record is not None:
            steps.add("wait for issue", Status.DOWN,
                      f"still {poll.raw_status} after {spec.deadline.total_seconds():g}s", values=wait_values)
        else:
            err = poll.last_error
            steps.add("wait for issue", Status.DOWN,
                      f"cannot read the canary's status: {err.describe() if err else 'no answer'}",
                      values={**wait_values, **(err.evidence() if err else {})})
    finally:
        try:
            await cancel_canary(registry, session, canary, poll, spec.cleanup, steps)
        finally:
            registry.busy.discard(canary.row_id)
    return finish(result, steps, message_ok=f"canary {result.values.get('invoice_number')} issued in {result.values.get('issue_s')}s and cancelled")
