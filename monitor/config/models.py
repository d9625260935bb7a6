"""The config file as pydantic models. The same models validate YAML and export the JSON Schema.

Sections later capabilities fill in (platforms, channels, routes, maintenance) are declared
here so the file's shape is stable from the first release; each owns its model in its module.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator

from checks import AnyCheckSpec
from checks.base import LatencyThresholds
from checks.platform.models import PlatformProfile
from monitor.durations import PositiveDuration
from monitor.simulator.config import SimulatorSection
from monitor.zones import ZoneName

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[str, ...] = ("zh-CN", "en")

# Text shown to people: one string (in the monitor's language) or one per language.
Text = str | dict[Language, str]


def text_in(text: Text | None, language: str, fallback: str = "zh-CN") -> str:
    """Pick the wording of `text` for a language, falling back to any wording there is."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get(fallback) or next(iter(text.values()), "")  # type: ignore[call-overload]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Section models that live with their capability. Imported here, after Strict/Text exist,
# because those modules subclass Strict (see notifiers/__init__.py for the import order).
from monitor.incidents.config import (  # noqa: E402
    EvaluationSection,
    IncidentsSection,
    MaintenanceWindowConfig,
    SloConfig,
)
from notifiers.config import Announcements, Channel, Delivery, Escalation, Route  # noqa: E402


class MonitorSection(Strict):
    """The monitor itself: who it is, where it keeps data, how hard it may probe."""

    name: str = Field("invoicewatch", description="shown in alerts and on the status page")
    timezone: ZoneName = Field("Asia/Shanghai", description="IANA zone for cron and displayed times")
    language: Language = Field("zh-CN", description="default language of messages and the page")
    database: str = Field(
        "sqlite:///var/invoicewatch.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    location: str = Field(
        "local", min_length=1, max_length=64, description="name of the network location this node probes from"
    )
    max_concurrent_probes: int = Field(200, ge=1, le=10000, description="global cap on probes in flight")
    result_retention: PositiveDuration = Field(timedelta(days=35), description="raw results older than this are pruned")
    write_batch_size: int = Field(500, ge=1, le=50000, description="results per database write")
    write_interval: PositiveDuration = Field(timedelta(seconds=1), description="longest wait before buffered results are written")

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str) -> str:
        import sqlalchemy as sa

        try:
            url = sa.engine.make_url(value)
        except sa.exc.ArgumentError:
            raise ValueError(f"{value!r} is not a database URL (sqlite:///path or postgresql+psycopg://...)") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {url.get_backend_name()!r}; use sqlite or postgresql")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class CheckDefaults(Strict):
    """Values every check inherits unless it sets its own."""

    interval: PositiveDuration | None = None
    timeout: PositiveDuration | None = None
    failure_threshold: int | None = Field(None, ge=1)
    success_threshold: int | None = Field(None, ge=1)
    quorum: int | None = Field(None, ge=1)
    retry_interval: PositiveDuration | None = None
    latency: LatencyThresholds | None = None

    @field_validator("timeout")
    @classmethod
    def _timeout_within_interval(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        # Checked here too, so a bad pair is reported once under defaults:, not per check.
        interval = info.data.get("interval")
        if value is not None and interval is not None and value > interval:
            raise ValueError(
                f"timeout ({value.total_seconds():g}s) must not exceed interval ({interval.total_seconds():g}s)"
            )
        return value


class Component(Strict):
    """What staff see on the status page: 登录, 查询, 开票, 数据同步 ..."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
    name: Text
    description: Text = ""
    public: bool = Field(True, description="shown on the public status page")
    group: str | None = None


# The status page owns its section; imported here (after Strict and Text exist) because
# monitor.statuspage.config builds on them.
from monitor.statuspage.config import StatusPageSection  # noqa: E402


class Config(Strict):
    """The whole config file."""

    monitor: MonitorSection = Field(default_factory=MonitorSection)
    defaults: CheckDefaults = Field(default_factory=CheckDefaults)
    components: list[Component] = Field(default_factory=list)
    checks: list[AnyCheckSpec] = Field(default_factory=list)
    # Filled by later capabilities; typed loosely until their models land.
    platforms: dict[str, PlatformProfile] = Field(default_factory=dict, description="invoice platforms, by name")
    channels: list[Channel] = Field(default_factory=list, description="where messages go (Apprise URLs)")
    routes: list[Route] = Field(default_factory=list, description="which events go to which channels")
    escalation: Escalation = Field(default_factory=Escalation)
    announcements: Announcements = Field(default_factory=Announcements)
    notifications: Delivery = Field(default_factory=Delivery)
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    incidents: IncidentsSection = Field(default_factory=IncidentsSection)
    maintenance: list[MaintenanceWindowConfig] = Field(
        default_factory=list, description="planned maintenance windows (one-off or recurring)"
    )
    slos: list[SloConfig] = Field(default_factory=list, description="service-level objectives per component")
    status_page: StatusPageSection = Field(default_factory=StatusPageSection)
    simulator: SimulatorSection = Field(default_factory=SimulatorSection)

    _file: str = PrivateAttr("")
    _secrets: frozenset[str] = PrivateAttr(frozenset())

    @property
    def file(self) -> str:
        return self._file

    @property
    def secrets(self) -> frozenset[str]:
        return self._secrets

    def check(self, name: str) -> Any:
        for spec in self.checks:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def component(self, component_id: str) -> Component:
        for c in self.components:
            if c.id == component_id:
                return c
        raise KeyError(component_id)
