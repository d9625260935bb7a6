"""`invoicewatch status`: every check as the monitor sees it, read from the store.

One row per check (and location reporting it): the confirmed status and since when, the
latest result (latency, age, the full message), when it runs next (from its interval or
cron; before its first result, within how long of the monitor's start), and why a failure
is not alerted on its own: a symptom folded into another incident (inhibited), a silence,
maintenance. Disabled checks are named as such; at a location no node reports from any
more, a check is unknown (its last word is not the platform's state). Then the nodes sharing
the database: role, location, last report, leader / standby / reporting / silent / stopped.
Exit 1 when any enabled check is down.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click
from rich.console import Group as Stack
from rich.console import RenderableType
from rich.text import Text

from monitor.cli.app import AppState, CliError, cli, pass_app
from monitor.cli.output import (
    Col,
    Trimmed,
    ago,
    build_table,
    clock_time,
    console,
    emit_json,
    show,
    span,
    status_text,
    summary,
    until,
)

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.spec import CheckSpec
    from monitor.rulebook.nodes import Quiet
    from monitor.store.readout import Overview, StateRecord

ORDER = ("up", "degraded", "down", "unknown", "maintenance", "pending", "disabled")
COLUMNS = [
    Col("check"),
    Col("component", drop=3),
    Col("kind", drop=5),
    Col("location", drop=4),
    Col("status"),
    Col("since"),
    Col("latency_ms", justify="right", drop=2),
    Col("last_result_at", header="LAST", drop=1),
    Col("next_run_at", header="NEXT"),
    Col("message", wrap=True),
]
NODE_COLUMNS = [
    Col("node"),
    Col("role"),
    Col("location"),
    Col("last_report_at", header="LAST REPORT"),
    Col("results", justify="right", drop=1),
    Col("state", wrap=True),
]


@dataclass(frozen=True)
class Holds:
    """Why a check's failures are not alerted on their own, by check name."""

    symptom_of: dict[str, tuple[int, str, str]]  # check -> (incident id, component, root check)
    member_of: dict[str, int]  # check -> its own open incident
    silenced: dict[str, tuple[datetime, str, str]]  # check -> (until, by, reason)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/status.json) instead of a table")
@click.option("--watch", is_flag=True, help="refresh in place every --every until Ctrl-C")
@click.option("--every", default=2.0, show_default=True, metavar="SECONDS", help="refresh interval of --watch")
@pass_app
def status(app: AppState, as_json: bool, watch: bool, every: float) -> None:
    """Every check's status, since when, latest result, next run and the full reason.

    Read from the database (works beside a running monitor, and without the secrets of
    checks and channels). Exit 0 when no enabled check is down, 1 when any is."""
    config = app.read_config
    if watch and not as_json:
        _watch(app, config, max(every, 0.2))
        return
    doc = read(app, config)
    if as_json:
        emit_json(doc)
    else:
        out = console()
        show(out, render(doc, config, out.width))
    sys.exit(1 if doc["summary"].get("down_enabled") else 0)


def read(app: AppState, config: Config) -> dict[str, Any]:
    """The status document (what --json prints; the table shows the same keys)."""
    from monitor.core.clock import SystemClock  # lazy: CLI start time
    from monitor.store.readout import overview

    now = SystemClock().now()
    with app.reading() as conn:
        ov = overview(conn, now)
    if ov.empty:
        raise CliError(f"the database of {config.file} has no invoicewatch tables yet (the monitor has never run on it)",
                       f"they are made when the monitor first runs: invoicewatch -c {config.file} run")
    return document(config, ov, now)


def document(config: Config, ov: Overview, now: datetime) -> dict[str, Any]:
    from monitor.rulebook import nodes as node_rules  # lazy: CLI start time
    from monitor.store.readout import states_by_check

    holds = _holds(config, ov)
    states = states_by_check(ov.states)
    unheard = node_rules.unheard(ov.nodes, now, config.monitor.node_silent_after)
    rows = [row for spec in config.checks
            for row in _rows(spec, states.get(spec.name, []), holds, config, now, unheard)]
    counts = Counter(r["status"] for r in rows)
    down_enabled = sum(1 for r in rows if r["status"] == "down")
    newest = max((r["last_result_at"] for r in rows if r["last_result_at"]), default=None)
    # A running monitor has written a result within its most frequent check's interval.
    gaps = [_grace(s) + s.interval for s in config.checks if s.enabled and not s.cron]
    running = None if newest is None or not gaps else now - newest <= min(gaps)
    return {
        "generated_at": now,
        "config": config.file,
        "location": config.monitor.location,
        "monitor_running": running,
        "newest_result_at": newest,
        "summary": {
            **{word: counts.get(word, 0) for word in ORDER},
            "inhibited": sum(1 for r in rows if r["inhibited_by"] is not None),
            "down_enabled": down_enabled,
        },
        "checks": rows,
        "nodes": _nodes(config, ov, now),
    }


