"""The config file as pydantic models. The same models validate YAML and export the JSON Schema.

Sections later capabilities fill in (platforms, channels, routes, maintenance) are declared
here so the file's shape is stable from the first release; each owns its model in its module.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from checks import AnyCheckSpec
from checks.base import LatencyThresholds
from monitor.durations import Duration

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
    timezone: str = Field("Asia/Shanghai", description="IANA zone for cron and displayed times")
    language: Language = Field("zh-CN", description="default language of messages and the page")
    database: str = Field(
        "sqlite:///var/invoicewatch.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    location: str = Field("local", description="name of the network location this node probes from")
    max_concurrent_probes: int = Field(200, ge=1, le=10000, description="global cap on probes in flight")
    result_retention: Duration = Field(timedelta(days=35), description="raw results older than this are pruned")
    write_batch_size: int = Field(500, ge=1, le=50000, description="results per database write")
    write_interval: Duration = Field(timedelta(seconds=1), description="longest wait before buffered results are written")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class CheckDefaults(Strict):
    """Values every check inherits unless it sets its own."""

    interval: Duration | None = None
    timeout: Duration | None = None
    failure_threshold: int | None = Field(None, ge=1)
    success_threshold: int | None = Field(None, ge=1)
    quorum: int | None = Field(None, ge=1)
    retry_interval: Duration | None = None
    latency: LatencyThresholds | None = None


class Component(Strict):
    """What staff see on the status page: 登录, 查询, 开票, 数据同步 ..."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
    name: Text
    description: Text = ""
    public: bool = Field(True, description="shown on the public status page")
    group: str | None = None


class StatusPageSection(Strict):
    enabled: bool = True
    listen: str = Field("127.0.0.1", description="address the built-in server binds")
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")
    output_dir: str = Field("var/status", description="where the static page is written")
    title: Text = Field(default_factory=lambda: {"zh-CN": "电子发票服务状态", "en": "E-invoice service status"})


class Config(Strict):
    """The whole config file."""

    monitor: MonitorSection = Field(default_factory=MonitorSection)
    defaults: CheckDefaults = Field(default_factory=CheckDefaults)
    components: list[Component] = Field(default_factory=list)
    checks: list[AnyCheckSpec] = Field(default_factory=list)
    # Filled by later capabilities; typed loosely until their models land.
    platforms: dict[str, Any] = Field(default_factory=dict)
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
