"""The canary sweep: every canary in the ledger is settled, then voided or red-flushed.

Who sweeps: each `issuance`/`lifecycle` run first sweeps **its own** leftovers (ledger rows
are per check, so the lifecycle check never calls the issuance check's in-flight canary a
leftover), and the platform service (`registry.service`) sweeps every platform at start and
then, in the background, every row whose retry is due (backing off 2 s, 4 s, 8 s ... 1 h), so
a canary is cancelled even when its check no longer runs. A row a run is working on is
claimed (`registry.busy`) and no sweeper touches it.

How a row is settled, by state:
  submitting  the submit got no verdict: ask the platform by order number, never resubmit.
              Found: continue as pending. Unknown to the platform for UNKNOWN_GRACE after
              the submit: it never arrived (closed as "nothing").
  pending     read its status; cancel it once it is issued (or failed with a number).
  issued      an earlier cancel failed: read its status first (the answer may have been lost),
              then cancel.
`outstanding(row, now)` says in words why a row is still open (`invoicewatch canaries`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from checks.platform.canary import (
    CANCELLED,
    CLEANUP_KEY,
    DEFAULT_CLEANUP,
    Canary,
    cleanup,
    lookup,
    needs_cleanup,
    poll_status,
)
from checks.platform.steps import Steps
from monitor.core.results import Status

if TYPE_CHECKING:
    from checks.platform.registry import PlatformRegistry

UNKNOWN_GRACE = timedelta(minutes=10)
FIRST_RETRY = timedelta(seconds=2)
MAX_RETRY = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """How long after its last attempt a row is tried again: doubling, capped."""
    return min(FIRST_RETRY * (2 ** (attempts - 1)), MAX_RETRY) if attempts > 0 else timedelta(0)


def next_try(row: Any) -> datetime:
    """When a sweeper should look at this row again."""
    return row.updated_at + backoff(int(row.attempts or 0))  # type: ignore[no-any-return]


def outstanding(row: Any, now: datetime) -> str:
    """Why this canary is still open, in words."""
    what = {
        "submitting": "submit got no verdict; asking the platform by order number",
        "pending": "not final yet",
        "issued": "issued, cancel not done yet",
    }.get(row.state, row.state)
    parts = [what]
    if row.last_error:
        parts.append(f"last: {row.last_error}")
    if row.attempts:
        due = next_try(row)
        parts.append(f"{row.attempts} attempt(s); next " + ("now" if due <= now else f"in {(due - now).total_seconds():.0f}s"))
    return "; ".join(parts)


@dataclass
class Recovery:
    found: int = 0
    cleaned: int = 0
    still_open: list[str] = field(default_factory=list)
    next_due: datetime | None = None  # the earliest retry of a row still open

    def summary(self) -> str:
        text = f"{self.found} leftover canar{'y' if self.found == 1 else 'ies'}, {self.cleaned} cleaned up"
        if self.still_open:
            text += f"; still open: {'; '.join(self.still_open)}"
        return text


async def recover(
    registry: PlatformRegistry, platform: str, *, check: str | None = None, due_only: bool = False
) -> Recovery:
    """Settle and cancel the open canaries of `platform` (only `check`'s, when given)."""
    out = Recovery()
    ledger = registry.ledger
    if ledger is None:
        return out
    rows = [r for r in await ledger.unfinished(platform) if check is None or r.check == check]
    registry.recovered.add(platform)
    now = registry.clock.now()
    for row in rows:
        assert row.id is not None  # a stored row
        if row.id in registry.busy or (due_only and next_try(row) > now):
            out.next_due = min(filter(None, (out.next_due, next_try(row))))
            continue
        registry.busy.add(row.id)
        try:
            out.found += 1
            note = await _settle(registry, platform, row)
        finally:
            registry.busy.discard(row.id)
        if note is None:
            out.cleaned += 1
        else:
            out.still_open.append(note)
            due = now + backoff(int(row.attempts or 0) + 1)  # what _settle just wrote
            out.next_due = min(filter(None, (out.next_due, due)))
    return out


async def _settle(registry: PlatformRegistry, platform: str, row: Any) -> str | None:
    """One row: None when nothing of it is left on the platform, else why it is still open."""
    ledger = registry.ledger
    assert ledger is not None
    session = registry.session(platform)
    variables = dict(row.variables or {})
    ops = list(variables.pop(CLEANUP_KEY, None) or DEFAULT_CLEANUP)
    if row.serial:
        variables["serial"] = row.serial
    canary = Canary(row.id, row.order_no, variables, ops)
    now = registry.clock.now()

    async def still_open(why: str, state: str | None = None) -> str:
        values: dict[str, Any] = {"attempts": int(row.attempts or 0) + 1, "last_error": why[:500],
                                  "variables": canary.stored()}  # fmt: skip
        if state is not None:
            values["state"] = state
        if canary.serial and not row.serial:
            values["serial"] = canary.serial
        await ledger.update(row.id, now, **values)
        return f"{canary.label}: {why}"

    async def closed(state: str, why: str | None = None, number: str | None = None) -> None:
        values: dict[str, Any] = {"state": state, "cleaned_at": now}
        if why:
            values["last_error"] = why[:500]
        if number:
            values["number"] = number
        if canary.serial and not row.serial:
            values["serial"] = canary.serial
        await ledger.update(row.id, now, **values)

    if canary.serial is None:  # the submit's outcome is unknown: ask, never resubmit
        found = await lookup(session, canary)
        if found.no_way:
            return await still_open("submit outcome unknown and the platform has no find_by_order operation "
                                    "(nor list_invoices with fields.order_no) to ask by order number")  # fmt: skip
        if found.record is None or canary.serial is None:
            said = found.exchange.describe() if found.exchange is not None else "no answer"
            if found.unknown_to_platform and now - row.created_at >= UNKNOWN_GRACE:
                await closed("nothing", f"the platform does not know order {row.order_no}: the submit never arrived")
                return None
            return await still_open(f"submit outcome unknown; asked by order number: {said}")
        await ledger.update(row.id, now, serial=canary.serial, state="pending")
    poll = await poll_status(registry, session, canary, until=set(), every=timedelta(seconds=1),
                             deadline=timedelta(0), started=registry.clock.monotonic())  # fmt: skip
    if poll.record is None:
        said = poll.last_error.describe() if poll.last_error is not None else "no answer"
        if poll.unknown_to_platform and poll.last_error is not None and poll.last_error.not_found:
            await closed("nothing", said)  # the platform answered and does not know it: nothing to cancel
            return None
        return await still_open(f"cannot read its status: {said}")
    if poll.status in CANCELLED:
        await closed("cleaned", number=poll.record.number)
        return None
    if needs_cleanup(poll):
        ok, tried = await cleanup(session, canary, ops)
        if ok:
            await closed("cleaned", number=poll.record.number)
            return None
        why = tried[-1].describe() if tried else f"none of {ops} is an operation of this platform"
        return await still_open(f"cancel failed: {why}", state="issued")
    if poll.status == "failed":  # failed without an invoice number: nothing was made
        await closed("nothing")
        return None
    return await still_open(f"still {poll.raw_status}", state="pending")


def recovery_step(steps: Steps, rec: Recovery) -> None:
    if rec.found:
        status = Status.UP if not rec.still_open else Status.DEGRADED
        steps.add("leftover canaries", status, rec.summary(), values={"leftover_found": rec.found, "leftover_cleaned": rec.cleaned})
