"""`freshness`: do new invoices show up in the platform in time?

Without a source: the lag is now minus the newest record's time (`field:`, the invoice date
or updated_at), over the last `window`. With a `source:` of truth (an SQL query on the ERP,
or a list operation of another platform profile): the invoices the source has that the
platform does not list are *missing* (those younger than `grace` are not expected yet), and
the lag is how long the oldest missing one has been waiting. An SQL source is read through
the `sql` checks' shared engines and worker threads (ctx.services["sql"], checks.sql.SqlEngines).

Only business data counts: our own canaries (order numbers starting with `canary_prefixes`,
read through `fields.order_no`, and the open rows of the canary ledger) are set aside, so a
stream that stopped is not hidden by the canaries the monitor issues every few minutes.

Beside the fixed `max_lag`, the check learns the platform's normal arrival rate per hour of
day from its own history (`learn:`, through `ctx.services["history"]`, see
checks/platform/history.py) and is down when the gap since the newest business record is
improbable at that rate (e.g. 10 quiet minutes at 9:00 when 60 invoices an hour arrive, while
a quiet hour at 3:00 is normal). Values: `lag_s`, `newest_age_s`, `records`,
`canaries_ignored`, `arrivals_1h`, `rate_per_h`, `expected_in_gap`, `gap_probability`,
`improbable_gap`, `missing`, `missing_examples`, `source_records`.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from checks.base import Context
from checks.platform.history import SERVICE_KEY as HISTORY_KEY
from checks.platform.history import expected_arrivals, gap_probability, hourly_rates
from checks.platform.records import Record, newest, parse_time
from checks.platform.references import PlatformName, PlatformUser, unresolved
from checks.platform.registry import PlatformRegistry, platforms_of
from checks.platform.specs import CountThresholds, LagThresholds, PlatformTarget, Share, window_variables
from checks.platform.steps import Steps, finish
from checks.sql import SqlEngines, engines_of
from checks.sqlgate import read_only_problem, url_problem
from monitor.core.durations import Duration
from monitor.core.results import Result, Status
from monitor.core.secrets import safe_url
from monitor.core.spec import CheckSpec


class SqlSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="SQLAlchemy URL of the ERP database (password via ${ENV})")
    query: str = Field(description="rows of (invoice number[, issue time]); :since and :until are bound")

    @field_validator("url", "query")
    @classmethod
    def _gate(cls, value: str, info: ValidationInfo) -> str:
        """The sql kind's load-time gate: a URL a run can use, one read-only statement."""
        problem = url_problem(value) if info.field_name == "url" else read_only_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class EndpointSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: PlatformName = Field(description="another entry of platforms: that lists the invoices")
    operation: str = "list_invoices"
    user: PlatformUser = None
    limit: int = Field(500, ge=1, le=5000)

    @model_validator(mode="after")
    def _known_names(self, info: ValidationInfo) -> EndpointSource:
        found = unresolved(info, self.platform)
        if found is not None:
            found.operation(("operation",), self.operation)
            found.raise_if("endpoint")
        return self


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sql: SqlSource | None = None
    endpoint: EndpointSource | None = None

    @model_validator(mode="after")
    def _one(self) -> Source:
        if (self.sql is None) == (self.endpoint is None):
            raise ValueError("source: give exactly one of sql: or endpoint:")
        return self


class Learn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    days: int = Field(14, ge=1, le=90, description="learn the hourly rate from this many days of own results")
    min_days: int = Field(3, ge=1, le=90, description="an hour of day is judged once measured on this many days")
    improbable: Share = Field(0.001, description="a gap less likely than this at the learnt rate is down")


class Spec(CheckSpec, PlatformTarget):
    kind: Literal["freshness"]
    operation: str = Field("list_invoices", description="the list operation of the platform profile")
    field: Literal["date", "updated_at"] = Field("date", description="which record time counts")
    window: Duration = Field(timedelta(hours=1), description="look at records of the last ...")
    limit: int = Field(500, ge=1, le=5000, description="platform records to fetch at most")
    max_lag: LagThresholds = Field(description="lag above which the check is degraded / down; `10m` means down")
    source: Source | None = Field(None, description="a source of truth to compare with")
    grace: Duration = Field(timedelta(0), description="source records younger than this are not expected yet")
    canary_prefixes: list[str] = Field(
        default_factory=lambda: ["IWCANARY", "IWPERM"],
        description="order-number prefixes of our own canaries (issuance/lifecycle order_prefix): never fresh data",
    )
    learn: Learn = Field(default_factory=Learn, description="judge gaps by the arrival rate learnt per hour of day")
    max_missing: CountThresholds = Field(
        default_factory=lambda: CountThresholds(degraded=0, down=None),
        description="missing records above which the check is degraded / down",
    )


