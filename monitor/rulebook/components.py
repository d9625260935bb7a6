"""Component status from check healths, the page's overall status, and uptime. Pure.

Vocabulary is Statuspage's: operational, degraded_performance, partial_outage, major_outage,
under_maintenance.

Component rule (`derive`): under_maintenance while a window covers it; otherwise over the
checks that are reporting (not stale, not unknown, not excused because our own network is
down, not failing only because a check they depend on is down): a `weight: critical` check
down -> major_outage, whatever the others say; every normal check down -> major_outage; some
down -> partial_outage; any degraded, or a `weight: minor` check down ->
degraded_performance; else operational. No reporting check -> no verdict (keep the last).
A down check failing intermittently (health `partial` here: successes between its failures,
see check_state.intermittent) makes at most a partial_outage: some of its requests work.

A component whose checks fail only because another component is down is *affected* by that
incident (`affected_components`), never in an outage of its own; when those checks measure
data (completeness, freshness, permission) it is "not measurable" while the other is down.

Overall rule (`overall`), over the public components: the worst status wins, in the order
major_outage > partial_outage > degraded_performance > under_maintenance > operational; the
indicator follows Statuspage (critical, major, minor, maintenance, none).

Uptime is computed from the history this module's transitions write (component_status_change)
by monitor.statuspage.uptime, the one implementation of the documented formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from monitor.rulebook.check_state import DEGRADED, DOWN, UNKNOWN

PARTIAL = "partial"  # the health derive() reads for a down check that fails intermittently

CRITICAL, NORMAL, MINOR = "critical", "normal", "minor"
# Kinds that measure the platform's data: while their platform cannot be reached they
# measure nothing, so their component is "not measurable", not broken.
MEASURING_KINDS = frozenset({"completeness", "freshness", "permission"})

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


def derive(healths: Iterable[str | tuple[str, str]], *, maintenance: bool = False) -> str | None:
    """The status of a component whose reporting checks have these healths (each a health,
    or a (health, weight) pair; a bare health weighs normal)."""
    if maintenance:
        return UNDER_MAINTENANCE
    pairs = [(h, NORMAL) if isinstance(h, str) else h for h in healths]
    known = [(h, w) for h, w in pairs if h != UNKNOWN]
    if not known:
        return None
    if any(h == DOWN and w == CRITICAL for h, w in known):
        return MAJOR_OUTAGE
    counted = [h for h, w in known if w != MINOR]
    downs = counted.count(DOWN)
    if counted and downs == len(counted):
        return MAJOR_OUTAGE
    if downs or any(h == PARTIAL and w != MINOR for h, w in known):
        return PARTIAL_OUTAGE
    if any(h in (DEGRADED, DOWN, PARTIAL) for h, _ in known):
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



@dataclass(frozen=True, slots=True)
class Affected:
    """A component affected by another component's incident (its checks are symptoms)."""

    by: str  # the incident's component
    incident_id: int | None
    measuring: bool  # every failing symptom check measures data: "not measurable"
    checks: tuple[str, ...]


def affected_components(
    incidents: Iterable[tuple[int | None, str, Iterable[str]]],
    check_component: Mapping[str, str],
    check_kind: Mapping[str, str],
    failing: Iterable[str],
) -> dict[str, Affected]:
    """component -> how it is affected, from open incidents (id, component, symptom checks)
    and the checks failing now. A symptom that has recovered affects nothing any more."""
    bad = set(failing)
    out: dict[str, Affected] = {}
    for iid, comp, symptoms in incidents:
        per: dict[str, list[str]] = {}
        for name in symptoms:
            own = check_component.get(name)
            if own is None or own == comp or name not in bad:
                continue
            per.setdefault(own, []).append(name)
        for own, names in per.items():
            if own in out:
                continue
            measuring = all(check_kind.get(n) in MEASURING_KINDS for n in names)
            out[own] = Affected(comp, iid, measuring, tuple(sorted(names)))
    return out


# Uptime is shown for a window only once monitoring data covers this share of it; before
# that the page says "not enough data" (a fresh install is not "35.27 % over 24 hours").
ENOUGH_DATA = 0.25


def enough_data(covered: timedelta, window: timedelta) -> bool:
    return window > timedelta(0) and covered >= window * ENOUGH_DATA
