"""Canary invoices: guard, cap, ledger, submit, poll, clean up, and recover after a crash.

Used by the `issuance` and `lifecycle` kinds. A canary is a real tax document on a
production platform, so: nothing is issued unless the platform is `sandbox: true` or
`allow_production_issuance: true`; every canary is in the ledger before it is submitted;
cleanup (void or red-flush) is attempted whatever happened in between; leftovers are swept
before the next canary and at start.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from checks.platform.exchange import Exchange
from checks.platform.records import Record
from checks.platform.registry import PlatformRegistry
from checks.platform.session import PlatformSession
from checks.platform.steps import Steps
from monitor.core.durations import Duration
from monitor.core.results import Result, Status


class CanaryOptions(BaseModel):
    """Keys shared by `issuance` and `lifecycle` (canary mode)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variables: dict[str, Any] = Field(
        default_factory=dict, description="canary content for the issue template: buyer, item, price ..."
    )
    order_prefix: str = Field("IWCANARY", pattern=r"^[A-Za-z0-9_-]{1,16}$", description="our order numbers start so")
    poll_every: Duration = Field(timedelta(seconds=2), description="time between status polls")
    deadline: Duration = Field(timedelta(minutes=2), description="give up waiting for a final status after")
    cleanup: list[str] = Field(
        default_factory=lambda: ["void", "red_flush"], description="operations tried in order to cancel the canary"
    )
    max_per_day: int = Field(48, ge=1, le=10000, description="canaries per day (monitor timezone), across restarts")


def refusal(registry: PlatformRegistry, platform: str) -> str | None:
    """Why no canary may be issued on this platform, or None when it may."""
    profile = registry.profile(platform)
    if not profile.may_issue:
        return (
            f"refused: platform {platform!r} is not marked sandbox: true and allow_production_issuance is not set; "
            "a canary would be a real tax document"
        )
    missing = [op for op in ("issue", "get_invoice") if op not in profile.operations]
    if missing:
        return f"refused: platform {platform!r} has no {' / '.join(missing)} operation"
    if registry.ledger is None:
        return "refused: no database for the canary ledger (monitor.database)"
    return None


@dataclass
class Poll:
    """What polling one serial number saw."""

    record: Record | None = None
    status: str | None = None  # our vocabulary: pending, issued, failed, voided, or a named one
    raw_status: Any = None
    seen: list[tuple[str, float]] = field(default_factory=list)  # (status, seconds since start), first sightings
    polls: int = 0
    errors: int = 0
    last_error: Exchange | None = None
    timed_out: bool = False


async def poll_status(
    registry: PlatformRegistry,
    session: PlatformSession,
    serial: str,
    *,
    until: set[str],
    every: timedelta,
    deadline: timedelta,
    started: float,
    seen: list[tuple[str, float]] | None = None,
) -> Poll:
    """Get the invoice by serial until its status is in `until` or the deadline passes.

    The deadline is measured on the injected clock; the number of polls is also bounded
    (deadline / every + 1), so a clock that never moves cannot make this loop forever.
    """
    out = Poll(seen=seen if seen is not None else [])
    clock = registry.clock
    limit = math.ceil(deadline.total_seconds() / max(every.total_seconds(), 0.001)) + 1
    t_end = clock.monotonic() + deadline.total_seconds()
    statuses = session.profile.statuses
    while True:
        out.polls += 1
        ex = await session.call("get_invoice", {"serial": serial})
        recs = session.records(ex, "get_invoice") if ex.ok else None
        if recs:
            rec = recs[0]
            out.record = rec
            out.raw_status = rec.get("status")
            out.status = statuses.name_of(out.raw_status) or f"unknown:{out.raw_status}"
            if not any(s == out.status for s, _ in out.seen):
                out.seen.append((out.status, round(clock.monotonic() - started, 3)))
            if out.status in until:
                return out
        else:
            out.errors += 1
            out.last_error = ex
        if out.polls >= limit or clock.monotonic() >= t_end:
            out.timed_out = True
            return out
        await registry.sleep(every.total_seconds())


