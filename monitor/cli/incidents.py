"""CLI of deciding: incidents, incident update, ack, maintenance, silence.

Every manual action records who (the OS user) and when, in the incident timeline or the
window/silence row, and its notice is queued in the same transaction. Times are shown and
read in the monitor's time zone.
"""

from __future__ import annotations

import dataclasses
import getpass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from monitor.cli.app import AppState, CliError, cli, pass_app
from monitor.cli.output import Col, clock_time, console, emit_json, print_table, span, status_text, until
from monitor.core.clock import SystemClock
from monitor.core.durations import human_duration, parse_duration

STATUS_CHOICES = ("investigating", "identified", "monitoring", "resolved")


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): still record something honest
        return "unknown"


def _local(app: AppState, when: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return when.astimezone(app.read_config.monitor.tz).strftime(fmt) if when else ""


def _fail(message: str, *hints: str) -> None:
    raise CliError(message, *hints)


def _duration(value: str, option: str) -> timedelta:
    try:
        d = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    if d <= timedelta(0):
        raise click.BadParameter("must be longer than zero", param_hint=option)
    return d


# incidents ---------------------------------------------------------------------------------
INCIDENT_COLUMNS = [
    Col("id", justify="right"),
    Col("component"),
    Col("status"),
    Col("impact", drop=3),
    Col("started_at", header="STARTED", drop=2),
    Col("lasting_s", header="LASTING"),
    Col("closes_at", header="CLOSES"),
    Col("acked_by", header="ACKED BY", drop=1),
    Col("symptoms", drop=4, justify="right"),
    Col("title", wrap=True),
]


@cli.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="include resolved incidents")
@click.option("--limit", default=50, show_default=True, help="at most this many (newest first)")
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/incidents.json)")
@pass_app
@click.pass_context
def incidents(ctx: click.Context, app: AppState, show_all: bool, limit: int, as_json: bool) -> None:
    """Open incidents (all with --all): how long, when each closes, who acked, symptoms.

    `incidents show ID` prints one with its evidence and timeline. An incident whose checks
    are all up again closes after incidents.resolve_after without a new failure."""
    if ctx.invoked_subcommand is not None:
        return
    from monitor.store import readout  # lazy: CLI start time (SQLAlchemy)

    config = app.read_config
    now = SystemClock().now()
    with app.reading() as conn:
        rows = readout.incidents(conn, readout.tables(conn), limit=limit, include_resolved=show_all)
    docs = [_incident_json(r, config.incidents.resolve_after, now) for r in rows]
    if as_json:
        emit_json({"generated_at": now, "incidents": docs})
        return
    if not docs:
        click.echo("no open incidents" if not show_all else "no incidents")
        return
    zone = config.monitor.tz
    cells = [
        {
            "id": d["id"], "component": d["component"] + (f" ({', '.join(d['affected'])})" if d["affected"] else ""),
            "status": status_text(d["status"]),
            "impact": status_text(d["impact"]), "started_at": clock_time(d["started_at"], zone, now),
            "lasting_s": span(timedelta(seconds=d["lasting_s"])), "closes_at": _closes(d, now),
            "acked_by": d["acked_by"] or "", "symptoms": str(len(d["symptoms"])) if d["symptoms"] else "",
            "title": d["title"],
        }
        for d in docs
    ]
    print_table(console(), INCIDENT_COLUMNS, cells)


def _closes(doc: dict[str, Any], now: datetime) -> str:
    """When it closes: resolved, or the end of the quiet period, or that it waits for recovery."""
    if doc["resolved_at"] is not None:
        return "resolved"
    if doc["closes_at"] is not None:
        return until(now, doc["closes_at"])
    return f"{span(timedelta(seconds=doc['quiet_period_s']))} after recovery"


def _cause_lines(app: AppState, cause: Any) -> list[str]:
    """The probable cause in this command's language (English), with what to check first."""
    # imported here for CLI start time (Jinja environment, Apprise), like the other commands
    from notifiers.outbox import environment_for
    from notifiers.render import cause_words

    words = cause_words(environment_for(app.config), "en", cause)
    if words is None:
        return []
    out = [f"  {'probable cause:':<18}{words['label']} ({words['confidence']})"]
    out += [f"  {'':<18}- {line}" for line in words["evidence"]]
    out.append(f"  {'check first:':<18}{words['first']}")
    return out


