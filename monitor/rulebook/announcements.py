"""When staff hear of an incident: publish an announcement once an outage of a staff-visible
component outlasts `announcements.delay` (blips never reach staff), update it when what it
was written for changes, close it at resolution, remind on-call when the promised next update
is due. Pure: (incident, announcement, now, settings) in, what to do out.
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
    if settings.components is not None:
        return view.component in settings.components
    return view.public


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


def basis_of(view: IncidentView) -> dict[str, Any]:
    """What an automatic announcement's wording depends on."""
    return {"status": view.status, "impact": view.impact}


def announcement_due_key(ann: AnnouncementView) -> str:
    return f"announcement:{ann.id}:due:{ann.revision}"

