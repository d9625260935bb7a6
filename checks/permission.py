"""`permission`: each configured user sees what they should, and is refused what they may not do.

Per user (an entry of the platform's `users:`, or the platform's own credentials): list the
recent invoices as that user; at least `min_visible` must come back and every number under
`invoices:` must be among them. `reference:` compares with the platform's own account: of
the invoices it lists whose `where` value is in `equals`, the user must see at least
`min_share` (a scoped user silently seeing fewer is the failure this catches), and none of
the others (seeing too much). `same_as:` asserts directly that the user sees what another
account sees (`same_as: auditor`, or `same_as: true` for the platform's own account): every
invoice that account lists, and (`exclusive`) none it does not. Each `forbidden:` operation is attempted and must be refused
(HTTP 403 or an envelope code under `envelope.forbidden`); any other error is reported as
inconclusive (some platforms validate parameters before permissions). Void and red-flush are
probed on a serial that does not exist, so a platform that forgets to refuse changes nothing.
`issue` needs valid parameters to reach the permission check, so it is only probed on sandbox
or opted-in platforms, and an invoice it makes is put in the canary ledger and cancelled.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from checks.base import Context
from checks.platform.jsonpath import JsonPath, compile_path, find_first
from checks.platform.models import Scalar, scalar_key
from checks.platform.records import Record, parse_time
from checks.platform.references import PlatformName, unresolved
from checks.platform.registry import PlatformRegistry, platforms_of
from checks.platform.session import PlatformSession
from checks.platform.specs import Share, window_variables
from checks.platform.steps import Steps, finish
from monitor.core.durations import Duration
from monitor.core.errors import CheckError
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec

PROBE_SERIAL = "IWPERMISSIONPROBE0000"


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    where: JsonPath = Field(description="JSONPath on a raw record, e.g. $.department")
    equals: list[Scalar] = Field(min_length=1, description="values of records this user must see")
    min_share: Share = Field(1.0, description="share of those the user must see")
    exclusive: bool = Field(True, description="the user must not see records with other values")

    def matches(self, rec: Record) -> bool:
        compile_path(self.where)
        return scalar_key(find_first(self.where, rec.raw)) in {scalar_key(v) for v in self.equals}


def _same_as(value: Any) -> Any:
    """`same_as: auditor` names an account; `same_as: true` is the platform's own account."""
    if value is True:
        return {}
    if isinstance(value, str):
        return {"user": value}
    return value


class SameAs(BaseModel):
    """This user sees exactly what another account sees (e.g. an auditor and the main account)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str | None = Field(None, description="entry of the platform's users: (none: the platform's own account)")
    min_share: Share = Field(1.0, description="share of that account's invoices this user must see")
    exclusive: bool = Field(True, description="and none that account does not see")


class Forbidden(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str
    variables: dict[str, Any] = Field(default_factory=dict, description="parameters; default: a serial that does not exist")


class UserExpectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str | None = Field(None, description="entry of the platform's users: (none: its own credentials)")
    min_visible: int = Field(0, ge=0)
    invoices: list[str] = Field(default_factory=list, description="invoice numbers that must be visible")
    reference: Reference | None = None
    same_as: Annotated[SameAs | None, BeforeValidator(_same_as)] = Field(
        None, description="sees what this account sees: `same_as: auditor`, or `same_as: true` for the platform's own"
    )
    forbidden: list[Forbidden] = Field(default_factory=list)


class Spec(CheckSpec):
    kind: Literal["permission"]
    platform: PlatformName
    operation: str = "list_invoices"
    window: Duration = Field(timedelta(hours=1), description="list the invoices of the last ...")
    limit: int = Field(500, ge=1, le=5000)
    users: list[UserExpectation] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_names(self, info: ValidationInfo) -> Spec:
        """Every user, list operation and forbidden operation must be the platform's."""
        found = unresolved(info, self.platform)
        if found is None:
            return self
        found.operation(("operation",), self.operation)
        for j, u in enumerate(self.users):
            found.user(("users", j, "user"), u.user)
            if u.same_as is not None and u.same_as.user is not None:
                found.user(("users", j, "same_as", "user"), u.same_as.user)
            for k, f in enumerate(u.forbidden):
                found.operation(("users", j, "forbidden", k, "operation"), f.operation)
                if f.operation == "issue" and self.enabled:
                    found.may_issue(("users", j, "forbidden", k, "operation"), "probing issue")
        found.raise_if("permission")
        return self