async def run(spec: Spec, ctx: Context) -> Result:
    registry = platforms_of(ctx, spec)
    session = registry.session(spec.platform, spec.user)
    tz = session.profile.tz
    now = ctx.clock.now()
    result = Result(spec.name, Status.UP, now)
    steps = Steps()
    variables = {**window_variables(now, spec.window), **spec.variables}
    records, exchanges, _ = await session.list_records(spec.operation, variables, limit=spec.limit)
    result.latency_ms = steps.pages(spec.operation, exchanges)
    if records is None:
        return finish(result, steps, message_ok="")
    records, ignored = await _business(records, spec, registry)
    newest_at = newest(records, spec.field, tz)
    newest_age = None if newest_at is None else max((now - newest_at).total_seconds(), 0.0)
    result.values.update(records=len(records), canaries_ignored=ignored,
                         newest_age_s=None if newest_age is None else round(newest_age, 1),
                         arrivals_1h=_arrivals_1h(records, spec, now, tz, truncated=len(records) + ignored >= spec.limit))  # fmt: skip

    if spec.source is None:
        lag = newest_age
        lag_text = (
            f"newest record is {lag:.0f}s old" if lag is not None
            else f"no record in the last {spec.window.total_seconds():g}s"
        )
        if ignored:
            lag_text += f" ({ignored} canar{'y' if ignored == 1 else 'ies'} of ours not counted)"
        result.values["lag_s"] = None if lag is None else round(lag, 1)
        status = _lag_status(spec, spec.window.total_seconds() if lag is None else lag, unknown=lag is None)
        steps.add("lag", status, lag_text, values={"lag_s": result.values["lag_s"]})
        learnt = await _improbable_gap(spec, ctx, now, spec.window.total_seconds() if lag is None else lag, tz, result)
        if learnt is not None:
            steps.add("arrival rate", Status.DOWN, learnt)
            if status is Status.UP:
                status, lag_text = Status.DOWN, learnt
        return finish(result, steps, message_ok=lag_text) if status is Status.UP else _failed(result, steps, lag_text)

    try:
        truth = await _source_records(spec, registry, engines_of(ctx), now, tz)
    except Exception as exc:  # the source is ours (ERP); report it, do not blame the platform
        steps.add("source", Status.DEGRADED, f"cannot read the source of truth: {type(exc).__name__}: {exc}")
        return finish(result, steps, message_ok="")
    steps.add("source", Status.UP, f"{len(truth)} records in the source", values={"source_records": len(truth)})
    present = {r.number for r in records if r.number}
    due = [(n, t) for n, t in truth if t is None or t <= now - spec.grace]
    missing = [(n, t) for n, t in due if n not in present]
    waiting = [now - t for _, t in missing if t is not None]
    lag = max((w.total_seconds() for w in waiting), default=0.0)
    result.values.update(
        source_records=len(truth), missing=len(missing), lag_s=round(lag, 1),
        missing_examples=[n for n, _ in missing[:5]],
    )
    status = _lag_status(spec, lag, unknown=False)
    mm = spec.max_missing
    if mm.down is not None and len(missing) > mm.down:
        status = Status.DOWN
    elif mm.degraded is not None and len(missing) > mm.degraded and status is Status.UP:
        status = Status.DEGRADED
    text = (
        f"{len(missing)} of {len(due)} source records missing in the platform, oldest waiting {lag:.0f}s"
        + (f" (e.g. {', '.join(n for n, _ in missing[:3])})" if missing else "")
    )
    steps.add("compare", status, text, values={"missing": len(missing), "lag_s": round(lag, 1)})
    return finish(result, steps, message_ok=text) if status is Status.UP else _failed(result, steps, text)


async def _business(records: list[Record], spec: Spec, registry: PlatformRegistry) -> tuple[list[Record], int]:
    """The records that are business data, and how many canaries of ours were set aside."""
    ours: set[str] = set()
    if registry.ledger is not None:
        for row in await registry.ledger.unfinished(spec.platform):
            ours.update(v for v in (row.serial, row.number) if v)
    prefixes = tuple(spec.canary_prefixes)

    def canary(r: Record) -> bool:
        order = r.get("order_no")
        if prefixes and isinstance(order, str) and order.startswith(prefixes):
            return True
        return bool(ours) and (str(r.get("serial")) in ours or (r.number or "") in ours)

    business = [r for r in records if not canary(r)]
    return business, len(records) - len(business)


