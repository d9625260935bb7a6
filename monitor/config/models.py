"""The config file as pydantic models. The same models validate YAML and export the JSON Schema.

`Config` is the whole file; this module holds the root sections (monitor, defaults,
components) and assembles the others, one module each in this package: deciding
(evaluation, incidents, maintenance, slos), notifications (channels, routes, escalation,
announcements, notifications), status_page, simulator. Checks' own keys live with their
kind in `checks/`, platforms in `checks/platform/models.py`.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from checks import KINDS, CheckSpec, spec_union
from checks.platform.models import PlatformProfile
from checks.sqlgate import known_url, url_problem
from monitor.config.deciding import EvaluationSection, IncidentsSection, MaintenanceWindowConfig, SloConfig
from monitor.config.notifications import Announcements, Channel, Delivery, Escalation, Route
from monitor.config.simulator import SimulatorSection
from monitor.config.status_page import StatusPageSection
from monitor.core.cron import CronExpr
from monitor.core.durations import PositiveDuration
from monitor.core.spec import LatencyThresholds
from monitor.core.text import Language, Strict, Text
from monitor.core.zones import ZoneName


class SelfHeartbeat(Strict):
    """A dead-man's switch outside this machine (Healthchecks.io, Uptime Kuma push, cron-job
    monitors): pinged every `interval` while the monitor is healthy, so when the monitor dies,
    hangs or stops recording, the pings stop and the outside service raises the alarm."""

    url: str = Field(
        description="http(s) URL to GET, e.g. https://hc-ping.com/<uuid>; the path is usually a "
        "secret, so give it as ${ENV}",
    )
    interval: PositiveDuration = Field(timedelta(seconds=60), description="time between pings")
    timeout: PositiveDuration = Field(timedelta(seconds=10), description="a ping taking longer has failed")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http:// or https:// URL with a host")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_within_interval(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        interval = info.data.get("interval")
        if interval is not None and value >= interval:
            raise ValueError(
                f"timeout ({value.total_seconds():g}s) must be shorter than interval ({interval.total_seconds():g}s)"
            )
        return value


DEFAULT_STATE_DIR = "./var"


class RetentionSection(Strict):
    """How long each history is kept beside the raw results (`monitor.result_retention`), and
    when the nightly job prunes (`invoicewatch prune` does the same at once)."""

    schedule: CronExpr = Field("30 3 * * *", description="when the nightly prune runs (crontab, monitor.timezone)")
    rollups: PositiveDuration = Field(timedelta(days=400), description="hourly and daily rollups (the page's "
                                      "bars, uptime, latency chart and the report read them)")
    passing_results: PositiveDuration = Field(
        timedelta(days=1), description="passing results like the one before them (no evidence): once their "
        "hour is rolled up they add nothing the rollups lack; failures and changes stay result_retention"
    )
    outbox: PositiveDuration = Field(timedelta(days=30), description="sent or failed messages and their delivery "
                                     "attempts (pending ones are never pruned)")
    incident_timelines: PositiveDuration = Field(timedelta(days=90), description="updates of incidents resolved "
                                                 "longer ago than this, except the first and the last")
    incidents: PositiveDuration = Field(timedelta(days=400), description="incidents resolved (announcements "
                                        "closed) longer ago than this, with their updates")
    status_changes: PositiveDuration = Field(timedelta(days=400), description="component status changes (each "
                                             "component's last one before the cutoff is kept)")
    pings: PositiveDuration = Field(timedelta(days=14), description="heartbeat pings (each check's newest of "
                                    "each kind is kept)")


Role = Literal["all", "probe", "controller"]
ROLES: tuple[Role, ...] = ("all", "probe", "controller")


def role_problem(role: str, database: str) -> str | None:
    """Why `role` cannot run on `database`, or None. A probe/controller split shares one
    database between machines and elects its controller through it: only PostgreSQL can."""
    if role != "all" and database.startswith("sqlite"):
        return (f"role {role!r} needs PostgreSQL (monitor.database is SQLite, where 'all' is the only "
                "role: one process probes, decides and sends)")
    return None


class MonitorSection(Strict):
    """The monitor itself: who it is, where it keeps data, how hard it may probe, and which
    part of the work this node does when several share one PostgreSQL database."""

    name: str = Field("invoicewatch", description="shown in alerts and on the status page")
    timezone: ZoneName = Field("Asia/Shanghai", description="IANA zone for cron and displayed times")
    language: Language = Field("zh-CN", description="default language of messages and the page")
    database: str = Field(
        "sqlite:///var/invoicewatch.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    journal: str | None = Field(
        None,
        description="file of messages sent directly while the database refused writes (default: beside "
        "the SQLite file, or $STATE_DIRECTORY / var/ for PostgreSQL)",
    )
    location: str = Field(
        "local", min_length=1, max_length=64, description="name of the network location this node probes from"
    )
    role: Role = Field(
        "all",
        description="all: probe, decide, send and serve in one process (the only role on SQLite); "
        "probe: run the checks of this location and write results, nothing else; controller: "
        "decide, send and render the page while it is the elected leader (standby otherwise), "
        "probe nothing. `run --role` overrides it",
    )
    node: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="this node's name in `status` and in notices (default: the location for all and "
        "probe nodes, the host name for a controller); unique among the nodes of one database",
    )
    lease: PositiveDuration = Field(
        timedelta(seconds=10),
        description="leadership lease (PostgreSQL): the leader renews every lease/5 and stops acting when "
        "it could not for a lease; a standby takes over at most lease + lease/5 after the leader stopped",
    )
    node_silent_after: PositiveDuration = Field(
        timedelta(seconds=60),
        description="a node that has not reported for this long is silent: a monitor problem, and its "
        "location's checks are unknown (not down) until it reports again",
    )
    max_concurrent_probes: int = Field(200, ge=1, le=10000, description="global cap on probes in flight")
    result_retention: PositiveDuration = Field(
        timedelta(days=14), description="raw results older than this are pruned (after they are rolled up)"
    )
    retention: RetentionSection = Field(default_factory=RetentionSection, description="every other history")
    state_dir: str = Field(DEFAULT_STATE_DIR, description="where the monitor keeps files that are not data: the "
                           "platform token file (mode 0600); relative: from the config file's folder; left at the "
                           "default under systemd: the unit's StateDirectory ($STATE_DIRECTORY)")
    write_batch_size: int = Field(500, ge=1, le=50000, description="results per database write")
    write_interval: PositiveDuration = Field(timedelta(seconds=1), description="longest wait before buffered results are written")
    self_heartbeat: SelfHeartbeat | None = Field(
        None, description="ping an outside dead-man's switch while healthy (off when absent)"
    )
    reload_timeout: PositiveDuration = Field(
        timedelta(seconds=60), description="a config reload (SIGHUP) taking longer is abandoned; the running config stays"
    )
    reload_memory_mb: int = Field(
        2048, ge=64, le=1_048_576, description="memory a config reload may use (MiB); more and it is abandoned"
    )

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str) -> str:
        known = known_url(value)
        if known is not None:
            backend = known[0]
        else:
            import sqlalchemy as sa  # lazy: CLI start time (only for a URL not parsed by known_url)

            try:
                backend = sa.engine.make_url(value).get_backend_name()
            except (sa.exc.ArgumentError, ValueError):
                raise ValueError(f"{value!r} is not a database URL (sqlite:///path or postgresql+psycopg://...)") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r}; use sqlite or postgresql")
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("role")
    @classmethod
    def _role_on_database(cls, value: str, info: ValidationInfo) -> str:
        problem = role_problem(value, str(info.data.get("database") or ""))
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("lease")
    @classmethod
    def _lease_range(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=2) <= value <= timedelta(minutes=5):
            raise ValueError("lease must be between 2s and 5m (a standby takes over after about one lease)")
        return value

    @field_validator("node_silent_after")
    @classmethod
    def _silent_after_range(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=3):
            raise ValueError("node_silent_after must be at least 3s (nodes report every few seconds)")
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


class ChecksOfTheFile:
    """`checks:` is validated against the union of the kinds its items name, not of every
    kind: a load imports and builds only the check kinds its file uses (checks.KINDS). A list
    whose items are not all mappings of a known kind is validated against every kind, so
    what is wrong with it is said as before. Errors keep their place (`checks.3.tcp.port`);
    the JSON Schema is every kind's."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_plain_validator_function(_validate_checks)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(checks_adapter(frozenset(KINDS)).core_schema)