async def run(spec: Spec, ctx: Context) -> Result:
    registry = platforms_of(ctx, spec)
    profile = registry.profile(spec.platform)
    for u in spec.users:
        for f in u.forbidden:
            profile.operation(f.operation)
            if f.operation == "issue" and not profile.may_issue:
                raise CheckError(
                    f"refused: probing 'issue' as {u.user or 'the platform account'} could make a real invoice on "
                    f"{spec.platform!r}, which is neither sandbox nor opted in"
                )
    result = Result(spec.name, Status.UP, ctx.clock.now())
    steps = Steps()
    variables = window_variables(ctx.clock.now(), spec.window)
    reference: list[Record] | None = None
    lists: dict[str | None, list[Record] | None] = {}  # what each compared-with account sees
    for u in spec.users:
        who = u.user or "platform account"
        session = registry.session(spec.platform, u.user)
        records, exchanges, _ = await session.list_records(spec.operation, variables, limit=spec.limit)
        bad = next((ex for ex in exchanges if not ex.ok), None)
        if records is None or bad is not None:
            ex = bad or exchanges[-1]
            steps.exchange(f"{who}: list", ex)
            continue
        numbers = {r.number for r in records if r.number}
        steps.add(f"{who}: list", Status.UP, f"sees {len(records)} invoices", latency_ms=round(sum(e.latency_ms for e in exchanges), 1),
                  values={"visible": len(records)})
        if len(records) < u.min_visible:
            steps.add(f"{who}: visible", Status.DOWN, f"sees {len(records)} invoices, expected at least {u.min_visible}")
        absent = [n for n in u.invoices if n not in numbers]
        if absent:
            steps.add(f"{who}: invoices", Status.DOWN, f"cannot see {len(absent)} expected invoice(s): {', '.join(absent[:5])}")
        if u.reference is not None:
            if reference is None:
                reference = await _reference(registry, spec, variables, steps)
            if reference is not None:
                _compare(who, u.reference, records, reference, len(records) >= spec.limit, session, steps)
        if u.same_as is not None:
            other = u.same_as.user
            if other not in lists:
                lists[other] = await _listing(registry, spec, other, variables, steps)
            theirs = lists[other]
            if theirs is not None:
                _same(who, other or "the platform account", u.same_as, records, theirs, spec.limit, session, steps)
        for f in u.forbidden:
            await _forbidden(registry, session, who, f, spec.name, steps)
    result.values["users"] = len(spec.users)
    return finish(result, steps, message_ok=f"{len(spec.users)} user(s) see and may do what they should")


async def _reference(registry: PlatformRegistry, spec: Spec, variables: dict[str, Any], steps: Steps) -> list[Record] | None:
    return await _listing(registry, spec, None, variables, steps)


async def _listing(registry: PlatformRegistry, spec: Spec, user: str | None, variables: dict[str, Any],
                   steps: Steps) -> list[Record] | None:  # fmt: skip
    """What another account lists, to compare with; a degraded step when it cannot."""
    other = registry.session(spec.platform, user)
    recs, exchanges, _ = await other.list_records(spec.operation, variables, limit=spec.limit)
    bad = next((ex for ex in exchanges if not ex.ok), None)
    if recs is None or bad is not None:
        steps.exchange("reference list" if user is None else f"{user}: reference list", bad or exchanges[-1],
                       status=Status.DEGRADED,
                       message=f"cannot list as {user or 'the platform account'} to compare with")  # fmt: skip
        return None
    return recs


