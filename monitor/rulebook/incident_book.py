"""The engine's picture of incidents: immutable views of open incidents, and what changed.

`Book` is what the engine reads and returns: open incidents by component (so there can never
be two for one component) and when each component's last incident was resolved. `Action`
is one change, in order, with the timeline message and the notice it deserves (None when
alerts are held or the change is not worth a message). The ledger turns actions into rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core.events import INVESTIGATING

OPENED = "opened"  # a new incident (notice: opened/degraded unless held)
ANNOUNCED = "announced"  # a held incident is told about now that the hold lifted
JOINED = "joined"  # another check of the component failed
SYMPTOM = "symptom"  # a check of another component failed because of this one (folded in)
IMPACT = "impact"  # the component's status got worse or better
RECOVERED = "recovered"  # every check is up again: monitoring, the quiet period starts
RELAPSED = "relapsed"  # failing again before the quiet period ended
RESOLVED = "resolved"
GROUPED = "grouped"  # another component of the platform fails on the same evidence: one platform incident
RELEASED = "released"  # a symptom failing on evidence taken after its root recovered: no longer this incident's
REMOVED = "removed"  # some of its checks left the config (removed or disabled): they no longer count
REASON_REMOVED = "removed"  # Action.data["reason"] of a resolution because no check of it is left

NETWORK = "network"  # kind of the one incident opened when a baseline (our network) is down
COMPONENT = "component"
PLATFORM = "platform"  # kind of the one incident of several components of a platform failing on the same evidence
PLATFORM_PREFIX = "platform:"  # Book key (and row component) of a platform incident: "platform:sim"


@dataclass(frozen=True, slots=True)
class IncidentView:
    component: str
    title: str
    status: str
    impact: str
    started_at: datetime
    detected_at: datetime
    root_check: str | None
    kind: str = COMPONENT
    checks: tuple[str, ...] = ()  # failing checks of this component (root first)
    symptoms: tuple[str, ...] = ()  # checks of other components folded in as symptoms
    affected: tuple[str, ...] = ()  # a platform incident: the components it affects (in the order they joined)
    platform: str | None = None  # a platform incident: the platform's name
    cause: str | None = None  # a platform incident: the probable cause its components share
    recovered_at: datetime | None = None
    status_at: datetime | None = None  # when `status` last changed (auto or by hand)
    notified: bool = False  # on-call has been told it opened
    public: bool = True
    evidence: Mapping[str, Any] | None = None
    title_i18n: Mapping[str, str] = field(default_factory=dict)
    id: int | None = None
    resolved_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class Book:
    open: Mapping[str, IncidentView] = field(default_factory=dict)
    last_resolved: Mapping[str, datetime] = field(default_factory=dict)
    # check -> when the root of the incident it was a symptom of recovered, for symptoms that
    # closed with their root: until it fails on evidence taken after that, it opens nothing
    released: Mapping[str, datetime] = field(default_factory=dict)


EMPTY_BOOK = Book()


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    incident: IncidentView  # the incident after this change
    at: datetime
    message: str
    check: str | None = None
    notice: str | None = None  # Notice event to send, or None
    data: Mapping[str, Any] = field(default_factory=dict)


def new_incident(**kw: Any) -> IncidentView:
    kw.setdefault("status", INVESTIGATING)
    return IncidentView(**kw)