def _arrivals_1h(records: list[Record], spec: Spec, now: datetime, tz: Any, *, truncated: bool) -> int | None:
    """Business records of the last hour: what `learn` is taught (None when not all were seen)."""
    if spec.window < timedelta(hours=1):
        return None
    hour_ago = now - timedelta(hours=1)
    times = [t for t in (parse_time(r.get(spec.field), tz) for r in records) if t is not None]
    if truncated and (not times or min(times) > hour_ago):
        return None  # the list stopped inside the hour: a count would be too low
    return sum(1 for t in times if hour_ago < t <= now)


async def _improbable_gap(spec: Spec, ctx: Context, now: datetime, gap_s: float, tz: Any, result: Result) -> str | None:
    """Why the gap is improbable at the learnt hourly rate, or None (fine, or nothing learnt)."""
    history = ctx.services.get(HISTORY_KEY)
    if not spec.learn.enabled or history is None:
        return None
    samples = await history.values(spec.name, now - timedelta(days=spec.learn.days))
    rates = hourly_rates(samples, tz, min_days=spec.learn.min_days)
    rate = rates.get(now.astimezone(tz).hour)
    result.values["rate_per_h"] = None if rate is None else round(rate, 2)
    if not rates:
        return None
    expected, _ = expected_arrivals(rates, now - timedelta(seconds=gap_s), now, tz)
    p = gap_probability(expected)
    result.values.update(expected_in_gap=round(expected, 2), gap_probability=float(f"{p:.3g}"))
    if p >= spec.learn.improbable:
        return None
    result.values["improbable_gap"] = True
    return (f"no new invoice for {gap_s / 60:.0f} min while about {rate or expected / max(gap_s / 3600, 1e-9):.0f} "
            f"an hour arrive at this time of day: {expected:.1f} were due, a gap this long happens with "
            f"probability {p:.1g} (below {spec.learn.improbable:g})")  # fmt: skip


def _failed(result: Result, steps: Steps, text: str) -> Result:
    result.message = text
    return finish(result, steps, message_ok=text)


def _lag_status(spec: Spec, lag: float, *, unknown: bool) -> Status:
    t = spec.max_lag
    if t.down is not None and (lag > t.down.total_seconds() or (unknown and lag >= t.down.total_seconds())):
        return Status.DOWN
    if t.degraded is not None and lag > t.degraded.total_seconds():
        return Status.DEGRADED
    if unknown:  # nothing at all in the window, and the window is shorter than the down lag
        return Status.DEGRADED
    return Status.UP


async def _source_records(
    spec: Spec, registry: PlatformRegistry, engines: SqlEngines, now: datetime, tz: Any
) -> list[tuple[str, datetime | None]]:
    src = spec.source
    assert src is not None
    since = now - spec.window
    if src.sql is not None:
        connect_timeout = max(2, math.ceil(spec.timeout.total_seconds()))
        loop = asyncio.get_running_loop()  # the sql checks' worker threads, not the default executor
        return await loop.run_in_executor(engines.executor, _sql_rows, engines, src.sql, since, now, tz, connect_timeout)
    assert src.endpoint is not None
    other = registry.session(src.endpoint.platform, src.endpoint.user)
    recs, exchanges, _ = await other.list_records(src.endpoint.operation, window_variables(now, spec.window), limit=src.endpoint.limit)
    if recs is None:
        bad = next((ex for ex in exchanges if not ex.ok), None)
        raise RuntimeError(bad.describe() if bad else "no records")
    otz = other.profile.tz
    return [(r.number, parse_time(r.get(spec.field), otz)) for r in recs if r.number]


def _sql_rows(
    engines: SqlEngines, src: SqlSource, since: datetime, until: datetime, tz: Any, connect_timeout: int
) -> list[tuple[str, datetime | None]]:
    try:
        engine = engines.engine(src.url, connect_timeout)
    except Exception as exc:
        raise RuntimeError(f"bad database URL {safe_url(src.url)}: {exc}") from None
    import sqlalchemy as sa  # lazy: CLI start time (a config load needs no engine)

    with engine.connect() as conn:
        rows = conn.execute(sa.text(src.query), _bind(src.query, since, until)).fetchall()
        conn.rollback()
    out = []
    for row in rows:
        number = str(row[0]).strip() if row[0] is not None else ""
        if number:
            out.append((number, parse_time(row[1], tz) if len(row) > 1 else None))
    return out


def _bind(query: str, since: datetime, until: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if ":since" in query:
        params["since"] = since
    if ":until" in query:
        params["until"] = until
    return params