def _same(who: str, other: str, same: SameAs, records: list[Record], theirs: list[Record], limit: int,
          session: PlatformSession, steps: Steps) -> None:  # fmt: skip
    """Every invoice `other` lists, this user lists too (and, exclusive, nothing more), over
    the time both lists cover (a list cut at `limit` stops earlier in time)."""
    tz = session.profile.tz

    def floor(recs: list[Record]) -> Any:
        if len(recs) < limit:
            return None
        return min((t for t in (parse_time(r.get("date"), tz) for r in recs) if t is not None), default=None)

    edges = [f for f in (floor(records), floor(theirs)) if f is not None]
    edge = max(edges) if edges else None

    def covered(recs: list[Record]) -> set[str]:
        return {r.number for r in recs if r.number and (edge is None or (t := parse_time(r.get("date"), tz)) is None or t >= edge)}

    mine, expected = covered(records), covered(theirs)
    missing = sorted(expected - mine)
    share = 1.0 if not expected else (len(expected) - len(missing)) / len(expected)
    values = {"expected": len(expected), "missing": len(missing), "visible_share": round(share, 4),
              "missing_examples": missing[:5], "same_as": other}  # fmt: skip
    name = f"{who}: same as {other}"
    if share < same.min_share:
        steps.add(name, Status.DOWN, f"sees {share:.0%} of the {len(expected)} invoices {other} sees "
                  f"(min {same.min_share:.0%}); missing e.g. {', '.join(missing[:3])}", values=values)  # fmt: skip
    else:
        steps.add(name, Status.UP, f"sees {share:.0%} of the {len(expected)} invoices {other} sees", values=values)
    extra = sorted(mine - expected)
    if same.exclusive and extra:
        steps.add(f"{who}: leaks", Status.DOWN, f"sees {len(extra)} invoice(s) {other} does not, e.g. {', '.join(extra[:3])}",
                  values={"leaks": len(extra)})


def _compare(who: str, ref: Reference, records: list[Record], reference: list[Record], truncated: bool,
             session: PlatformSession, steps: Steps) -> None:  # fmt: skip
    tz = session.profile.tz
    floor = None
    if truncated:  # the user's list stops earlier in time; compare only what it covers
        times = [t for t in (parse_time(r.get("date"), tz) for r in records) if t is not None]
        floor = min(times, default=None)
    expected = [r for r in reference if ref.matches(r) and r.number]
    if floor is not None:
        expected = [r for r in expected if (t := parse_time(r.get("date"), tz)) is None or t >= floor]
    mine = {r.number for r in records if r.number}
    missing = [r.number for r in expected if r.number not in mine]
    share = 1.0 if not expected else (len(expected) - len(missing)) / len(expected)
    values = {"expected": len(expected), "missing": len(missing), "visible_share": round(share, 4),
              "missing_examples": missing[:5]}  # fmt: skip
    if share < ref.min_share:
        steps.add(f"{who}: visibility", Status.DOWN,
                  f"sees {share:.0%} of the {len(expected)} invoices it should (min {ref.min_share:.0%}); "
                  f"missing e.g. {', '.join(str(m) for m in missing[:3])}", values=values)
    else:
        steps.add(f"{who}: visibility", Status.UP, f"sees {share:.0%} of the {len(expected)} invoices it should", values=values)
    if ref.exclusive:
        leaks = [r.number or "?" for r in records if not ref.matches(r)]
        if leaks:
            steps.add(f"{who}: leaks", Status.DOWN, f"sees {len(leaks)} invoice(s) it should not, e.g. {', '.join(leaks[:3])}",
                      values={"leaks": len(leaks)})


async def _forbidden(registry: PlatformRegistry, session: PlatformSession, who: str, f: Forbidden, check: str, steps: Steps) -> None:
    variables = {"serial": PROBE_SERIAL, "order_no": f"IWPERM{registry.clock.now():%Y%m%d%H%M%S}",
                 "reason": "invoicewatch permission probe", **f.variables}  # fmt: skip
    ex = await session.call(f.operation, variables)
    name = f"{who}: {f.operation} refused"
    if ex.refused:
        steps.exchange(name, ex, status=Status.UP, message=f"refused as expected ({ex.envelope_code or ex.http_status})")
    elif ex.ok:
        serial = ex.extracted.get("serial")
        steps.exchange(name, ex, status=Status.DOWN, message=f"{f.operation} was ALLOWED for {who}",
                       values={"serial": serial} if serial else None)
        if f.operation == "issue" and serial and registry.ledger is not None:
            # It made an invoice: hand it to the canary sweep so it is cancelled.
            now = registry.clock.now()
            row = await registry.ledger.open(session.name, check, str(variables["order_no"]), variables, now)
            await registry.ledger.update(row, now, serial=str(serial), state="pending")
    elif ex.token_failed:
        steps.exchange(name, ex, status=Status.DOWN)
    else:
        steps.exchange(name, ex, status=Status.DEGRADED, message=f"inconclusive: {ex.describe()} is not a refusal")
