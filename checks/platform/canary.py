"""Canary invoices: guard, cap, ledger, submit, settle, poll and cancel.

Used by the `issuance` and `lifecycle` kinds (the sweep of leftovers is `sweep.py`). A canary
is a real tax document on a production platform, so: nothing is issued unless the platform is
`sandbox: true` or `allow_production_issuance: true`; every canary is in the ledger before it
is submitted; an order number is submitted **once**. A submit whose outcome is unknown (no
answer, a cut connection, a 5xx from a gateway that may have passed it on) is settled by
asking the platform by order number (`find_by_order`, else `list_invoices` and
`fields.order_no`), never by submitting again: that is what turned one hang into "duplicate
order number" forever. Cleanup (void or red-flush) is attempted whatever happened, and after
a failed or unanswered cancel the canary's status is read again before anything else is
tried, so a cancel whose answer was lost is not sent twice.

Variables extracted by any operation of a canary (the issue's serial, a task poll's invoice
id, ...) accumulate in `Canary.variables`, are kept in the ledger, and are available to every
later operation: polls, cleanup, and the sweep after a restart.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from checks.platform.exchange import Exchange
from checks.platform.records import Record
from checks.platform.session import PlatformSession, budget_left
from checks.platform.steps import Steps
from monitor.core.durations import Duration
from monitor.core.results import Result, Status

if TYPE_CHECKING:
    from checks.platform.registry import PlatformRegistry

# Our vocabulary for "nothing of the canary is left": the profile's `voided` and the
# `red_flushed` name. Statuses on the way there (作废中, 红冲中) are not final.
CANCELLED = frozenset({"voided", "red_flushed"})
REASON = "invoicewatch canary"
SPARE = 0.5  # seconds of a run's budget below which a follow-up question is left to the sweep
DEFAULT_CLEANUP = ["void", "red_flush"]
CLEANUP_KEY = "_cleanup"  # the check's cleanup operations, kept with the row's variables


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


def lookup_ways(session: PlatformSession) -> list[str]:
    """How this platform can tell us about one canary, best first."""
    return session.profile.canary_lookups()


def refusal(registry: PlatformRegistry, platform: str) -> str | None:
    """Why no canary may be issued on this platform, or None when it may."""
    profile = registry.profile(platform)
    if not profile.may_issue:
        return (
            f"refused: platform {platform!r} is not marked sandbox: true and allow_production_issuance is not set; "
            "a canary would be a real tax document"
        )
    if "issue" not in profile.operations:
        return f"refused: platform {platform!r} has no issue operation"
    if not lookup_ways(registry.session(platform)):
        return (
            f"refused: platform {platform!r} cannot tell us a canary's status: give it a get_invoice or "
            "find_by_order operation (or list_invoices and fields.order_no)"
        )
    if registry.ledger is None:
        return "refused: no database for the canary ledger (monitor.database)"
    return None


@dataclass
class Canary:
    """One canary as this run knows it: its ledger row and every variable learnt so far."""

    row_id: int
    order_no: str
    variables: dict[str, Any]
    ops: list[str] = field(default_factory=lambda: list(DEFAULT_CLEANUP))

    def stored(self) -> dict[str, Any]:
        """What the ledger keeps: the variables, and the cleanup operations for the sweep."""
        return {**self.variables, CLEANUP_KEY: self.ops}

    @property
    def serial(self) -> str | None:
        value = self.variables.get("serial")
        return None if value in (None, "") else str(value)

    @property
    def label(self) -> str:
        return f"serial {self.serial}" if self.serial else f"order {self.order_no}"

    def learn(self, extracted: dict[str, Any]) -> None:
        for key, value in extracted.items():
            if not key.startswith("_") and value not in (None, ""):
                self.variables[key] = value


@dataclass
class Lookup:
    """What one question about a canary answered."""

    record: Record | None = None
    exchange: Exchange | None = None
    unknown_to_platform: bool = False  # it answered, and does not know this canary
    no_way: bool = False  # the profile has no operation to ask with


async def lookup(session: PlatformSession, canary: Canary) -> Lookup:
    """Read the canary's record: by serial (get_invoice), else by order number."""
    ways = lookup_ways(session)
    if canary.serial is None:
        ways = [w for w in ways if w != "get_invoice"]
    if not ways:
        return Lookup(no_way=True)
    way = ways[0]
    values = {**canary.variables, "order_no": canary.order_no, "serial": canary.serial or ""}
    if way == "list_invoices":
        return await _scan(session, canary, values)
    ex = await session.call(way, values)
    ex.operation = way
    records = session.records(ex, way) if ex.ok else None
    if ex.ok and way == "find_by_order" and records:
        records = [r for r in records if r.get("order_no") in (None, canary.order_no)] or None
    if records:
        canary.learn(ex.extracted)
        _learn_serial(canary, records[0])
        return Lookup(record=records[0], exchange=ex)
    # An answer that names no such invoice, or an OK answer with nothing in it (Nuonuo
    # answers `result: []` for an unknown order number).
    return Lookup(exchange=ex, unknown_to_platform=ex.not_found or ex.ok)


