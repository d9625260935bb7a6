"""Staff announcements: rows in `announcement` (shown on the status page while not closed;
the table is `monitor.store.announcements`) and the messages that go with them, written in
one transaction.

Automatic text comes from templates (<lang>/announcement.txt.j2: title, phenomenon, scope)
plus the configured workaround and contact; a manual text (`invoicewatch announce`) replaces
the template's and is never overwritten by automatic updates.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from monitor.core.events import (
    ANNOUNCEMENT_CLOSED,
    ANNOUNCEMENT_PUBLISHED,
    ANNOUNCEMENT_UPDATED,
    REMINDER,
    Notice,
    Severity,
)
from monitor.core.text import LANGUAGES, names_in, text_in
from monitor.rulebook.announcements import (
    AnnouncementView,
    affected_of,
    announcement_due_key,
    basis_of,
    change_of,
)
from monitor.rulebook.paging import IncidentView
from monitor.store import announcements
from monitor.store.announcements import AnnouncementRow
from notifiers.outbox import enqueue, environment_for
from notifiers.render import render_block

if TYPE_CHECKING:
    from monitor.config import Config

BODY_FIELDS = ("phenomenon", "scope", "workaround", "contact")


def view_of(row: AnnouncementRow) -> AnnouncementView:
    return AnnouncementView(
        id=int(row.id or 0), incident_id=row.incident_id, status=row.status, manual=row.manual,
        next_update_at=row.next_update_at, revision=row.revision, basis=dict((row.data or {}).get("basis") or {}),
    )


def component_name(config: Config, component: str, language: str, affected: list[str] | None = None) -> str:
    """A component's name; for a platform incident, the names of the components it affects."""
    if affected:
        return names_in([component_name(config, c, language) for c in affected], language)
    try:
        return text_in(config.component(component).name, language)
    except KeyError:
        return component


def components_of(view: IncidentView) -> list[str]:
    """The components an incident's announcement is about."""
    return affected_of(view) or [view.component]


def automatic_text(
    config: Config, view: IncidentView, *, change: str = "", previous_impact: str | None = None
) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, str]]:
    """Title, body and the "what changed" line per language for an incident's announcement,
    from the templates. While the incident is recovered (monitoring) or resolved, the body
    tells staff to go back to the normal process and what to re-enter instead of the
    workaround, so no page shows a workaround beside a recovered service."""
    env = environment_for(config)
    settings = config.announcements
    workaround = next((w for c in components_of(view) if (w := settings.component_workarounds.get(c))),
                      None) or settings.workaround
    recovered = _dt((view.data or {}).get("recovered_at"))
    started = view.started_at or view.detected_at
    over = view.status in ("monitoring", "resolved")
    titles: dict[str, str] = {}
    bodies: dict[str, dict[str, str]] = {}
    changes: dict[str, str] = {}
    for lang in LANGUAGES:
        ctx = {"component_name": component_name(config, view.component, lang, affected_of(view)), "impact": view.impact,
               "status": view.status, "title": view.title, "language": lang, "change": change,
               "previous_impact": previous_impact, "started_at": started, "recovered_at": recovered,
               "outage": (recovered - started) if recovered and started else None,
               "quiet": config.incidents.resolve_after}
        name = f"{lang}/announcement.txt.j2"
        titles[lang] = render_block(env, name, "title", ctx)
        bodies[lang] = {
            "phenomenon": render_block(env, name, "phenomenon", ctx),
            "scope": render_block(env, name, "scope", ctx),
            "workaround": "" if over else text_in(workaround, lang),
            "after": text_in(settings.after_recovery, lang) if over else "",
            "contact": text_in(settings.contact, lang),
        }
        changes[lang] = render_block(env, name, "closed" if change == "resolved" else "change", ctx)
    return titles, bodies, changes


def _dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def snapshot(row: AnnouncementRow, message: str | dict[str, str] | None = None) -> dict[str, Any]:
    """What an announcement message shows (templates read data.announcement): `message` is
    one text (a person's) or one per language (`messages`, the automatic "what changed")."""
    return {
        "id": row.id, "status": row.status, "title": row.title, "body": row.body,
        "next_update_at": row.next_update_at.isoformat() if row.next_update_at else None,
        "components": row.components, "message": message if isinstance(message, str) else "",
        "messages": message if isinstance(message, dict) else {},
    }


def _notice(config: Config, row: AnnouncementRow, event: str, key: str, now: datetime,
            severity: Severity, message: str | dict[str, str] | None) -> Notice:
    lang = config.monitor.language
    return Notice(
        event=event, key=key, at=now, incident_id=row.incident_id,
        component=row.components[0] if row.components else None, severity=severity,
        title=str(row.title.get(lang) or next(iter(row.title.values()), "")),
        data={"announcement": snapshot(row, message)},
    )


