"""Crontab expressions as admins mean them: check `cron:` schedules and recurring maintenance.

APScheduler 3's `CronTrigger.from_crontab` reads the day-of-week field with 0 = Monday
(its documented historical mistake, fixed only in 4.x); crontab(5) and every admin mean
0 = Sunday. `trigger()` rewrites that field into day names before handing it over, so
`0 2 * * 0` is Sunday 02:00 as written. Occurrence arithmetic (which window is active now,
which start within a horizon) is pure and lives here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def trigger(expr: str, zone: tzinfo) -> Any:
    """An APScheduler CronTrigger for a 5-field crontab expression (0 or 7 = Sunday)."""
    return _trigger(expr, zone)


@lru_cache(maxsize=256)
def _trigger(expr: str, zone: tzinfo) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekday), timezone=zone
    )


def validate(expr: str) -> str:
    """Raise ValueError with a readable reason if `expr` is not a usable crontab expression."""
    from datetime import UTC

    _trigger(expr, UTC)
    return expr


def _checked(expr: str) -> str:
    try:
        return validate(expr)
    except ValueError as exc:
        raise ValueError(f"not a crontab expression: {exc}") from None


# A crontab expression in config (check `cron:`, recurring maintenance), checked at load.
CronExpr = Annotated[str, AfterValidator(_checked)]


def _weekdays(field: str) -> str:
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in weekday field {field!r}")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            lo, hi = _day(a), _day(b)
        else:
            lo = _day(base)
            hi = 7 if step_text else lo
        if hi < lo:
            raise ValueError(f"weekday range {base!r} runs backwards")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def _day(token: str) -> int:
    t = token.strip().lower()
    if t.isdigit():
        n = int(t)
        if not 0 <= n <= 7:
            raise ValueError(f"weekday {token!r} is not 0-7")
        return n
    if t[:3] in _DAYS:
        return _DAYS.index(t[:3])
    raise ValueError(f"weekday {token!r} is not a number 0-7 or a day name")


def active_start(expr: str, zone: tzinfo, duration: timedelta, now: datetime) -> datetime | None:
    """Start of the occurrence covering `now` ([start, start + duration)), if any."""
    first = trigger(expr, zone).get_next_fire_time(None, now - duration + timedelta(microseconds=1))
    if first is not None and first <= now:
        return _utc(first)
    return None


def starts_between(expr: str, zone: tzinfo, after: datetime, until: datetime, *, limit: int = 500) -> Iterator[datetime]:
    """Occurrence starts in (after, until], oldest first, at most `limit` of them."""
    trig = trigger(expr, zone)
    when = after
    for _ in range(limit):
        nxt = trig.get_next_fire_time(None, when + timedelta(microseconds=1))
        if nxt is None or nxt > until:
            return
        yield _utc(nxt)
        when = nxt


def _utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.astimezone(UTC)
