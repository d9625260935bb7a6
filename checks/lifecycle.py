"""`lifecycle`: an invoice moves through the expected statuses within limits.

Canary mode (no `serial:`): issue a canary, follow it to its issued status, cancel it (void
or red-flush), follow it to its cancelled status; every `expect:` stage must be seen, in
order, within its `within` (seconds since submit). Same guards as `issuance` (sandbox or
opt-in, ledger, daily cap). Configured mode (`serial:`): follow that invoice until it reaches
the last expected status; `within` counts from the invoice's date. Statuses are the profile's
vocabulary: pending, issued, failed, voided and the names under `statuses.names`.
Values: `seen` (status -> seconds), `final_status`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from checks.base import Context
from checks.issuance import start_of_day
from checks.platform.canary import (
    CANCELLED,
    Canary,
    CanaryOptions,
    Poll,
    cancel_canary,
    cleanup,
    poll_status,
    refusal,
    submit_canary,
)
from checks.platform.records import parse_time
from checks.platform.references import unresolved
from checks.platform.registry import PlatformRegistry, platforms_of
from checks.platform.specs import PlatformTarget
from checks.platform.steps import Steps, finish
from checks.platform.sweep import recover, recovery_step
from monitor.core.durations import Duration
from monitor.core.errors import CheckError
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str = Field(min_length=1, description="pending, issued, failed, voided, or a name under statuses.names")
    within: Duration | None = Field(None, description="reached at most this long after submit (or the invoice date)")


class Spec(CheckSpec, PlatformTarget, CanaryOptions):
    kind: Literal["lifecycle"]
    interval: Duration = Field(timedelta(minutes=30))
    timeout: Duration = Field(timedelta(minutes=5))
    serial: str | None = Field(None, description="follow this invoice instead of issuing a canary")
    expect: list[Stage] = Field(min_length=1, description="statuses in the order they must appear")

    @model_validator(mode="after")
    def _fits(self) -> Spec:
        if self.deadline >= self.timeout:
            raise ValueError("deadline must be shorter than timeout")
        return self

    @model_validator(mode="after")
    def _known_names(self, info: ValidationInfo) -> Spec:
        """A canary needs the platform's permission and operations; a followed invoice needs
        get_invoice; every expected status must be one the platform's statuses: name."""
        found = unresolved(info, self.platform)
        if found is None:
            return self
        if self.serial is not None:
            found.operation(("serial",), "get_invoice", " (needed to follow an invoice)")
        elif self.enabled:
            if self.user is not None:
                found.add(("user",), "lifecycle canaries are issued with the platform's own credentials; drop user:")
            found.canary(self.cleanup, "cleanup" in self.model_fields_set)
        for j, stage in enumerate(self.expect):
            if stage.status != "submitted":
                found.status(("expect", j, "status"), stage.status)
        found.raise_if("lifecycle")
        return self