def publish(
    session: Session, config: Config, now: datetime, *, components: list[str], title: dict[str, str],
    body: dict[str, dict[str, str]], incident_id: int | None = None, manual: bool = False,
    author: str | None = None, basis: dict[str, Any] | None = None, severity: Severity = "major",
    next_update: Any = None,
) -> AnnouncementRow:
    """Create an announcement and queue its message to staff channels (caller commits)."""
    delay = next_update if next_update is not None else config.announcements.next_update
    row = AnnouncementRow(
        incident_id=incident_id, components=components, status="published", title=title, body=body,
        next_update_at=now + delay if delay else None, manual=manual, created_at=now, updated_at=now,
        author=author, revision=0, data={"basis": basis or {}, "severity": severity},
    )
    announcements.save(session, row)
    enqueue(session, _notice(config, row, ANNOUNCEMENT_PUBLISHED, f"announcement:{row.id}:published", now,
                             severity, None), config)
    return row


def update(
    session: Session, config: Config, row: AnnouncementRow, now: datetime, *, title: dict[str, str] | None = None,
    body: dict[str, dict[str, str]] | None = None, message: str | dict[str, str] | None = None,
    manual: bool | None = None,
    basis: dict[str, Any] | None = None, next_update: Any = None, author: str | None = None,
) -> AnnouncementRow:
    delay = next_update if next_update is not None else config.announcements.next_update
    row.revision += 1
    row.status = "updated"
    if title:
        row.title = {**row.title, **title}
    if body:  # field by field: an update may change only the scope, say
        merged = {lang: dict(fields) for lang, fields in row.body.items()}
        for lang, fields in body.items():
            merged.setdefault(lang, {}).update(fields)
        row.body = merged
    if manual is not None:
        row.manual = row.manual or manual
    row.next_update_at = now + delay if delay else None
    row.updated_at = now
    if author:
        row.author = author
    data = dict(row.data or {})
    if basis is not None:
        data["basis"] = basis
    row.data = data
    announcements.save(session, row)
    severity = data.get("severity", "major")
    enqueue(session, _notice(config, row, ANNOUNCEMENT_UPDATED, f"announcement:{row.id}:update:{row.revision}",
                             now, severity, message), config)
    return row


def close(session: Session, config: Config, row: AnnouncementRow, now: datetime, *,
          message: str | dict[str, str] | None = None, author: str | None = None,
          title: dict[str, str] | None = None, body: dict[str, dict[str, str]] | None = None) -> AnnouncementRow:
    row.status = "closed"
    if title:
        row.title = {**row.title, **title}
    if body:
        row.body = body
    row.closed_at = now
    row.updated_at = now
    row.next_update_at = None
    if author:
        row.author = author
    announcements.save(session, row)
    enqueue(session, _notice(config, row, ANNOUNCEMENT_CLOSED, f"announcement:{row.id}:closed", now, "info",
                             message), config)
    return row


def remind_due(session: Session, config: Config, row: AnnouncementRow, now: datetime) -> int:
    """Tell on-call the promised next update of an announcement is due (once per revision)."""
    view = view_of(row)
    lang = config.monitor.language
    notice = Notice(
        event=REMINDER, key=announcement_due_key(view), at=now, incident_id=row.incident_id,
        component=row.components[0] if row.components else None,
        severity=(row.data or {}).get("severity", "major"), title=str(row.title.get(lang, "")),
        data={"about": "announcement", "announcement_id": row.id,
              "next_update_at": row.next_update_at.isoformat() if row.next_update_at else None},
    )
    return enqueue(session, notice, config)


def apply_action(session: Session, config: Config, kind: str, view: IncidentView | None,
                 row: AnnouncementRow | None, now: datetime) -> AnnouncementRow | None:
    """Carry out an `announcement_action` decision."""
    if kind == "publish" and view is not None:
        title, body, _ = automatic_text(config, view)
        return publish(session, config, now, components=components_of(view), title=title, body=body,
                       incident_id=view.id, basis=basis_of(view), severity=view.severity)
    if row is None:
        return None
    if kind == "update" and view is not None:
        before = dict((row.data or {}).get("basis") or {})
        title, body, changed = automatic_text(config, view, change=change_of(before, basis_of(view)),
                                              previous_impact=before.get("impact"))
        data = dict(row.data or {})
        data["severity"] = view.severity
        row.data = data
        row.components = components_of(view)
        return update(session, config, row, now, title=title, body=body, basis=basis_of(view),
                      message={k: v for k, v in changed.items() if v} or None)
    if kind == "close":
        if view is None or row.manual:
            return close(session, config, row, now)
        title, body, closing = automatic_text(config, view, change="resolved")
        return close(session, config, row, now, message=closing, title=title, body=body)
    if kind == "remind":
        remind_due(session, config, row, now)
    return row


def manual_body(config: Config, fields: dict[str, str | None]) -> dict[str, dict[str, str]]:
    """A person's text, the same in every language; workaround/contact default to config."""
    settings = config.announcements
    out = {}
    for lang in LANGUAGES:
        out[lang] = {
            "phenomenon": fields.get("phenomenon") or "",
            "scope": fields.get("scope") or "",
            "workaround": fields.get("workaround") or text_in(settings.workaround, lang),
            "contact": fields.get("contact") or text_in(settings.contact, lang),
        }
    return out

