"""Notifier commands: `channels list|test`, `outbox [retry ID]`, `announce publish|update|close|list`.

These work on the database directly, so they run beside a live monitor: rows written here
are picked up by its dispatcher within one poll (notifications.poll_interval).
"""

from __future__ import annotations

import getpass
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from monitor.cli.app import AppState, CliError, cli, pass_app
from monitor.cli.output import Col, clock_time, console, emit_json, origin, print_table, status_text
from monitor.core.durations import parse_duration


def _duration(_ctx: Any, _param: Any, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


# -- channels -------------------------------------------------------------------------------------


@cli.group()
def channels() -> None:
    """Notification channels (Apprise URLs) from the config."""


@channels.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/channels.json)")
@pass_app
def channels_list(app: AppState, as_json: bool) -> None:
    """Each channel: audience, language, tier, filters and its targets (scheme and host only)."""
    config = app.read_config
    docs: list[dict[str, Any]] = [
        {
            "channel": c.name,
            "audience": c.audience,
            "language": c.language or config.monitor.language,
            "tier": c.tier,
            "filters": ", ".join(filter(None, [
                "components=" + "/".join(c.components) if c.components else "",
                "severities=" + "/".join(c.severities) if c.severities else "",
                f"quiet {c.quiet_hours.start:%H:%M}-{c.quiet_hours.end:%H:%M}" if c.quiet_hours else "",
            ])),
            "targets": [origin(u) for u in c.urls],
        }
        for c in config.channels
    ]
    if as_json:
        emit_json({"channels": docs})
        return
    if not docs:
        click.echo(f"{config.file}: no channels configured (add them under channels:)")
        return
    cells = [{**d, "targets": " ".join(f"[{i}]{t}" for i, t in enumerate(d["targets"]))} for d in docs]
    columns = [Col("channel"), Col("audience"), Col("language", drop=2), Col("tier", drop=1, justify="right"),
               Col("filters", drop=3), Col("targets", wrap=True)]
    print_table(console(), columns, cells)


@channels.command("test")
@click.argument("name")
@pass_app
def channels_test(app: AppState, name: str) -> None:
    """Send a test message to every target of channel NAME now (not through the outbox) and
    print each target's result. Exit 1 if any target failed."""
    from monitor.core.events import TEST, Notice
    from monitor.core.secrets import Redactor
    from notifiers.outbox import environment_for
    from notifiers.render import render
    from notifiers.routing import body_format
    from notifiers.sender import notify_type, send, url_secrets

    config = app.config
    channel = next((c for c in config.channels if c.name == name), None)
    if channel is None:
        import difflib

        hint = difflib.get_close_matches(name, [c.name for c in config.channels], n=1)
        raise CliError(f"{config.file}: no channel named {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""),
                       "invoicewatch channels list names them")
    now = datetime.now(UTC)
    notice = Notice(event=TEST, key=f"test:{name}:{now:%Y%m%dT%H%M%S}", at=now, title="test",
                    data={"channel": name})
    env = environment_for(config)
    language = channel.language or config.monitor.language

    def one(i: int, url: str) -> tuple[int, Any]:
        msg = render(env, notice, config, audience=channel.audience, language=language,
                     body_format=body_format(channel, url))
        return i, send(url, title=msg.title, body=msg.body, body_format=msg.body_format,
                       kind=notify_type(TEST, "info"), timeout=channel.timeout.total_seconds(), key=notice.key,
                       mentions=tuple(channel.mentions))

    with ThreadPoolExecutor(max_workers=min(8, len(channel.urls))) as pool:
        results = list(pool.map(lambda a: one(*a), enumerate(channel.urls)))
    redactor = Redactor(config.secrets)
    failed = 0
    for i, outcome in results:
        url = channel.urls[i]
        where = f"{name}[{i}] {origin(url)}"
        if outcome.ok:
            click.echo(f"{where}: ok ({outcome.duration_ms:.0f} ms)")
        else:
            failed += 1
            error = redactor.redact(Redactor(url_secrets(url)).redact(outcome.error or "failed"))
            click.echo(f"{where}: FAILED ({outcome.duration_ms:.0f} ms): {error}")
    sys.exit(1 if failed else 0)


# -- outbox ---------------------------------------------------------------------------------------