def _learn_serial(canary: Canary, record: Record) -> None:
    if canary.serial is None and record.has("serial"):
        canary.variables["serial"] = str(record.get("serial"))


async def _scan(session: PlatformSession, canary: Canary, values: dict[str, Any]) -> Lookup:
    now = session.clock.now()
    window = {"since": now - timedelta(days=1), "until": now}
    records, exchanges, _ = await session.list_records("list_invoices", {**values, **window}, limit=500)
    last = exchanges[-1] if exchanges else None
    if records is None:
        return Lookup(exchange=next((e for e in exchanges if not e.ok), last))
    mine = [r for r in records if r.get("order_no") == canary.order_no]
    if not mine:
        return Lookup(exchange=last, unknown_to_platform=True)
    _learn_serial(canary, mine[0])
    return Lookup(record=mine[0], exchange=last)


@dataclass
class Poll:
    """What polling one canary saw."""

    record: Record | None = None
    status: str | None = None  # our vocabulary: pending, issued, failed, voided, or a named one
    raw_status: Any = None
    seen: list[tuple[str, float]] = field(default_factory=list)  # (status, seconds since start), first sightings
    polls: int = 0
    errors: int = 0
    last_error: Exchange | None = None
    timed_out: bool = False
    unknown_to_platform: bool = False