@incidents.command("show")
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/incident.json)")
@pass_app
def incidents_show(app: AppState, incident_id: int, as_json: bool) -> None:
    """One incident: evidence, time to detect/resolve, when it closes, and the whole timeline."""
    from monitor.store import incidents as rows_of  # lazy: CLI start time (SQLAlchemy)

    config = app.read_config
    store = app.reader()
    now = SystemClock().now()
    with store.session() as s:
        row = rows_of.get(s, incident_id)
        if row is None:
            _fail(f"no incident {incident_id}", "invoicewatch incidents --all lists them")
        assert row is not None
        entries = rows_of.timeline(s, incident_id)
    doc = _incident_json(row, config.incidents.resolve_after, now)
    if as_json:
        doc["timeline"] = [
            {"at": e.at, "kind": e.kind, "status": e.status, "author": e.author, "message": e.message, "data": e.data}
            for e in entries
        ]
        emit_json(doc)
        return
    data = row.data or {}
    lines = [
        f"#{row.id} {row.title}",
        f"  component: {row.component}   status: {row.status}   impact: {row.impact}   public: {'yes' if row.public else 'no'}",
        f"  started:   {_local(app, row.started_at)}   (first failing result)",
        f"  detected:  {_local(app, row.detected_at)}   time to detect {human_duration(row.detected_at - row.started_at)}",
    ]
    if row.resolved_at:
        lines.append(f"  resolved:  {_local(app, row.resolved_at)}   time to resolve {human_duration(row.resolved_at - row.started_at)}")
    else:
        lines.append(f"  closes:    {_closes(doc, now)}"
                     + (f" (all checks up since {_local(app, doc['recovered_at'])})" if doc["recovered_at"] else ""))
    lines.append(f"  acked:     {_local(app, row.acked_at)} by {row.acked_by}" if row.acked_at else "  acked:     not yet")
    if data.get("affected"):
        lines.append(f"  affects:   {', '.join(data['affected'])} (one fault of platform {data.get('platform')}: "
                     f"{data.get('cause')})")
    if data.get("checks"):
        lines.append(f"  checks:    {', '.join(data['checks'])}")
    if data.get("symptoms"):
        lines.append(f"  symptoms:  {len(data['symptoms'])}: {', '.join(data['symptoms'])}")
    ev = data.get("evidence") or {}
    for key in ("step", "envelope_code", "envelope_message", "http_status", "latency_ms", "message"):
        if ev.get(key) not in (None, ""):
            lines.append(f"  {key + ':':<18}{ev[key]}")
    lines += _cause_lines(app, ev.get("cause"))
    lines.append("  timeline:")
    for e in entries:
        lines.append(f"    {_local(app, e.at)}  {e.kind:<6} {e.author or '-':<10} [{e.status}] {e.message}")
    out = console()
    for line in lines:
        out.print(line, overflow="fold")


def _incident_json(r: Any, quiet: timedelta, now: datetime) -> dict[str, Any]:
    """An incident as --json prints it (and the table shows): typed, every key always there."""
    data = dict(r.data or {})
    recovered = datetime.fromisoformat(data["recovered_at"]) if data.get("recovered_at") else None
    closes = recovered + quiet if recovered is not None and r.resolved_at is None else None
    return {
        "id": r.id, "component": r.component, "title": r.title, "status": r.status, "impact": r.impact,
        "started_at": r.started_at, "detected_at": r.detected_at, "recovered_at": recovered, "closes_at": closes,
        "quiet_period_s": quiet.total_seconds(), "resolved_at": r.resolved_at,
        "lasting_s": round(((r.resolved_at or now) - r.started_at).total_seconds(), 3),
        "acked_at": r.acked_at, "acked_by": r.acked_by, "root_check": r.root_check, "public": r.public,
        "checks": list(data.get("checks") or []), "symptoms": list(data.get("symptoms") or []),
        "affected": list(data.get("affected") or []),
        "time_to_detect_s": r.time_to_detect_s, "time_to_resolve_s": r.time_to_resolve_s,
        "evidence": data.get("evidence"),
    }


@cli.group()
def incident() -> None:
    """Change one incident by hand."""


@incident.command("update")
@click.argument("incident_id", type=int)
@click.option("--status", type=click.Choice(STATUS_CHOICES), help="new status")
@click.option("--message", "-m", default="", help="what to tell people (recorded with your user name)")
@pass_app
def incident_update(app: AppState, incident_id: int, status: str | None, message: str) -> None:
    """Post an update to incident ID, optionally changing its status."""
    from monitor.core.errors import ManualError
    from monitor.incidents.manual import update

    store = app.writer()
    with store.session() as s:
        try:
            entry = update(
                s, incident_id, status=status, message=message, who=_who(), now=SystemClock().now(), config=app.config
            )
        except ManualError as exc:
            _fail(str(exc))
        s.commit()
    click.echo(f"incident {incident_id}: {entry.status} (update {entry.id} by {entry.author})")