def _nodes(config: Config, ov: Overview, now: datetime) -> list[dict[str, Any]]:
    """One row per node: what it is, when it last reported, and what it is doing."""
    from monitor.rulebook import nodes as node_rules  # lazy: CLI start time

    zone, lease = config.monitor.tz, ov.lease
    holder = lease.holder.split(" ")[0] if lease is not None and lease.term else None
    out = []
    for n in ov.nodes:
        quiet = node_rules.quiet(n, now, config.monitor.node_silent_after)
        if quiet is not None:
            state = node_rules.since(quiet, zone)
        elif lease is not None and n.role in ("controller", "all") and n.name == holder:
            state = f"leader (term {lease.term})"
        elif lease is not None and n.role in ("controller", "all"):
            state = "standby"
        else:
            state = "reporting"
        out.append({"node": n.name, "role": n.role, "location": n.location, "last_report_at": node_rules.last_heard(n),
                    "results": n.results, "state": state, "host": f"{n.host}:{n.pid}" if n.host else ""})
    return out


def _holds(config: Config, ov: Overview) -> Holds:
    symptom_of: dict[str, tuple[int, str, str]] = {}
    member_of: dict[str, int] = {}
    for inc in ov.incidents:
        data = inc.data or {}
        for name in data.get("checks") or ():
            member_of.setdefault(name, int(inc.id or 0))
        for name in data.get("symptoms") or ():
            symptom_of.setdefault(name, (int(inc.id or 0), inc.component, inc.root_check or ""))
    silenced: dict[str, tuple[datetime, str, str]] = {}
    by_component: dict[str, list[str]] = {}
    for spec in config.checks:
        by_component.setdefault(spec.component or "", []).append(spec.name)
    for sil in ov.silences:
        targets = [sil.target] if sil.target_kind == "check" else by_component.get(sil.target, [])
        for name in targets:
            silenced.setdefault(name, (sil.ends_at, sil.created_by, sil.reason))
    return Holds(symptom_of, member_of, silenced)


def _rows(
    spec: CheckSpec, found: list[StateRecord], holds: Holds, config: Config, now: datetime, unheard: dict[str, Quiet]
) -> list[dict[str, Any]]:
    here = config.monitor.location
    if not found:
        return [_row(spec, None, here if _runs_here(spec, here) else "", holds, config, now)]
    return [_unheard(_row(spec, st, st.location, holds, config, now), unheard.get(st.location), config) for st in found]


def _unheard(row: dict[str, Any], quiet: Quiet | None, config: Config) -> dict[str, Any]:
    """No node reports from this location any more: its last word is not the platform's state."""
    from monitor.rulebook import nodes as node_rules  # lazy: CLI start time

    if quiet is None or row["status"] in ("disabled", "pending"):
        return row
    note = f"{node_rules.describe(quiet, config.monitor.tz)}: this location does not count meanwhile"
    return {**row, "status": "unknown", "note": "; ".join(n for n in (note, row["note"]) if n)}


def _runs_here(spec: CheckSpec, location: str) -> bool:
    return not spec.locations or location in spec.locations


def _row(spec: CheckSpec, st: StateRecord | None, location: str, holds: Holds, config: Config, now: datetime) -> dict[str, Any]:
    notes: list[str] = []
    next_at, first_within, overdue = _next_run(spec, st, config, now)
    if not spec.enabled:
        status, since = "disabled", None
        notes.append("disabled in the config (enabled: false)")
    elif st is None or (st.last_result_at is None and st.status != "maintenance"):
        status, since = "pending", None  # no result yet (the deciding service may have a row)
        if not _runs_here(spec, config.monitor.location):
            notes.append(f"runs only at {', '.join(spec.locations)} (this node is {config.monitor.location})")
        elif first_within is not None:
            notes.append(f"no result yet: first run within {span(timedelta(seconds=first_within))} of the monitor's start "
                         "(staggered start)")
        else:
            notes.append("no result yet")
    else:
        status, since = st.status, st.since
        notes.extend(_progress(spec, st))
    symptom = holds.symptom_of.get(spec.name) if spec.enabled else None
    inhibited = symptom if status in ("down", "degraded") else None
    if inhibited is not None:
        iid, component, root = inhibited
        notes.append(f"inhibited: a symptom of incident #{iid} ({component}{', ' + root if root else ''})")
    silence = holds.silenced.get(spec.name) if spec.enabled else None
    if silence is not None:
        notes.append(f"silenced until {clock_time(silence[0], config.monitor.tz, now)} by {silence[1]}: {silence[2]}")
    return {
        "check": spec.name,
        "kind": spec.kind,
        "component": spec.component,
        "location": location,
        "enabled": spec.enabled,
        "status": status,
        "since": since,
        "latency_ms": st.last_latency_ms if st is not None else None,
        "last_status": st.last_status if st is not None else None,
        "last_result_at": st.last_result_at if st is not None else None,
        "next_run_at": next_at,
        "first_run_within_s": first_within,
        "overdue": overdue,
        "incident": (holds.member_of.get(spec.name) or (symptom[0] if symptom else None)) if spec.enabled else None,
        "inhibited_by": inhibited[0] if inhibited is not None else None,
        "silenced_until": silence[0] if silence is not None else None,
        "note": "; ".join(notes),
        "message": (st.last_message if st is not None else "") if spec.enabled else "",
    }