async def run(spec: Spec, ctx: Context) -> Result:
    registry = platforms_of(ctx, spec)
    result = Result(spec.name, Status.UP, ctx.clock.now())
    steps = Steps()
    if spec.serial is not None:
        return await _configured(spec, ctx, registry, result, steps)
    why = refusal(registry, spec.platform)
    if why:
        raise CheckError(why)
    if spec.user is not None:
        raise CheckError("lifecycle canaries are issued with the platform's own credentials; drop user:")
    assert registry.ledger is not None
    recovery_step(steps, await recover(registry, spec.platform, check=spec.name))
    today = await registry.ledger.count_since(spec.platform, spec.name, start_of_day(ctx.clock.now(), registry.timezone))
    result.values["canaries_today"] = today
    if today >= spec.max_per_day:
        result.values["skipped"] = "max_per_day"
        result.message = f"skipped: {today} canaries issued today already (max_per_day {spec.max_per_day})"
        return finish(result, steps, message_ok=result.message)

    session = registry.session(spec.platform)
    t0 = ctx.clock.monotonic()
    canary = await submit_canary(registry, session, spec, spec.name, result, steps)
    if canary is None:
        return finish(result, steps, message_ok="")
    seen: list[tuple[str, float]] = [("submitted", 0.0)]
    poll: Poll | None = None
    cancel_sent = False
    try:
        poll = await poll_status(registry, session, canary, until={"issued", "failed", *CANCELLED},
                                 every=spec.poll_every, deadline=spec.deadline, started=t0, seen=seen)
        if poll.status == "issued":
            ok, tried = await cleanup(session, canary, spec.cleanup)
            if tried:
                steps.exchange("cancel", tried[-1], status=Status.UP if ok else Status.DOWN,
                               message=f"{tried[-1].operation}: {'done' if ok else tried[-1].describe()}")  # fmt: skip
            cancel_sent = ok
            if ok:
                left = spec.deadline - timedelta(seconds=ctx.clock.monotonic() - t0)
                poll = await poll_status(registry, session, canary, until=set(CANCELLED),
                                         every=spec.poll_every, deadline=max(left, timedelta(0)), started=t0, seen=seen)
    finally:
        try:
            await cancel_canary(registry, session, canary, poll, spec.cleanup, steps, cancel_sent=cancel_sent)
        finally:
            registry.busy.discard(canary.row_id)
    _judge(spec, seen, steps, result)
    return finish(result, steps, message_ok="statuses " + " -> ".join(f"{s} ({t:g}s)" for s, t in seen))


async def _configured(spec: Spec, ctx: Context, registry: PlatformRegistry, result: Result, steps: Steps) -> Result:
    session = registry.session(spec.platform, spec.user)
    assert spec.serial is not None
    t0 = ctx.clock.monotonic()
    seen: list[tuple[str, float]] = []
    canary = Canary(0, "", {"serial": spec.serial})
    poll = await poll_status(registry, session, canary, until={spec.expect[-1].status},
                             every=spec.poll_every, deadline=spec.deadline, started=t0, seen=seen)
    if poll.record is None:
        err = poll.last_error
        steps.add("get invoice", Status.DOWN, f"cannot read invoice {spec.serial}: {err.describe() if err else 'no answer'}",
                  values=err.evidence() if err else {})
        return finish(result, steps, message_ok="")
    # Times count from the invoice's own date: "delivered within 5m of issue".
    issued_at = parse_time(poll.record.get("date"), session.profile.tz)
    offset = (ctx.clock.now() - issued_at).total_seconds() - (ctx.clock.monotonic() - t0) if issued_at else 0.0
    seen = [(s, round(t + offset, 3)) for s, t in seen]
    _judge(spec, seen, steps, result, reached_only=True)
    return finish(result, steps, message_ok=f"invoice {spec.serial} is {poll.status}")


def _judge(spec: Spec, seen: list[tuple[str, float]], steps: Steps, result: Result, *, reached_only: bool = False) -> None:
    """Each expected stage seen in order and in time; nothing outside the expected path."""
    at = {s: t for s, t in seen}
    result.values["seen"] = at
    result.values["final_status"] = seen[-1][0] if seen else None
    expected = [st.status for st in spec.expect]
    unexpected = [s for s, _ in seen if s not in expected and s != "submitted"]
    if unexpected:
        steps.add("path", Status.DOWN, f"unexpected status {unexpected[0]} (expected {' -> '.join(expected)})")
    order = [s for s, _ in seen if s in expected]
    if order != sorted(order, key=expected.index):
        steps.add("path", Status.DOWN, f"statuses out of order: {' -> '.join(order)}")
    last_seen = max((expected.index(s) for s in order), default=-1)
    for i, stage in enumerate(spec.expect):
        t = at.get(stage.status)
        if t is None:
            if (reached_only and i < last_seen) or (i < last_seen and stage.within is None):
                continue  # passed between two polls
            steps.add(stage.status, Status.DOWN, f"never reached {stage.status}")
            continue
        late = stage.within is not None and t > stage.within.total_seconds()
        steps.add(stage.status, Status.DOWN if late else Status.UP,
                  f"{stage.status} after {t:g}s" + (f", later than {stage.within.total_seconds():g}s" if late and stage.within else ""))