OUTBOX_KEYS = ("id", "key", "channel", "target_index", "event", "status", "attempts", "next_attempt_at",
               "created_at", "sent_at", "last_error")
OUTBOX_COLUMNS = [
    Col("id", justify="right"), Col("status"), Col("channel", header="TARGET"), Col("event"), Col("key", drop=2),
    Col("attempts", header="TRIES", justify="right", drop=1), Col("next_attempt_at", header="NEXT/SENT"),
    Col("last_error", header="ERROR", wrap=True),
]


@cli.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="include sent messages")
@click.option("--limit", default=50, show_default=True, help="rows to show")
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/outbox.json)")
@click.pass_context
def outbox(ctx: click.Context, show_all: bool, limit: int, as_json: bool) -> None:
    """Messages waiting to be delivered or given up on (newest first); `outbox retry ID`."""
    if ctx.invoked_subcommand is not None:
        return
    from monitor.store import readout  # lazy: CLI start time (SQLAlchemy)

    app: AppState = ctx.obj
    now = datetime.now(UTC)
    with app.reading() as conn:
        found = readout.outbox(conn, readout.tables(conn), limit=limit, include_sent=show_all)
    docs = [{**{k: r[k] for k in OUTBOX_KEYS}, "sending": r["status"] == "pending" and bool(r["claimed_until"])}
            for r in found]
    if as_json:
        emit_json({"generated_at": now, "messages": docs})
        return
    if not docs:
        click.echo("outbox is empty: nothing pending or failed" if not show_all else "outbox is empty")
        return
    tz = app.read_config.monitor.tz
    cells = [
        {
            **d,
            "status": status_text("sending" if d["sending"] else d["status"]),
            "channel": f"{d['channel']}[{d['target_index']}]",
            "next_attempt_at": clock_time(d["sent_at"] or d["next_attempt_at"], tz, now),
            "last_error": d["last_error"] or "",
        }
        for d in docs
    ]
    print_table(console(), OUTBOX_COLUMNS, cells)


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int, required=True)
@pass_app
def outbox_retry(app: AppState, ids: tuple[int, ...]) -> None:
    """Deliver failed or pending messages IDS at the next dispatcher pass (one more attempt
    each; a message past notifications.max_age that fails again stays failed)."""
    from monitor.store import outbox as rows_of

    store = app.writer()
    changed = rows_of.retry(store.engine, ids, datetime.now(UTC))
    missing = len(ids) - changed
    click.echo(f"{changed} message{'s' if changed != 1 else ''} queued for delivery"
               + (f"; {missing} not found or already sent" if missing else ""))
    sys.exit(0 if changed else 1)


# -- announcements --------------------------------------------------------------------------------

_TEXT_OPTIONS = [
    click.option("--phenomenon", help="现象: what users see"),
    click.option("--scope", help="影响范围: who and what is affected"),
    click.option("--workaround", help="临时办法 (default: announcements.workaround)"),
    click.option("--contact", help="联系方式 (default: announcements.contact)"),
    click.option("--next-update", callback=_duration, help="promise the next update this far ahead (e.g. 30m; default announcements.next_update)"),
]


def _text_options(f: Any) -> Any:
    for option in reversed(_TEXT_OPTIONS):
        f = option(f)
    return f


@cli.group()
def announce() -> None:
    """Staff announcements (shown on the status page, sent to staff channels), by hand:
    outages the monitor cannot see, planned maintenance, or to replace the automatic text."""


def _finish(store: Any, row: Any, what: str) -> None:
    click.echo(f"announcement {row.id} {what}; staff channels get it at the monitor's next dispatcher pass")


