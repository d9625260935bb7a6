"""Paging: what on-call hears next about an open incident (reminders, escalation tiers, the
acked/resolved safety net): pure functions of (incident, what was already sent, now, policy).
No database, no clock: the notifiers' watcher feeds them and tests move time.

Keys are deterministic ("incident:7:reminder:2", "incident:7:escalation:3",
"announcement:4:due:1"), so deciding again after a crash yields the same keys and
`enqueue` adds nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.config.notifications import Escalation
from monitor.core.events import (
    ESCALATION,
    IMPACT_SEVERITY,
    INCIDENT_ACKED,
    INCIDENT_RESOLVED,
    REMINDER,
    Notice,
    Severity,
)

IMPACT_RANK = {"none": 0, "minor": 1, "major": 2, "critical": 3}


@dataclass(frozen=True)
class IncidentView:
    """The part of an incident row the notifiers read (see notifiers.watcher.view_of)."""

    id: int
    component: str
    impact: str
    title: str
    status: str
    detected_at: datetime
    acked_at: datetime | None = None
    resolved_at: datetime | None = None
    started_at: datetime | None = None
    acked_by: str | None = None
    public: bool = True
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None or self.status == "resolved"

    @property
    def severity(self) -> Severity:
        return IMPACT_SEVERITY.get(self.impact, "major")

    def key(self, *parts: object) -> str:
        return ":".join(["incident", str(self.id), *map(str, parts)])



def _notice(view: IncidentView, event: str, key: str, now: datetime, **extra: Any) -> Notice:
    data = dict(view.data)
    data.setdefault("since", (view.started_at or view.detected_at).isoformat())
    data.update(extra)
    return Notice(event=event, key=key, at=now, incident_id=view.id, component=view.component,
                  severity=view.severity, title=view.title, data=data)


def current_tier(view: IncidentView, now: datetime, policy: Escalation) -> int:
    unacked = now - view.detected_at
    tier = 1
    for step in policy.tiers:
        if unacked >= step.after:
            tier = step.tier
    return tier


def paging_notices(view: IncidentView, sent: set[str], now: datetime, policy: Escalation) -> list[Notice]:
    """Reminders and escalations while the incident is open and nobody has acked it.

    Escalation: when tiers' `after` have passed, the highest one not yet paged (a tier-3
    page reaches tiers 1-3, so a skipped tier 2 is not paged separately after a long outage
    of the monitor itself). Reminder n is due at detected_at + n*repeat_interval; only the
    latest due one is sent, never a backlog.
    """
    if view.resolved or view.acked_at is not None:
        return []
    out: list[Notice] = []
    unacked = now - view.detected_at
    tier = current_tier(view, now, policy)
    paged = {int(k.rsplit(":", 1)[1]) for k in sent if k.startswith(view.key(ESCALATION, ""))}
    if tier > 1 and not any(t >= tier for t in paged):
        out.append(_notice(view, ESCALATION, view.key(ESCALATION, tier), now, tier=tier,
                           unacked_for=unacked.total_seconds()))
    interval = policy.repeat_interval
    if interval > timedelta(0) and unacked >= interval:
        n = int(unacked / interval)
        key = view.key(REMINDER, n)
        if key not in sent:
            out.append(_notice(view, REMINDER, key, now, tier=tier, number=n,
                               unacked_for=unacked.total_seconds()))
    return out


def closing_notices(view: IncidentView, sent: set[str], told: bool, now: datetime) -> list[Notice]:
    """Acked and resolved notices for an incident somebody was `told` about (a DOWN_EVENTS
    message is in the outbox); they go to everyone told (see notifiers.outbox).

    The evaluator normally enqueues these itself with the same keys ("incident:ID:acked",
    "incident:ID:resolved"); deciding them here too is a safety net: same key, sent once.
    """
    if not told:
        return []
    out = []
    if view.acked_at is not None and not view.resolved and view.key("acked") not in sent:
        out.append(_notice(view, INCIDENT_ACKED, view.key("acked"), now, acked_by=view.acked_by or ""))
    if view.resolved and view.key("resolved") not in sent:
        out.append(_notice(view, INCIDENT_RESOLVED, view.key("resolved"), now,
                           resolved_at=(view.resolved_at or now).isoformat()))
    return out