def _progress(spec: CheckSpec, st: StateRecord) -> list[str]:
    """A change under way that is not confirmed yet (so the status still reads the old one)."""
    runs = ((st.data or {}).get("locations") or {}).get(st.location, {}).get("runs") or [0, 0, 0, 0]
    last, shown = st.last_status, st.status
    if last == "down" and shown != "down":
        return [f"failing: {runs[0]} of {spec.failure_threshold} results down before it counts as down"]
    if last == "up" and shown in ("down", "degraded"):
        return [f"recovering: {runs[3]} of {spec.success_threshold} good results before it counts as up"]
    return []


def _next_run(spec: CheckSpec, st: StateRecord | None, config: Config, now: datetime) -> tuple[datetime | None, float | None, bool]:
    """(next run time, first run within N seconds of start, overdue) from the schedule."""
    from monitor.core import cron  # lazy: CLI start time (APScheduler's cron trigger)
    from monitor.scheduler import stagger

    if not spec.enabled or (st is None and not _runs_here(spec, config.monitor.location)):
        return None, None, False
    last = st.last_result_at if st is not None else None
    if spec.cron:
        nxt = next(iter(cron.starts_between(spec.cron, config.monitor.tz, now, now + timedelta(days=366), limit=1)), None)
        return nxt, None, False
    if last is None:
        return None, stagger(spec.name, spec.interval).total_seconds(), False
    nxt = last + spec.interval
    return nxt, None, now > nxt + _grace(spec)


def _grace(spec: CheckSpec) -> timedelta:
    """How late a run may be before it counts as overdue: its timeout and half an interval."""
    return spec.timeout + max(timedelta(seconds=10), spec.interval / 2)


# -- the table ---------------------------------------------------------------------------------


def render(doc: dict[str, Any], config: Config, width: int) -> RenderableType:
    now: datetime = doc["generated_at"]
    zone = config.monitor.tz
    rows = [_cells(r, zone, now) for r in doc["checks"]]
    locations = {r["location"] for r in doc["checks"] if r["location"]}
    columns = [c for c in COLUMNS if c.key != "location" or len(locations) > 1]
    parts: list[RenderableType] = [build_table(columns, rows, width), _summary_line(doc, zone, now)]
    if doc["nodes"]:
        cells = [{**n, "last_report_at": ago(now, n["last_report_at"]), "results": str(n["results"]),
                  "state": Text(n["state"], style="yellow" if n["state"].startswith(("silent", "stopped")) else "")}
                 for n in doc["nodes"]]
        parts += [Text(""), build_table(NODE_COLUMNS, cells, width)]
    if doc["monitor_running"] is False:
        newest = doc["newest_result_at"]
        parts.append(Text(f"no check has run since {clock_time(newest, zone, now)} ({ago(now, newest)}): the monitor does "
                          f"not seem to be running; start it with: invoicewatch -c {config.file} run", style="yellow"))
    return Stack(*parts)


def _cells(r: dict[str, Any], zone: Any, now: datetime) -> dict[str, Any]:
    message = Text()
    if r["note"]:
        message.append(r["note"], style="magenta" if r["inhibited_by"] or r["silenced_until"] else "dim")
        if r["message"]:
            message.append(": ")
    message.append(r["message"])
    nxt: str | Text
    if r["first_run_within_s"] is not None:
        nxt = f"within {span(timedelta(seconds=r['first_run_within_s']))}" if r["first_run_within_s"] is not None else ""
    else:
        nxt = until(now, r["next_run_at"]) if not r["overdue"] else Text(f"{span(now - r['next_run_at'])} overdue", style="yellow")
    return {
        "check": r["check"],
        "component": r["component"] or "",
        "kind": r["kind"],
        "location": r["location"],
        "status": status_text(r["status"]),
        "since": clock_time(r["since"], zone, now),
        "latency_ms": _latency(r["latency_ms"]),
        "last_result_at": ago(now, r["last_result_at"]),
        "next_run_at": nxt,
        "message": message,
    }


def _latency(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def _summary_line(doc: dict[str, Any], zone: Any, now: datetime) -> Text:
    counts = doc["summary"]
    line = summary(counts, ORDER, notes={"down": f" ({counts['inhibited']} inhibited)"} if counts["inhibited"] else {})
    line.append(f"  · as of {clock_time(now, zone, now)}", style="dim")
    return line


def _watch(app: AppState, config: Config, every: float) -> None:
    """Refresh the table in place (on a terminal; elsewhere each refresh is printed below the
    last) until Ctrl-C."""
    from rich.live import Live

    out = console()
    try:
        if not out.is_terminal:
            while True:
                show(out, render(read(app, config), config, out.width))
                out.print()
                time.sleep(every)
        with Live(console=out, auto_refresh=False, transient=False) as live:
            while True:
                live.update(Trimmed(render(read(app, config), config, out.width)), refresh=True)
                time.sleep(every)
    except KeyboardInterrupt:
        pass
