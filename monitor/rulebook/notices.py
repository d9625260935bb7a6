"""Every notice deciding produces is built here: what to tell people about a decision, as a
pure function of the decision (the callers hand them to `notifiers.outbox.enqueue_all`).

Keys are the idempotency base: the same transition always gets the same key,
so re-deciding after a crash adds nothing to the outbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.core.events import (
    CHECK_FLAPPING,
    IMPACT_SEVERITY,
    INCIDENT_ACKED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    MAINTENANCE_ENDED,
    MAINTENANCE_SCHEDULED,
    MAINTENANCE_STARTED,
    SLO_BURN,
    Notice,
)

if TYPE_CHECKING:

    from monitor.rulebook.incident_book import Action, IncidentView
    from monitor.rulebook.maintenance import Occurrence


def for_action(action: Action, incident_id: int, entry_id: int) -> Notice | None:
    """The notice an engine action deserves (None when it deserves none)."""
    if action.notice is None:
        return None
    inc = action.incident
    suffix = {INCIDENT_RESOLVED: "resolved", INCIDENT_UPDATED: f"update:{entry_id}"}.get(action.notice, "opened")
    data: dict[str, Any] = {
        **dict(action.data),
        "since": inc.started_at.isoformat(),
        "status": inc.status,
        "impact": inc.impact,
        "kind": inc.kind,
        "checks": list(inc.checks),
        "symptoms": list(inc.symptoms),
        **({"affected": list(inc.affected), "platform": inc.platform, "cause_kind": inc.cause} if inc.affected else {}),
        # The timeline's own words (English evidence summary); templates word the message from
        # `action` in the reader's language, so it is not `message`.
        "detail": action.message,
        "action": action.kind,
        "detected_at": inc.detected_at.isoformat(),
        "title_i18n": dict(inc.title_i18n),
    }
    if inc.recovered_at is not None:
        # The outage is first failure to recovery; the quiet period after it is named apart.
        data["recovered_at"] = inc.recovered_at.isoformat()
        data["outage_s"] = (inc.recovered_at - inc.started_at).total_seconds()
    if inc.resolved_at is not None:
        data["resolved_at"] = inc.resolved_at.isoformat()
        data["time_to_resolve_s"] = (inc.resolved_at - inc.started_at).total_seconds()
        if inc.recovered_at is not None:
            data["quiet_s"] = (inc.resolved_at - inc.recovered_at).total_seconds()
    data["time_to_detect_s"] = (inc.detected_at - inc.started_at).total_seconds()
    return Notice(
        event=action.notice,
        key=f"incident:{incident_id}:{suffix}",
        at=action.at,
        incident_id=incident_id,
        component=inc.component,
        severity=IMPACT_SEVERITY.get(inc.impact, "info"),
        title=inc.title,
        data=data,
    )


def manual(event: str, inc: IncidentView, incident_id: int, entry_id: int, at: datetime, message: str, author: str) -> Notice:
    """A person acked or updated an incident by hand."""
    suffix = {INCIDENT_ACKED: "acked", INCIDENT_RESOLVED: "resolved"}.get(event, f"update:{entry_id}")
    return Notice(
        event=event,
        key=f"incident:{incident_id}:{suffix}",
        at=at,
        incident_id=incident_id,
        component=inc.component,
        severity=IMPACT_SEVERITY.get(inc.impact, "info") if event != INCIDENT_ACKED else "info",
        title=inc.title,
        data={
            "message": message,
            "author": author,
            "status": inc.status,
            "impact": inc.impact,
            "since": inc.started_at.isoformat(),
            "check": inc.root_check,
            "title_i18n": dict(inc.title_i18n),
        },
    )


def flapping(check: str, component: str | None, at: datetime, changes: int, window_s: float, extra: Mapping[str, Any]) -> Notice:
    return Notice(
        event=CHECK_FLAPPING,
        key=f"check:{check}:flapping:{at.isoformat()}",
        at=at,
        component=component,
        severity="minor",
        title=f"{check} flapping",
        data={"check": check, "changes": changes, "window_s": window_s, **dict(extra)},
    )


def maintenance(event: str, occ: Occurrence, at: datetime, components_text: str) -> Notice:
    """maintenance.scheduled / started / ended for one occurrence of a window."""
    phase = {MAINTENANCE_SCHEDULED: "scheduled", MAINTENANCE_STARTED: "started", MAINTENANCE_ENDED: "ended"}[event]
    return Notice(
        event=event,
        key=f"maintenance:{occ.window_id}:{occ.starts_at.isoformat()}:{phase}",
        at=at,
        component=occ.components[0] if len(occ.components) == 1 else None,
        severity="info",
        title=occ.title,
        data={
            "window_id": occ.window_id,
            "starts_at": occ.starts_at.isoformat(),
            "ends_at": occ.ends_at.isoformat() if occ.ends_at else None,
            "components": list(occ.components),
            "components_text": components_text,
            "recurring": occ.recurring,
        },
    )


def slo_alert(slo: str, component: str, level: str, at: datetime, figures: Mapping[str, Any]) -> Notice:
    """A burn-rate alert: `page` (fast burn) is critical, `ticket` (slow burn) minor."""
    return Notice(
        event=SLO_BURN,
        key=f"slo:{slo}:{level}:{at.isoformat()}",
        at=at,
        component=component,
        severity="critical" if level == "page" else "minor",
        title=f"SLO {slo}: error budget burning ({level})",
        data={"slo": slo, "level": level, **dict(figures)},
    )


def unstored(action: Action) -> Notice | None:
    """The notice of a decision the database refused to store, for direct delivery.

    An incident opened meanwhile has no id yet, so the key names its component and detection
    time instead: the same on every retry and after a restart (the direct-delivery journal
    holds it), and the key its outbox row is stored under once the database recovers.
    """
    notice = for_action(action, action.incident.id or 0, 0)
    if notice is None:
        return None
    inc = action.incident
    base = f"incident:{inc.id}" if inc.id is not None else f"incident:new:{inc.component}:{inc.detected_at.isoformat()}"
    suffix = {INCIDENT_RESOLVED: "resolved", INCIDENT_UPDATED: f"update:{action.kind}:{action.at.isoformat()}"}.get(
        notice.event, "opened")
    return dataclasses.replace(
        notice, key=f"{base}:{suffix}", incident_id=inc.id, data={**notice.data, "unstored": True}
    )