def needs_cleanup(poll: Poll) -> bool:
    """An invoice exists: issued, or failed after a number was assigned (sealing failed)."""
    if poll.status == "issued":
        return True
    return poll.status == "failed" and poll.record is not None and poll.record.number is not None


async def cleanup(session: PlatformSession, serial: str, ops: list[str]) -> tuple[bool, list[Exchange]]:
    """Try the cleanup operations in order until one succeeds."""
    tried: list[Exchange] = []
    for op in ops:
        if op not in session.profile.operations:
            continue
        ex = await session.call(op, {"serial": serial, "reason": "invoicewatch canary"})
        tried.append(ex)
        if ex.ok:
            return True, tried
    return False, tried


def order_number(prefix: str, now: datetime) -> str:
    return f"{prefix}{now:%Y%m%d%H%M%S}{secrets.token_hex(2).upper()}"


@dataclass
class Recovery:
    found: int = 0
    cleaned: int = 0
    still_open: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.found} leftover canar{'y' if self.found == 1 else 'ies'}, {self.cleaned} cleaned up"
        if self.still_open:
            text += f"; still open: {'; '.join(self.still_open)}"
        return text


async def recover(registry: PlatformRegistry, platform: str, *, ops: list[str] | None = None) -> Recovery:
    """Clean up every open canary of the platform (left by a crash or a failed cleanup)."""
    out = Recovery()
    ledger = registry.ledger
    if ledger is None:
        return out
    rows = await ledger.unfinished(platform)
    registry.recovered.add(platform)
    if not rows:
        return out
    session = registry.session(platform)
    ops = ops or ["void", "red_flush"]
    for row in rows:
        out.found += 1
        now = registry.clock.now()
        serial = row.serial
        if not serial:
            # Crashed between writing the ledger and learning the serial. The order number
            # is accepted once: submitting it again answers with the existing serial (or
            # creates the canary now, which we then cancel like any other).
            ex = await session.call("issue", {**(row.variables or {}), "order_no": row.order_no})
            serial = ex.extracted.get("serial")
            if not serial:
                await ledger.update(row.id, now, attempts=row.attempts + 1, last_error=ex.describe()[:500])  # type: ignore[arg-type]
                out.still_open.append(f"order {row.order_no}: {ex.describe()}")
                continue
            await ledger.update(row.id, now, serial=str(serial), state="pending")  # type: ignore[arg-type]
        poll = await poll_status(
            registry, session, str(serial), until={"issued", "failed", "voided", *session.profile.statuses.names},
            every=timedelta(seconds=1), deadline=timedelta(0), started=registry.clock.monotonic(),
        )
        if poll.record is None:
            if poll.last_error is not None and poll.last_error.not_found:
                # The platform answered and does not know it: nothing to cancel.
                await ledger.update(row.id, now, state="nothing", cleaned_at=now, last_error=poll.last_error.describe()[:500])  # type: ignore[arg-type]
                out.cleaned += 1
            else:
                await ledger.update(row.id, now, attempts=row.attempts + 1, last_error=(poll.last_error.describe() if poll.last_error else "no answer")[:500])  # type: ignore[arg-type]
                out.still_open.append(f"serial {serial}: {poll.last_error.describe() if poll.last_error else 'no answer'}")
            continue
        if needs_cleanup(poll):
            ok, tried = await cleanup(session, str(serial), ops)
            if ok:
                await ledger.update(row.id, now, state="cleaned", cleaned_at=now, number=poll.record.number)  # type: ignore[arg-type]
                out.cleaned += 1
            else:
                why = tried[-1].describe() if tried else "no cleanup operation"
                await ledger.update(row.id, now, state="issued", attempts=row.attempts + 1, last_error=why[:500])  # type: ignore[arg-type]
                out.still_open.append(f"serial {serial}: {why}")
        elif poll.status == "pending":
            await ledger.update(row.id, now, state="pending", attempts=row.attempts + 1)  # type: ignore[arg-type]
            out.still_open.append(f"serial {serial}: still {poll.raw_status}")
        else:  # failed without an invoice, voided, red-flushed: nothing left to cancel
            await ledger.update(row.id, now, state="nothing" if poll.status == "failed" else "cleaned", cleaned_at=now)  # type: ignore[arg-type]
            out.cleaned += 1
    return out


