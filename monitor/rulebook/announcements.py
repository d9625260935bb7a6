"""When staff hear of an incident: publish an announcement once an outage of a staff-visible
component outlasts `announcements.delay` and is still failing (blips, and outages already
over when the delay ends, never reach staff), update it at once when what it was written
for changes (the recovery above all: staff go back to the normal process then, not when the
incident resolves after its quiet period), close it at resolution, remind on-call when the
promised next update is due. Pure: (incident, announcement, now, settings) in, what to do out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from monitor.config.notifications import Announcements
from monitor.rulebook.paging import IMPACT_RANK, IncidentView


@dataclass(frozen=True)
class AnnouncementView:
    id: int
    incident_id: int | None
    status: str
    manual: bool
    next_update_at: datetime | None
    revision: int = 0
    basis: dict[str, Any] = field(default_factory=dict)  # incident status/impact it was written for

    @property
    def active(self) -> bool:
        return self.status != "closed"


AnnouncementKind = Literal["publish", "update", "close", "remind"]


def staff_visible(view: IncidentView, settings: Announcements) -> bool:
    affected = affected_of(view)
    if affected:  # a platform incident: staff hear of it when they can see one of its components
        if settings.components is not None:
            return any(c in settings.components for c in affected)
        return view.public
    return staff_component_visible(view.component, view.public, settings)


def affected_of(view: IncidentView) -> list[str]:
    """The components a platform incident affects (empty for a component's own incident)."""
    return [str(c) for c in (view.data or {}).get("affected") or ()]


def staff_component_visible(component: str, public: bool, settings: Announcements) -> bool:
    """Whether staff hear about a component at all (announcements, maintenance notices)."""
    if settings.components is not None:
        return component in settings.components
    return public


def announcement_action(
    view: IncidentView | None, ann: AnnouncementView | None, now: datetime, settings: Announcements
) -> AnnouncementKind | None:
    """What to do about the staff announcement of one incident (or a manual one), if anything.

    publish: an outage (impact >= min_impact) of a staff-visible component still open after
    `delay` since it started; blips (resolved sooner) never reach staff. update: the incident's
    status or impact changed since the text was written (automatic announcements only).
    close: the incident is resolved. remind: the promised next update is due (on-call).
    """
    if ann is None:
        if view is None or not settings.enabled or view.resolved or not staff_visible(view, settings):
            return None
        if IMPACT_RANK.get(view.impact, 0) < IMPACT_RANK[settings.min_impact]:
            return None
        if view.status == "monitoring":
            return None  # recovered before staff needed to know
        if now - (view.started_at or view.detected_at) >= settings.delay:
            return "publish"
        return None
    if not ann.active:
        return None
    if view is not None and view.resolved:
        return "close"
    if view is not None and not ann.manual and basis_of(view) != ann.basis:
        return "update"
    if ann.next_update_at is not None and now >= ann.next_update_at:
        return "remind"
    return None


Change = Literal["recovered", "relapsed", "worse", "better", "resolved", ""]


def change_of(before: dict[str, Any], after: dict[str, Any]) -> Change:
    """What changed between two bases, in the words an update leads with."""
    old, new = before.get("status"), after.get("status")
    if new == "resolved":
        return "resolved"
    if new == "monitoring" and old != "monitoring":
        return "recovered"
    if old == "monitoring" and new != "monitoring":
        return "relapsed"
    was, now = IMPACT_RANK.get(str(before.get("impact")), 0), IMPACT_RANK.get(str(after.get("impact")), 0)
    if now > was:
        return "worse"
    if now < was:
        return "better"
    return ""


def basis_of(view: IncidentView) -> dict[str, Any]:
    """What an automatic announcement's wording depends on (a platform incident's components too)."""
    basis: dict[str, Any] = {"status": view.status, "impact": view.impact}
    if affected_of(view):
        basis["affected"] = affected_of(view)
    return basis


def announcement_due_key(ann: AnnouncementView) -> str:
    return f"announcement:{ann.id}:due:{ann.revision}"