@announce.command("publish")
@click.option("--component", "components", multiple=True, required=True, help="affected component id (repeatable)")
@click.option("--title", required=True, help="headline shown to staff")
@click.option("--incident", "incident_id", type=int, help="link to an incident (its automatic announcement is replaced)")
@_text_options
@pass_app
def announce_publish(app: AppState, /, components: tuple[str, ...], title: str, incident_id: int | None,
                     next_update: timedelta | None, **fields: str | None) -> None:
    """Publish an announcement with your own text (the same text in every language)."""
    from monitor.core.text import LANGUAGES
    from monitor.store import announcements
    from notifiers import announce as ann

    config = app.config
    known = {c.id for c in config.components}
    for comp in components:
        if comp not in known:
            click.echo(f"{config.file}: unknown component {comp!r} (known: {', '.join(sorted(known))})", err=True)
            sys.exit(2)
    store = app.writer()
    now = datetime.now(UTC)
    with store.session() as s:
        existing = announcements.for_incident(s, incident_id) if incident_id is not None else None
        body = ann.manual_body(config, fields)
        if existing is not None and existing.status != "closed":
            row = ann.update(s, config, existing, now, title=dict.fromkeys(LANGUAGES, title), body=body, manual=True,
                             next_update=next_update, author=getpass.getuser())
        else:
            row = ann.publish(s, config, now, components=list(components), title=dict.fromkeys(LANGUAGES, title),
                              body=body, incident_id=incident_id if existing is None else None, manual=True,
                              author=getpass.getuser(), next_update=next_update)
        s.commit()
    _finish(store, row, "published")


def _load(app: AppState, s: Any, announcement_id: int) -> Any:
    from monitor.store import announcements

    row = announcements.get(s, announcement_id)
    if row is None or row.status == "closed":
        click.echo(f"no open announcement {announcement_id} (see: invoicewatch announce list)", err=True)
        sys.exit(1)
    return row


@announce.command("update")
@click.argument("announcement_id", type=int)
@click.option("--message", help="what changed (shown above the details)")
@click.option("--title", help="new headline")
@_text_options
@pass_app
def announce_update(app: AppState, /, announcement_id: int, message: str | None, title: str | None,
                    next_update: timedelta | None, **fields: str | None) -> None:
    """Update an announcement; it becomes manual (automatic updates no longer rewrite it)."""
    from monitor.core.text import LANGUAGES
    from notifiers import announce as ann

    store = app.writer()
    now = datetime.now(UTC)
    with store.session() as s:
        row = _load(app, s, announcement_id)
        given = {k: v for k, v in fields.items() if v}
        body = {lang: given for lang in LANGUAGES} if given else None
        row = ann.update(s, app.config, row, now, title=dict.fromkeys(LANGUAGES, title) if title else None, body=body,
                         message=message, manual=True, next_update=next_update, author=getpass.getuser())
        s.commit()
    _finish(store, row, "updated")


@announce.command("close")
@click.argument("announcement_id", type=int)
@click.option("--message", help="closing words (default: the template's 'back to normal')")
@pass_app
def announce_close(app: AppState, announcement_id: int, message: str | None) -> None:
    """Close an announcement: staff get the resolved notice; the status page drops it."""
    from notifiers import announce as ann

    store = app.writer()
    with store.session() as s:
        row = ann.close(s, app.config, _load(app, s, announcement_id), datetime.now(UTC), message=message,
                        author=getpass.getuser())
        s.commit()
    _finish(store, row, "closed")


@announce.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON (monitor/cli/schemas/announcements.json)")
@pass_app
def announce_list(app: AppState, as_json: bool) -> None:
    """Open announcements (what the status page shows)."""
    from monitor.store import announcements  # lazy: CLI start time (SQLAlchemy)

    store = app.reader()
    config = app.read_config
    lang, tz = config.monitor.language, config.monitor.tz
    now = datetime.now(UTC)
    with store.session() as s:
        docs = [
            {
                "id": r.id, "status": r.status, "components": list(r.components), "incident_id": r.incident_id,
                "manual": bool(r.manual), "next_update_at": r.next_update_at, "title": r.title.get(lang, ""),
            }
            for r in announcements.active(s)
        ]
    if as_json:
        emit_json({"generated_at": now, "announcements": docs})
        return
    if not docs:
        click.echo("no open announcements")
        return
    cells = [{**d, "components": ",".join(d["components"]), "incident_id": d["incident_id"] or "",
              "manual": "yes" if d["manual"] else "", "next_update_at": clock_time(d["next_update_at"], tz, now)}
             for d in docs]
    columns = [Col("id", justify="right"), Col("status"), Col("components"), Col("incident_id", header="INCIDENT", drop=2),
               Col("manual", drop=1), Col("next_update_at", header="NEXT UPDATE"), Col("title", wrap=True)]
    print_table(console(), columns, cells)