async def submit_canary(
    registry: PlatformRegistry, session: PlatformSession, opts: CanaryOptions, check: str, result: Result, steps: Steps
) -> tuple[int, str] | None:
    """Ledger first, then submit. Returns (ledger row, serial), or None with a failed step."""
    ledger = registry.ledger
    assert ledger is not None
    clock = registry.clock
    order_no = order_number(opts.order_prefix, clock.now())
    variables = {**opts.variables, "order_no": order_no}
    row_id = await ledger.open(session.name, check, order_no, variables, clock.now())
    result.values["order_no"] = order_no
    if "canaries_today" in result.values:
        result.values["canaries_today"] += 1
    ex = await session.call("issue", variables)
    serial = ex.extracted.get("serial") if ex.ok else None
    result.latency_ms = round(ex.latency_ms, 1)
    if not ex.ok or not serial:
        steps.exchange("submit", ex, status=Status.DOWN, message=ex.describe() if not ex.ok else "no serial number in the answer")
        if ex.http_status is not None and 200 <= ex.http_status < 300:
            # The platform answered with a verdict: no invoice was made.
            await ledger.update(row_id, clock.now(), state="nothing", last_error=ex.describe()[:500])
        return None
    steps.exchange("submit", ex, values={"serial": str(serial)})
    result.values["serial"] = str(serial)
    await ledger.update(row_id, clock.now(), serial=str(serial), state="pending")
    return row_id, str(serial)


async def cancel_canary(
    registry: PlatformRegistry, session: PlatformSession, row_id: int, serial: str, poll: Poll | None,
    ops: list[str], steps: Steps,
) -> bool:
    """Void or red-flush the canary now if it exists; otherwise leave it to the next sweep.

    Returns True when nothing of the canary is left on the platform.
    """
    ledger = registry.ledger
    assert ledger is not None
    now = registry.clock.now
    if poll is None or poll.status == "pending" or poll.record is None:
        await ledger.update(row_id, now(), state="pending", last_error="not final when the check ended")
        steps.add("cleanup", Status.DEGRADED, f"canary {serial} not final yet; kept in the ledger, cancelled later")
        return False
    if not needs_cleanup(poll):
        await ledger.update(row_id, now(), state="nothing" if poll.status == "failed" else "cleaned", cleaned_at=now())
        return True
    ok, tried = await cleanup(session, serial, ops)
    last = tried[-1] if tried else None
    if ok and last is not None:
        await ledger.update(row_id, now(), state="cleaned", cleaned_at=now(), number=poll.record.number)
        steps.exchange("cleanup", last, message=f"{last.operation}: canary cancelled")
        return True
    why = last.describe() if last else f"none of {ops} is an operation of this platform"
    await ledger.update(row_id, now(), state="issued", number=poll.record.number, last_error=why[:500])
    if last is not None:
        steps.exchange("cleanup", last, status=Status.DEGRADED, message=f"canary {serial} not cancelled ({why}); retried later")
    else:
        steps.add("cleanup", Status.DEGRADED, why)
    return False


def recovery_step(steps: Steps, rec: Recovery) -> None:
    if rec.found:
        status = Status.UP if not rec.still_open else Status.DEGRADED
        steps.add("leftover canaries", status, rec.summary(), values={"leftover_found": rec.found, "leftover_cleaned": rec.cleaned})
