"""The status page's view model: everything a template or the JSON API shows, nothing more.

Built by `snapshot.build_snapshot` from the database; language-neutral (texts stay `Text`, a
string or one per language, resolved at render time); already filtered to what the public may
see (the /internal/ page reads the database itself, see internal.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from monitor.core.text import Text

# Component statuses, best to worst (Statuspage vocabulary), and the overall indicator each maps to.
SEVERITY: dict[str, int] = {
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "major_outage": 4,
}
INDICATOR: dict[str, str] = {
    "operational": "none",
    "under_maintenance": "maintenance",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
WINDOWS: tuple[str, ...] = ("24h", "7d", "30d", "90d")
NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class PageInfo:
    name: str
    title: Text
    description: Text
    language: str  # default language
    languages: tuple[str, ...]
    timezone: str
    public_url: str | None
    per_page: int = 50  # component cards per page (status_page.components_per_page)


@dataclass(frozen=True, slots=True)
class DayBar:
    day: date  # local date in the configured zone
    uptime: Decimal | None  # floored percent; None when the day has no data
    down_minutes: float
    level: str  # nodata | ok | minor | major | critical
    incidents: tuple[int, ...]  # ids of public incidents that touched the day


@dataclass(frozen=True, slots=True)
class AffectedView:
    """Failing only because another component is down (see rulebook.components.affected_components)."""

    by: str
    by_name: Text
    measuring: bool  # "not measurable while <by> is down" rather than "affected by"


@dataclass(frozen=True, slots=True)
class ComponentView:
    id: str
    name: Text
    description: Text
    group: str | None
    position: int
    status: str  # one of SEVERITY, or NO_DATA
    since: datetime | None
    updated_at: datetime | None
    uptime: dict[str, Decimal | None]  # WINDOWS -> floored percent; None: not enough data yet
    bars: tuple[DayBar, ...]
    affected: AffectedView | None = None
    # A digest of everything above (snapshot._component_view): the key its rendered card is
    # cached by, and its part of the page's digest. Not part of the view's repr or equality.
    key: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class UpdateView:
    id: int
    at: datetime
    status: str
    message: str | None  # human-written text; None = use the templated sentence for `status`


@dataclass(frozen=True, slots=True)
class IncidentView:
    """A public incident. Its title is templated from component and impact (see catalog)."""

    id: int
    component: str
    component_name: Text
    status: str
    impact: str
    started_at: datetime | None
    detected_at: datetime | None
    resolved_at: datetime | None
    updated_at: datetime | None
    updates: tuple[UpdateView, ...]
    components: tuple[str, ...] = ()  # the components it affects (a platform incident: several)
    # A digest of its repr (incident_views.view_of): the key its rendered pieces are cached by
    # and its part of the page's digest. Not part of the view's repr or equality.
    key: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class AnnouncementView:
    id: int
    components: tuple[tuple[str, Text], ...]  # (id, name) of the public ones
    status: str
    title: dict[str, str]
    body: dict[str, dict[str, str]]  # language -> phenomenon / scope / workaround / contact
    next_update_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    id: int
    title: Text
    components: tuple[tuple[str, Text], ...]  # empty = every service
    starts_at: datetime
    ends_at: datetime
    active: bool


@dataclass(frozen=True, slots=True)
class LatencyBucket:
    start: datetime
    count: int
    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class LatencySeries:
    component: str
    name: Text
    buckets: tuple[LatencyBucket, ...]


@dataclass(frozen=True, slots=True)
class Overall:
    status: str  # worst component status, or NO_DATA
    indicator: str  # none | minor | major | critical | maintenance (Statuspage)


@dataclass(frozen=True, slots=True)
class Snapshot:
    page: PageInfo
    generated_at: datetime
    overall: Overall
    components: tuple[ComponentView, ...]
    active_incidents: tuple[IncidentView, ...]
    past_incidents: tuple[IncidentView, ...]  # resolved within the history window
    recent_incidents: tuple[IncidentView, ...]  # resolved within the last RECENT_DAYS (main page)
    announcements: tuple[AnnouncementView, ...]
    maintenance_active: tuple[MaintenanceView, ...]
    maintenance_planned: tuple[MaintenanceView, ...]
    latency: tuple[LatencySeries, ...]