@cli.command()
@click.argument("incident_id", type=int)
@pass_app
def ack(app: AppState, incident_id: int) -> None:
    """Acknowledge incident ID: you are on it (stops reminders and escalation)."""
    from monitor.core.errors import ManualError
    from monitor.incidents.manual import ack as do_ack

    store = app.writer()
    with store.session() as s:
        try:
            row, new = do_ack(s, incident_id, who=_who(), now=SystemClock().now(), config=app.config)
        except ManualError as exc:
            _fail(str(exc))
        s.commit()
    if new:
        click.echo(f"incident {incident_id} acknowledged by {row.acked_by}")
    else:
        click.echo(f"incident {incident_id} was already acknowledged by {row.acked_by} at {_local(app, row.acked_at)}")


# maintenance ---------------------------------------------------------------------------------
@cli.group("maintenance")
def maintenance_group() -> None:
    """Planned maintenance: alerts held, components shown under maintenance, uptime kept."""


def _parse_when(value: str, zone: ZoneInfo, option: str) -> datetime:
    if value == "now":
        return SystemClock().now()
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time; write 2026-03-10 22:00 or now", param_hint=option) from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


@maintenance_group.command("add")
@click.option("--title", required=True, help="what is being done (shown to staff)")
@click.option("--component", "components", multiple=True, help="component id (repeat); none = everything")
@click.option("--start", default="now", show_default=True, help="start time (monitor time zone) or now")
@click.option("--end", help="end time (one-off)")
@click.option("--for", "length", help="length of a one-off window, e.g. 2h")
@click.option("--cron", "recurrence", help="recurring: 5-field crontab of each start (0 = Sunday)")
@click.option("--duration", help="recurring: length of each occurrence, e.g. 2h")
@click.option("--timezone", help="IANA zone for the times and cron (default: monitor.timezone)")
@pass_app
def maintenance_add(
    app: AppState, title: str, components: tuple[str, ...], start: str, end: str | None, length: str | None,
    recurrence: str | None, duration: str | None, timezone: str | None,
) -> None:
    """Add a maintenance window (one-off: --end or --for; recurring: --cron and --duration)."""
    from monitor.incidents.maintenance import add_window

    config = app.config
    known = {c.id for c in config.components}
    for c in components:
        if c not in known:
            _fail(f"{config.file}: unknown component {c!r} (known: {', '.join(sorted(known)) or 'none'})")
    zone_name = timezone or config.monitor.timezone
    try:
        zone = ZoneInfo(zone_name)
    except Exception:
        raise click.BadParameter(f"unknown time zone {zone_name!r}", param_hint="--timezone") from None
    starts_at = _parse_when(start, zone, "--start")
    ends_at: datetime | None = None
    every: timedelta | None = None
    if recurrence:
        if not duration:
            raise click.UsageError("--cron needs --duration")
        every = _duration(duration, "--duration")
        if end:
            ends_at = _parse_when(end, zone, "--end")
    else:
        if bool(end) == bool(length):
            raise click.UsageError("give exactly one of --end or --for (or --cron with --duration)")
        ends_at = _parse_when(end, zone, "--end") if end else starts_at + _duration(str(length), "--for")
    now = SystemClock().now()
    store = app.writer()
    with store.session() as s:
        try:
            row = add_window(
                s, title=title, components=components, starts_at=starts_at, ends_at=ends_at, now=now,
                created_by=_who(), recurrence=recurrence, duration=every, timezone=zone_name,
            )
        except ValueError as exc:
            _fail(f"cannot add the window: {exc}")
        _queue_scheduled(s, row, now, app)
        s.commit()
    click.echo(f"maintenance window {row.id} added by {row.created_by}")


def _queue_scheduled(session: Any, row: Any, now: datetime, app: AppState) -> None:
    from monitor.core.events import MAINTENANCE_SCHEDULED
    from monitor.incidents.maintenance import components_text
    from monitor.rulebook import notices
    from monitor.rulebook.maintenance import upcoming
    from notifiers.outbox import enqueue_all

    nxt = upcoming(row, now, timedelta(days=7))
    if nxt:
        occ = nxt[0]
        text = components_text(occ.components, app.config)
        enqueue_all(session, [notices.maintenance(MAINTENANCE_SCHEDULED, occ, now, text)], app.config)