def _validate_checks(value: Any, info: ValidationInfo) -> list[CheckSpec]:
    if isinstance(value, list) and not value:
        return []
    named = [item.get("kind") if isinstance(item, dict) else None for item in value] if isinstance(value, list) else [None]
    known = all(isinstance(k, str) and k in KINDS for k in named)
    kinds = frozenset(named) if known else frozenset(KINDS)
    checks: list[CheckSpec] = checks_adapter(kinds).validate_python(value, context=info.context)
    return checks


@functools.lru_cache(maxsize=64)  # one per set of kinds a file uses
def checks_adapter(kinds: frozenset[str]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[spec_union(kinds)])  # type: ignore[misc,arg-type]  # a union built at run time


class Config(Strict):
    """The whole config file."""

    monitor: MonitorSection = Field(default_factory=MonitorSection)
    defaults: CheckDefaults = Field(default_factory=CheckDefaults)
    components: list[Component] = Field(default_factory=list)
    checks: Annotated[list[CheckSpec], ChecksOfTheFile()] = Field(default_factory=list)
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
    _unset: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def file(self) -> str:
        return self._file

    @property
    def unset(self) -> dict[str, str]:
        """Key path -> `${VAR}` of each value loaded without its secret (load_config(allow_unset=True))."""
        return self._unset

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
