"""`invoicewatch report`: per component over a period, from the rollups and the incidents.

    invoicewatch report [--since 30d | --month 2026-11] [--format table|csv|json|markdown]

Figures (one row per configured component):
    uptime %         (operational + degraded + maintenance + half of partial outage) / time
                     with data, floored to two decimals: the status page's formula
    downtime min     major outage minutes + half the partial outage minutes
    incidents        incidents of the component that overlapped the period
    detect           time to detect: detected - started (first failing result); median, max
    recover          time to recover: the last failing result - started (not the end of
                     the quiet period that resolves an incident); median, max
    latency p95      of the component's checks' results, from the merged latency sketches
                     (within 2 %)
    SLO, budget      with an `slos:` entry for the component: the share of good results
                     (not down; with `latency:`, also not slower, from the sketch: failures
                     are taken to be among the slow ones, so bad = max(failures, slow)) and
                     the part of the error budget (1 - objective) left

The period ends at the last rolled hour (the open hour is not rolled yet); the header says
until when. The output is plain so the CLI's shared formatting can adopt it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.app import AppState, cli, pass_app, table

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store.reports import IncidentSpan, Totals

FORMATS = ("table", "csv", "json", "markdown")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
COLUMNS = ["component", "uptime_pct", "downtime_min", "incidents", "detect_median_s", "detect_max_s",
           "recover_median_s", "recover_max_s", "latency_p95_ms", "slo_objective_pct", "slo_attained_pct",
           "error_budget_left_pct"]


@dataclass
class Row:
    component: str
    uptime_pct: float | None
    downtime_min: float
    incidents: int
    detect_median_s: float | None
    detect_max_s: float | None
    recover_median_s: float | None
    recover_max_s: float | None
    latency_p95_ms: float | None
    slo_objective_pct: float | None
    slo_attained_pct: float | None
    error_budget_left_pct: float | None


def period_of(since: str | None, month: str | None, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC: the last `since` up to now, or one local calendar month."""
    from monitor.core.durations import parse_duration

    if month is not None:
        m = _MONTH.match(month)
        if m is None or not 1 <= int(m.group(2)) <= 12:
            raise click.BadParameter(f"{month!r} is not a month like 2026-11", param_hint="--month")
        year, mon = int(m.group(1)), int(m.group(2))
        start = datetime(year, mon, 1, tzinfo=tz)
        end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
        return start.astimezone(now.tzinfo), min(end.astimezone(now.tzinfo), now)
    try:
        span = parse_duration(since or "30d")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    return now - span, now


def uptime_of(t: Totals) -> tuple[float | None, float]:
    """(uptime % floored to 2 decimals or None without data, downtime minutes)."""
    from monitor.statuspage.uptime import WEIGHT_HALVES, floor_percent

    known = sum(t.seconds.values())
    up_halves = sum(WEIGHT_HALVES[s] * v for s, v in t.seconds.items())
    pct = floor_percent(round(up_halves * 1000), round(2 * known * 1000))
    down = (t.seconds.get("major_outage", 0.0) + t.seconds.get("partial_outage", 0.0) / 2) / 60
    return (float(pct) if pct is not None else None), round(down, 1)


def _median_max(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return round(statistics.median(values), 1), round(max(values), 1)


def slo_of(config: Config, component: str, t: Totals) -> tuple[float | None, float | None, float | None]:
    """(objective %, attained %, error budget left %) for the component's first SLO."""
    from monitor.core import sketch

    slo = next((s for s in config.slos if s.component == component), None)
    if slo is None or t.count == 0:
        return (round(slo.objective * 100, 3) if slo else None), None, None
    bad = t.failures
    if slo.latency is not None:
        limit = slo.latency.total_seconds() * 1000
        slow = sum(n for k, n in t.sketch.items() if sketch.value_of(k) > limit)
        bad = max(bad, slow)
    attained = 1 - bad / t.count
    allowed = (1 - slo.objective) * t.count
    left = 1 - bad / allowed if allowed > 0 else 0.0
    return round(slo.objective * 100, 3), math.floor(attained * 10000) / 100, round(left * 100, 1)


def build(config: Config, totals: dict[str, Totals], spans: list[IncidentSpan],
          last_fail: dict[int, tuple[datetime, bool]]) -> list[Row]:
    from monitor.core import sketch
    from monitor.store.reports import Totals as Empty

    rows = []
    for comp in config.components:
        t = totals.get(comp.id) or Empty()
        uptime, down = uptime_of(t)
        mine = [i for i in spans if comp.id in i.components]
        detect = [(i.detected_at - i.started_at).total_seconds() for i in mine]
        recover = [(last_fail[i.id][0] - i.started_at).total_seconds() for i in mine if i.id in last_fail]
        p95 = sketch.quantile(t.sketch, 0.95)
        objective, attained, left = slo_of(config, comp.id, t)
        rows.append(Row(comp.id, uptime, down, len(mine), *_median_max(detect), *_median_max(recover),
                        round(p95, 1) if p95 is not None else None, objective, attained, left))
    return rows


def render(rows: list[Row], fmt: str, header: dict[str, Any]) -> str:
    plain = [asdict(r) for r in rows]
    if fmt == "json":
        return json.dumps({**header, "components": plain}, ensure_ascii=False, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(plain)
        return out.getvalue().rstrip("\n")
    title = f"{header['from']} .. {header['until']} ({header['timezone']})"
    if fmt == "markdown":
        lines = [f"**Report {title}**", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_cell(r[c]) for c in COLUMNS) + " |" for r in plain]
        return "\n".join(lines)
    return f"report {title}\n" + table([{c: _cell(r[c]) for c in COLUMNS} for r in plain], COLUMNS)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@cli.command()
@click.option("--since", metavar="DURATION", help="the period up to now (default 30d)")
@click.option("--month", metavar="YYYY-MM", help="one calendar month (monitor.timezone)")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@pass_app
def report(app: AppState, since: str | None, month: str | None, fmt: str) -> None:
    """Uptime, downtime, incidents, time to detect and recover, latency p95 and SLO budget per
    component over a period, from the hourly and daily rollups."""
    from monitor.core.clock import SystemClock
    from monitor.store import Store
    from monitor.store.reports import component_totals, incidents_between, last_failures

    if since and month:
        raise click.UsageError("give --since or --month, not both")
    config = app.config
    tz = config.monitor.tz
    start, end = period_of(since, month, SystemClock().now(), tz)
    store = Store(config.monitor.database)
    try:
        store.migrate()
        with store.engine.connect() as conn:
            totals, until = component_totals(conn, start, end, tz)
            spans = incidents_between(conn, start, end)
            fails = last_failures(conn, spans)
    finally:
        store.close()
    until = until or start
    header = {"from": _local(start, tz), "until": _local(max(until, start), tz), "timezone": config.monitor.timezone}
    click.echo(render(build(config, totals, spans, fails), fmt, header))


def _local(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


__all__ = ["Row", "build", "period_of", "render", "report"]
