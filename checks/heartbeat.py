"""`heartbeat`: a dead-man's switch, like Healthchecks.io. A job (the nightly invoice backup,
the ERP export) calls the built-in server when it has run:

    GET|POST /push/<token>          the job succeeded
    GET|POST /push/<token>/fail     the job ran and failed
    GET|POST /push/<token>/start    the job started (optional; with `max_runtime`)

and this check goes down when the pings stop:

* `period` (+ `grace`): down when the last success is older than period + grace;
* `schedule` (crontab, monitor.timezone) + `grace`: down when a scheduled run's time plus
  grace has passed without a success since that time minus grace (a job may start a little
  early);
* down at once after a `fail` ping newer than the last success; with `max_runtime`, down
  when a `start` was not followed by a success or failure within it.

A check that has never been pinged counts from the moment this monitor process started
watching it, so deploying a new heartbeat does not alert before the job has had its chance.

Pings are recorded by the server (monitor/server.py via monitor/push.py) and reach the check
through `ctx.services["pings"]` (a ledger with `async last(check)`: the newest ping of each
kind); the check itself never touches the store. `token` must come from ${ENV} or
${file:PATH} (the loader refuses a token written in the file) and is masked like every secret.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from checks.base import Context
from monitor.core import cron
from monitor.core.cron import CronExpr
from monitor.core.durations import PositiveDuration, human_duration
from monitor.core.errors import CheckError
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec
from monitor.core.zones import ZoneName

SERVICE = "pings"


class LastPings(Protocol):
    success: datetime | None
    fail: datetime | None
    start: datetime | None


class PingLedger(Protocol):
    """What `ctx.services["pings"]` offers (monitor.store.pings.SqlPingLedger)."""

    async def last(self, check: str) -> LastPings: ...

    def watched_since(self, check: str, now: datetime) -> datetime:
        """When this process first asked about `check` (`now` the first time)."""
        ...


class Spec(CheckSpec):
    kind: Literal["heartbeat"]
    token: str = Field(min_length=16, max_length=200, description="the secret part of /push/<token>; from ${ENV} "
                       "or ${file:PATH}, 16 characters or more")
    period: PositiveDuration | None = Field(None, description="a success ping is expected at least this often")
    schedule: CronExpr | None = Field(None, description="crontab of the job's runs (instead of period)")
    grace: PositiveDuration = Field(timedelta(minutes=5), description="how late a ping may be")
    max_runtime: PositiveDuration | None = Field(None, description="down when a start ping is not followed by "
                                                 "a success or fail ping within this")
    zone: ZoneName = Field("Asia/Shanghai", description="IANA time zone of `schedule`")

    @model_validator(mode="after")
    def _period_or_schedule(self) -> Spec:
        if (self.period is None) == (self.schedule is None):
            raise ValueError("give exactly one of period or schedule")
        if any(c in self.token for c in "/?#% "):
            raise ValueError("token must not contain '/', '?', '#', '%' or spaces (it is a URL path segment)")
        return self


async def run(spec: Spec, ctx: Context) -> Result:
    now = ctx.clock.now()
    ledger: PingLedger | None = ctx.services.get(SERVICE)
    if ledger is None:
        raise CheckError("heartbeat checks need the monitor's ping ledger (ctx.services['pings'])")
    last = await ledger.last(spec.name)
    watched_since = ledger.watched_since(spec.name, now)
    values: dict[str, Any] = {}
    if last.success is not None:
        values["last_ping_age_s"] = round((now - last.success).total_seconds())

    def result(status: Status, message: str) -> Result:
        return Result(check=spec.name, status=status, started_at=now, message=message, values=values)

    if last.fail is not None and (last.success is None or last.fail > last.success):
        values["failed_at"] = last.fail.isoformat()
        return result(Status.DOWN, f"the job reported a failure {_ago(now, last.fail)}")
    if spec.max_runtime is not None and last.start is not None:
        finished = max((t for t in (last.success, last.fail) if t is not None), default=None)
        if (finished is None or last.start > finished) and now - last.start > spec.max_runtime:
            return result(Status.DOWN, f"the job started {_ago(now, last.start)} and has not finished "
                                       f"(max_runtime {human_duration(spec.max_runtime)})")
    reference = last.success or watched_since
    if spec.period is not None:
        deadline = reference + spec.period + spec.grace
        if now > deadline:
            return result(Status.DOWN, _missing(last.success, now, f"expected every {human_duration(spec.period)} "
                                                                   f"+ {human_duration(spec.grace)} grace"))
        return result(Status.UP, _seen(last.success, now))
    assert spec.schedule is not None
    due = _last_due(spec, now)
    if due is not None and due >= watched_since and (last.success is None or last.success < due - spec.grace):
        return result(Status.DOWN, _missing(last.success, now, f"the run due {_ago(now, due)} did not ping "
                                                               f"within {human_duration(spec.grace)}"))
    return result(Status.UP, _seen(last.success, now))


def _last_due(spec: Spec, now: datetime) -> datetime | None:
    """The newest scheduled run whose grace has passed (looking back an hour, a day, then a
    month, so a per-minute schedule costs a few dozen steps, not tens of thousands)."""
    assert spec.schedule is not None
    horizon = now - spec.grace
    for back in (timedelta(hours=1), timedelta(days=1), timedelta(days=32)):
        found = None
        for start in cron.starts_between(spec.schedule, ZoneInfo(spec.zone), horizon - back, horizon, limit=2000):
            found = start
        if found is not None:
            return found
    return None


def _ago(now: datetime, then: datetime) -> str:
    return f"{human_duration(max(now - then, timedelta(0)))} ago"


def _seen(success: datetime | None, now: datetime) -> str:
    return f"last ping {_ago(now, success)}" if success is not None else "waiting for the first ping"


def _missing(success: datetime | None, now: datetime, why: str) -> str:
    last = f"last ping {_ago(now, success)}" if success is not None else "never pinged"
    return f"no ping: {last}; {why}"
