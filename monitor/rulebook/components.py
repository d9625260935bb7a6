"""Component status from check healths, the page's overall status, and uptime. Pure.

Vocabulary is Statuspage's: operational, degraded_performance, partial_outage, major_outage,
under_maintenance.

Component rule (`derive`): under_maintenance while a window covers it; otherwise over the
checks that are reporting (not stale, not unknown, not excused because our own network is
down): every one down -> major_outage; some down -> partial_outage; any degraded ->
degraded_performance; else operational. No reporting check -> no verdict (keep the last).

Overall rule (`overall`), over the public components: the worst status wins, in the order
major_outage > partial_outage > degraded_performance > under_maintenance > operational; the
indicator follows Statuspage (critical, major, minor, maintenance, none).

Uptime is computed from the history this module's transitions write (component_status_change)
by monitor.statuspage.uptime, the one implementation of the documented formula.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.rulebook.check_state import DEGRADED, DOWN, UNKNOWN

OPERATIONAL = "operational"
DEGRADED_PERFORMANCE = "degraded_performance"
PARTIAL_OUTAGE = "partial_outage"
MAJOR_OUTAGE = "major_outage"
UNDER_MAINTENANCE = "under_maintenance"
COMPONENT_STATUSES = (OPERATIONAL, DEGRADED_PERFORMANCE, PARTIAL_OUTAGE, MAJOR_OUTAGE, UNDER_MAINTENANCE)

# Statuspage's incident impact for a component status.
IMPACT = {DEGRADED_PERFORMANCE: "minor", PARTIAL_OUTAGE: "major", MAJOR_OUTAGE: "critical"}
_ORDER = {OPERATIONAL: 0, UNDER_MAINTENANCE: 1, DEGRADED_PERFORMANCE: 2, PARTIAL_OUTAGE: 3, MAJOR_OUTAGE: 4}
_INDICATOR = {
    OPERATIONAL: "none",
    UNDER_MAINTENANCE: "maintenance",
    DEGRADED_PERFORMANCE: "minor",
    PARTIAL_OUTAGE: "major",
    MAJOR_OUTAGE: "critical",
}


def derive(healths: Iterable[str], *, maintenance: bool = False) -> str | None:
    """The status of a component whose reporting checks have these healths."""
    if maintenance:
        return UNDER_MAINTENANCE
    known = [h for h in healths if h != UNKNOWN]
    if not known:
        return None
    downs = known.count(DOWN)
    if downs == len(known):
        return MAJOR_OUTAGE
    if downs:
        return PARTIAL_OUTAGE
    if DEGRADED in known:
        return DEGRADED_PERFORMANCE
    return OPERATIONAL


def impact_of(status: str | None) -> str:
    """Incident impact for a component status; an incident is at least minor."""
    return IMPACT.get(status or "", "minor")


@dataclass(frozen=True, slots=True)
class Overall:
    status: str  # the worst component status
    indicator: str  # none | minor | major | critical | maintenance


def overall(statuses: Iterable[str]) -> Overall:
    worst = max(statuses, key=lambda s: _ORDER.get(s, 0), default=OPERATIONAL)
    return Overall(worst, _INDICATOR.get(worst, "none"))