async def poll_status(
    registry: PlatformRegistry,
    session: PlatformSession,
    canary: Canary,
    *,
    until: set[str],
    every: timedelta,
    deadline: timedelta,
    started: float,
    seen: list[tuple[str, float]] | None = None,
) -> Poll:
    """Read the canary until its status is in `until` or the deadline passes.

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
        found = await lookup(session, canary)
        if found.record is not None:
            rec = out.record = found.record
            out.raw_status = rec.get("status")
            out.status = statuses.name_of(out.raw_status) or f"unknown:{out.raw_status}"
            if not any(s == out.status for s, _ in out.seen):
                out.seen.append((out.status, round(clock.monotonic() - started, 3)))
            if out.status in until:
                return out
        else:
            out.errors += 1
            out.last_error = found.exchange
            out.unknown_to_platform = found.unknown_to_platform
        if out.polls >= limit or clock.monotonic() >= t_end:
            out.timed_out = True
            return out
        await registry.sleep(every.total_seconds())


def needs_cleanup(poll: Poll) -> bool:
    """An invoice exists: issued, or failed after a number was assigned (sealing failed)."""
    if poll.status == "issued":
        return True
    return poll.status == "failed" and poll.record is not None and poll.record.number is not None


def unanswered(ex: Exchange) -> bool:
    """No verdict: the request may or may not have taken effect."""
    return ex.http_status is None or ex.http_status >= 500


async def cleanup(session: PlatformSession, canary: Canary, ops: list[str]) -> tuple[bool, list[Exchange]]:
    """Try the cleanup operations in order until the canary is cancelled.

    After a cancel that failed or got no answer the canary is read again: a void whose answer
    was lost, or a second void answered 409 "already voided", has cancelled it all the same.
    After an unanswered cancel nothing more is tried now (the next sweep reads it first).
    """
    tried: list[Exchange] = []
    for op in ops:
        if op not in session.profile.operations:
            continue
        ex = await session.call(op, {**canary.variables, "order_no": canary.order_no, "reason": REASON})
        ex.operation = op
        tried.append(ex)
        if ex.ok:
            canary.learn(ex.extracted)
            return True, tried
        if not _time_for_more():
            return False, tried
        again = await lookup(session, canary)
        if again.record is not None and session.profile.statuses.name_of(again.record.get("status")) in CANCELLED:
            return True, tried
        if unanswered(ex):
            return False, tried
    return False, tried


def _time_for_more() -> bool:
    left = budget_left()
    return left is None or left > SPARE


def order_number(prefix: str, now: datetime) -> str:
    return f"{prefix}{now:%Y%m%d%H%M%S}{secrets.token_hex(2).upper()}"


async def submit_canary(
    registry: PlatformRegistry, session: PlatformSession, opts: CanaryOptions, check: str, result: Result, steps: Steps
) -> Canary | None:
    """Ledger first, then submit once; settle an unknown outcome by order number.

    Returns the canary (its serial known), or None with a failed step.
    """
    ledger = registry.ledger
    assert ledger is not None
    clock = registry.clock
    order_no = order_number(opts.order_prefix, clock.now())
    variables = {**opts.variables, "order_no": order_no}
    row_id = await ledger.open(session.name, check, order_no, {**variables, CLEANUP_KEY: opts.cleanup}, clock.now())
    registry.busy.add(row_id)  # the caller releases it when its run is over
    canary = Canary(row_id, order_no, dict(variables), list(opts.cleanup))
    result.values["order_no"] = order_no
    if "canaries_today" in result.values:
        result.values["canaries_today"] += 1
    ex = await session.call("issue", variables)
    ex.operation = "issue"
    result.latency_ms = round(ex.latency_ms, 1)
    if ex.ok:
        canary.learn(ex.extracted)
    if ex.ok and canary.serial:
        steps.exchange("submit", ex, values={"serial": canary.serial})
    elif not ex.ok and not unanswered(ex):
        # The platform answered with a verdict: no invoice was made.
        steps.exchange("submit", ex, status=Status.DOWN)
        await ledger.update(row_id, clock.now(), state="nothing", last_error=ex.describe()[:500])
        registry.busy.discard(row_id)
        return None
    else:
        why = ex.describe() if not ex.ok else "no serial number in the answer"
        found = await lookup(session, canary) if _time_for_more() else Lookup()
        if found.record is None or not canary.serial:
            said = ("the platform does not know the order yet" if found.unknown_to_platform
                    else "the platform could not be asked by order number now")  # fmt: skip
            steps.exchange("submit", ex, status=Status.DOWN, message=f"{why}; outcome unknown, {said}"
                           "; kept in the ledger and asked again later (never resubmitted)")  # fmt: skip
            if _time_for_more():  # else the row stays "submitting": the sweep asks and notes why
                await ledger.update(row_id, clock.now(), attempts=1, variables=canary.stored(),
                                    last_error=f"submit outcome unknown: {why}"[:500])  # fmt: skip
            registry.busy.discard(row_id)  # now the sweep's to settle
            return None
        steps.exchange("submit", ex, status=Status.DEGRADED,
                       message=f"{why}; found by order number: {canary.label}", values={"serial": canary.serial})  # fmt: skip
    result.values["serial"] = canary.serial
    await ledger.update(row_id, clock.now(), serial=canary.serial, state="pending", variables=canary.stored())
    return canary


async def cancel_canary(
    registry: PlatformRegistry, session: PlatformSession, canary: Canary, poll: Poll | None, ops: list[str], steps: Steps,
    *, cancel_sent: bool = False,
) -> bool:
    """Void or red-flush the canary now if it exists; otherwise leave it to the next sweep.

    `cancel_sent`: the caller's cancel was accepted already; it is not sent twice (a second
    void answers 409), the sweep reads the status later. Returns True when nothing of the
    canary is left on the platform.
    """
    ledger = registry.ledger
    assert ledger is not None
    now = registry.clock.now
    if poll is not None and poll.status in CANCELLED:
        await ledger.update(canary.row_id, now(), state="cleaned", cleaned_at=now(), variables=canary.stored())
        return True
    if cancel_sent:
        await ledger.update(canary.row_id, now(), state="issued", variables=canary.stored(),
                            last_error="cancel accepted; the platform did not show it cancelled yet")  # fmt: skip
        return False
    if poll is None or poll.record is None or (poll.status is not None and poll.status not in ("issued", "failed")):
        still = f"still {poll.raw_status}" if poll is not None and poll.record is not None else "status unknown"
        await ledger.update(canary.row_id, now(), state="pending", variables=canary.stored(),
                            last_error=f"not final when the check ended ({still})")  # fmt: skip
        steps.add("cleanup", Status.DEGRADED, f"canary {canary.label} not final yet ({still}); kept in the ledger, cancelled later")
        return False
    if not needs_cleanup(poll):
        await ledger.update(canary.row_id, now(), state="nothing", cleaned_at=now())
        return True
    ok, tried = await cleanup(session, canary, ops)
    last = tried[-1] if tried else None
    number = poll.record.number
    if ok:
        await ledger.update(canary.row_id, now(), state="cleaned", cleaned_at=now(), number=number, variables=canary.stored())
        if last is not None:
            steps.exchange("cleanup", last, status=Status.UP, message=f"{last.operation}: canary cancelled")
        return True
    why = last.describe() if last else f"none of {ops} is an operation of this platform"
    await ledger.update(canary.row_id, now(), state="issued", number=number, last_error=f"cancel failed: {why}"[:500],
                        variables=canary.stored())  # fmt: skip
    if last is not None:
        steps.exchange("cleanup", last, status=Status.DEGRADED, message=f"canary {canary.label} not cancelled ({why}); retried later")
    else:
        steps.add("cleanup", Status.DEGRADED, why)
    return False
