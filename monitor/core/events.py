"""What the notifiers are told: a `Notice` (one event about one incident or the monitor).

A Notice is a fact that has already happened and been decided on; `notifiers.outbox.enqueue` turns
it into outbox rows (one per routed channel target) in the caller's transaction. The `key` is
the stable idempotency base ("incident:12:opened", "incident:12:reminder:3"): enqueueing the
same key twice adds nothing, so whoever decides may decide again after a crash without fear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

Severity = Literal["critical", "major", "minor", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "info")

INCIDENT_OPENED = "incident.opened"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_RESOLVED = "incident.resolved"
INCIDENT_DEGRADED = "incident.degraded"
INCIDENT_ACKED = "incident.acked"
CHECK_FLAPPING = "check.flapping"
MAINTENANCE_SCHEDULED = "maintenance.scheduled"
MAINTENANCE_STARTED = "maintenance.started"
MAINTENANCE_ENDED = "maintenance.ended"
MONITOR_PROBLEM = "monitor.problem"
SLO_BURN = "slo.burn"  # an SLO's error budget burns too fast (evaluator; severity critical = page)
REMINDER = "reminder"
ESCALATION = "escalation"
ANNOUNCEMENT_PUBLISHED = "announcement.published"
ANNOUNCEMENT_UPDATED = "announcement.updated"
ANNOUNCEMENT_CLOSED = "announcement.closed"
TEST = "test"  # `invoicewatch channels test`; never routed, sent to one channel by name

EVENTS: tuple[str, ...] = (
    INCIDENT_OPENED,
    INCIDENT_UPDATED,
    INCIDENT_RESOLVED,
    INCIDENT_DEGRADED,
    INCIDENT_ACKED,
    CHECK_FLAPPING,
    MAINTENANCE_SCHEDULED,
    MAINTENANCE_STARTED,
    MAINTENANCE_ENDED,
    MONITOR_PROBLEM,
    SLO_BURN,
    REMINDER,
    ESCALATION,
    ANNOUNCEMENT_PUBLISHED,
    ANNOUNCEMENT_UPDATED,
    ANNOUNCEMENT_CLOSED,
)

# Events that tell someone an incident is (still) happening: whoever got one of these is told
# when the incident is acked or resolved.
DOWN_EVENTS: frozenset[str] = frozenset(
    {INCIDENT_OPENED, INCIDENT_UPDATED, INCIDENT_DEGRADED, REMINDER, ESCALATION}
)
# Events that close the loop for everyone who was told it was down.
CLOSING_EVENTS: frozenset[str] = frozenset({INCIDENT_RESOLVED, INCIDENT_ACKED})

# An incident's status (Statuspage's vocabulary) and impact.
INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED = "investigating", "identified", "monitoring", "resolved"
INCIDENT_STATUSES = (INVESTIGATING, IDENTIFIED, MONITORING, RESOLVED)
IMPACTS = ("none", "minor", "major", "critical")

# The evaluator's impact vocabulary (Statuspage's) mapped onto notice severities.
IMPACT_SEVERITY: dict[str, Severity] = {
    "critical": "critical",
    "major": "major",
    "minor": "minor",
    "none": "info",
}


def event_matches(pattern: str, event: str) -> bool:
    """`incident.*` matches every incident event; `*` matches everything."""
    return fnmatchcase(event, pattern)


PAGING_SEVERITIES: tuple[str, ...] = ("critical", "major")


def is_paging(severity: str) -> bool:
    """Paging messages ignore quiet hours; the rest wait until quiet hours end."""
    return severity in PAGING_SEVERITIES


@dataclass(frozen=True)
class Notice:
    """One thing to tell people.

    `data` holds the evidence templates show: check, step, envelope_code, envelope_message,
    http_status, latency_ms, phases, last_results [{at, status, latency_ms, message}], since,
    runbook, component_name, ...; `tier` (int) widens delivery to escalation tiers up to it;
    `exclude_channels` (list of names) keeps a notice away from channels (a failing channel's
    own problem report).
    """

    event: str
    key: str
    at: datetime
    incident_id: int | None = None
    component: str | None = None
    severity: Severity = "info"
    title: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("Notice.at must be an aware UTC datetime")
        if not self.key:
            raise ValueError("Notice.key must not be empty: it is the idempotency base")

    @property
    def tier(self) -> int:
        try:
            return max(1, int(self.data.get("tier", 1)))
        except (TypeError, ValueError):
            return 1