@maintenance_group.command("list")
@click.option("--horizon", default="7d", show_default=True, help="how far ahead to list planned occurrences")
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/maintenance.json)")
@pass_app
def maintenance_list(app: AppState, horizon: str, as_json: bool) -> None:
    """Windows in force now and occurrences planned within the horizon."""
    from monitor.incidents.maintenance import active_maintenance, planned_maintenance  # lazy: CLI start time

    now = SystemClock().now()
    store = app.reader()
    with store.session() as s:
        rows = [("now", o) for o in active_maintenance(s, now)]
        rows += [("planned", o) for o in planned_maintenance(s, now, _duration(horizon, "--horizon"))]
    if as_json:
        emit_json({"generated_at": now, "windows": [{"when": w, **dataclasses.asdict(o)} for w, o in rows]})
        return
    if not rows:
        click.echo("no maintenance now or planned")
        return
    zone = app.read_config.monitor.tz
    out = [
        {
            "window_id": o.window_id, "when": w, "starts_at": clock_time(o.starts_at, zone, now),
            "ends_at": clock_time(o.ends_at, zone, now), "components": ",".join(o.components) or "*",
            "recurring": "recurring" if o.recurring else "one-off", "source": o.source, "title": o.title,
        }
        for w, o in rows
    ]
    columns = [Col("window_id", header="ID", justify="right"), Col("when"), Col("starts_at"), Col("ends_at"),
               Col("components", drop=1), Col("recurring", header="KIND", drop=2), Col("source", drop=3),
               Col("title", wrap=True)]
    print_table(console(), columns, out)


@maintenance_group.command("end")
@click.argument("window_id", type=int)
@pass_app
def maintenance_end(app: AppState, window_id: int) -> None:
    """End window ID now (a recurring window stops for good)."""
    from monitor.store.maintenance import end_window

    store = app.writer()
    with store.session() as s:
        row = end_window(s, window_id, SystemClock().now())
        if row is None:
            _fail(f"no maintenance window {window_id}")
        s.commit()
    click.echo(f"maintenance window {window_id} ended by {_who()}")


# silences ------------------------------------------------------------------------------------
@cli.command()
@click.argument("target")
@click.option("--for", "length", required=True, help="how long, e.g. 2h")
@click.option("--reason", required=True, help="why (recorded with your user name)")
@pass_app
def silence(app: AppState, target: str, length: str, reason: str) -> None:
    """Hold alerts for check or component TARGET (the status page is not changed)."""
    from monitor.incidents.silences import add_silence

    config = app.config
    checks = {c.name for c in config.checks}
    comps = {c.id for c in config.components}
    if target in checks:
        kind = "check"
    elif target in comps:
        kind = "component"
    else:
        import difflib

        hint = difflib.get_close_matches(target, sorted(checks | comps), n=1)
        _fail(f"{config.file}: no check or component named {target!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    duration = _duration(length, "--for")
    store = app.writer()
    with store.session() as s:
        row = add_silence(s, target=target, target_kind=kind, duration=duration, reason=reason, who=_who(), now=SystemClock().now())
        s.commit()
    click.echo(f"silence {row.id}: alerts for {kind} {target} held until {_local(app, row.ends_at)} (by {row.created_by})")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/silences.json)")
@pass_app
def silences(app: AppState, as_json: bool) -> None:
    """List active silences."""
    from monitor.store import readout  # lazy: CLI start time (SQLAlchemy)

    now = SystemClock().now()
    with app.reading() as conn:
        rows = readout.active_silences(conn, readout.tables(conn), now)
    docs: list[dict[str, Any]] = [{"id": r.id, "target": r.target, "target_kind": r.target_kind, "starts_at": r.starts_at, "ends_at": r.ends_at,
             "created_by": r.created_by, "reason": r.reason} for r in rows]
    if as_json:
        emit_json({"generated_at": now, "silences": docs})
        return
    if not docs:
        click.echo("no active silences")
        return
    zone = app.read_config.monitor.tz
    cells = [{**d, "ends_at": f"{clock_time(d['ends_at'], zone, now)} ({until(now, d['ends_at'])})"} for d in docs]
    columns = [Col("id", justify="right"), Col("target"), Col("target_kind", header="KIND", drop=1),
               Col("ends_at", header="UNTIL"), Col("created_by", header="BY", drop=2), Col("reason", wrap=True)]
    print_table(console(), columns, cells)


@cli.command()
@click.argument("silence_id", type=int)
@pass_app
def unsilence(app: AppState, silence_id: int) -> None:
    """End silence ID now."""
    from monitor.store.maintenance import end_silence

    store = app.writer()
    with store.session() as s:
        if end_silence(s, silence_id, SystemClock().now()) is None:
            _fail(f"no silence {silence_id}")
        s.commit()
    click.echo(f"silence {silence_id} ended by {_who()}")
