"""Config sections of deciding: `evaluation:`, `incidents:`, `maintenance:`, `slos:`.

Cross-references (unknown component ids) are checked by the loader's `_cross_check`, which
knows file positions; the rules these knobs drive live in `monitor.rulebook`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from monitor.core.cron import CronExpr
from monitor.core.durations import Duration
from monitor.core.text import Strict, Text
from monitor.core.zones import ZoneName

ComponentId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


class Flapping(Strict):
    changes: int = Field(5, ge=2, description="state changes inside the window that make a check flapping")
    window: Duration = Field(timedelta(minutes=30), description="how far back changes are counted")


class EvaluationSection(Strict):
    """How results become a check's state (per-check thresholds stay on the check)."""

    flapping: Flapping = Field(default_factory=Flapping)
    stale_after_runs: int = Field(3, ge=1, description="missed runs before a check shows unknown")
    sweep_interval: Duration = Field(
        timedelta(seconds=2), description="how often staleness, maintenance and quiet periods are looked at"
    )
    persist_interval: Duration = Field(
        timedelta(seconds=30), description="counters without a state change are saved at most this often"
    )


class IncidentsSection(Strict):
    """When incidents open and close."""

    resolve_after: Duration = Field(
        timedelta(minutes=10), description="quiet period in monitoring before an incident resolves itself"
    )
    open_on_degraded: bool = Field(True, description="a confirmed degraded check opens a minor incident")
    network_component: ComponentId = Field(
        "network", description="component id of the one 'local network' incident opened when a baseline is down"
    )


class MaintenanceWindowConfig(Strict):
    """A planned window: one-off (`start` + `end`/`duration`) or recurring (`cron` + `duration`).

    Naive times are read in `timezone` (default: monitor.timezone). During a window checks
    still run and are recorded; alerts are held, the components show under_maintenance and
    uptime does not count it as downtime.
    """

    title: Text
    description: Text = ""
    components: list[ComponentId] = Field(default_factory=list, description="component ids; empty = everything")
    start: datetime | None = Field(None, description="one-off: start; recurring: first day it applies")
    end: datetime | None = Field(None, description="one-off: end; recurring: last day it applies")
    duration: Duration | None = Field(None, description="length of the window (or of each occurrence)")
    cron: CronExpr | None = Field(None, description="recurring: 5-field crontab of each occurrence's start (0 = Sunday)")
    timezone: ZoneName | None = Field(None, description="IANA zone for start/end/cron (default monitor.timezone)")

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindowConfig:
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValueError("duration must be longer than zero")
        if self.cron is not None:
            if self.duration is None:
                raise ValueError("a recurring window (cron) needs a duration")
        else:
            if self.start is None:
                raise ValueError("a window needs start (one-off) or cron (recurring)")
            if (self.end is None) == (self.duration is None):
                raise ValueError("a one-off window needs exactly one of end or duration")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def bounds(self, default_zone: str) -> tuple[datetime | None, datetime | None, str]:
        """(starts_at, ends_at, zone) in aware UTC. One-off: the window. Recurring: the
        period the recurrence applies (ends_at None = open-ended)."""
        zone_name = self.timezone or default_zone
        zone = ZoneInfo(zone_name)
        start = _aware(self.start, zone)
        end = _aware(self.end, zone)
        if self.cron is None and end is None and start is not None and self.duration is not None:
            end = start + self.duration
        return start, end, zone_name


class SloConfig(Strict):
    """A service-level objective for one component, measured over its checks' results."""

    name: str | None = Field(None, max_length=64, description="id of this SLO (default: the component id)")
    component: ComponentId
    objective: Annotated[
        float,
        WithJsonSchema(
            {
                "anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"}],
                "description": "target share of good probes: 99.5%, 99.5 (percent) or 0.995",
            }
        ),
    ]
    latency: Duration | None = Field(None, description="a probe is good only if also faster than this")
    window: Duration = Field(timedelta(days=30), description="the SLO period the error budget covers")
    checks: list[str] = Field(default_factory=list, description="checks counted (default: every check of the component)")

    @field_validator("objective", mode="before")
    @classmethod
    def _objective(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("%"):
            return float(value.strip()[:-1])
        return value

    @field_validator("objective")
    @classmethod
    def _fraction(cls, value: float) -> float:
        fraction = value / 100 if value > 1 else value
        if not 0 < fraction < 1:
            raise ValueError("objective must be between 0 and 100% (exclusive), e.g. 99.5 or 0.995")
        return fraction

    @property
    def id(self) -> str:
        return self.name or self.component


def _aware(value: datetime | None, zone: tzinfo) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def cross_check(data: dict[str, Any], src: Any, component_ids: Iterable[str], check_names: Iterable[str]) -> list[Any]:
    """References from these sections to components and checks (called by the loader's
    `_cross_check`, which passes the parsed data and its Source for positions)."""
    import difflib

    comps, checks = set(component_ids), set(check_names)
    problems = []

    def unknown(what: str, value: str, known: set[str]) -> str:
        hint = difflib.get_close_matches(value, sorted(known), n=1)
        return f"unknown {what} {value!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")

    windows = data.get("maintenance")
    for i, w in enumerate(windows if isinstance(windows, list) else []):
        ids = w.get("components") if isinstance(w, dict) else None
        for j, cid in enumerate(ids if isinstance(ids, list) else []):
            if isinstance(cid, str) and cid not in comps:
                problems.append(src.problem(("maintenance", i, "components", j), unknown("component", cid, comps)))
    slos = data.get("slos")
    seen: set[str] = set()
    for i, s in enumerate(slos if isinstance(slos, list) else []):
        if not isinstance(s, dict):
            continue
        cid = s.get("component")
        if isinstance(cid, str) and cid not in comps:
            problems.append(src.problem(("slos", i, "component"), unknown("component", cid, comps)))
        names = s.get("checks")
        for j, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str) and name not in checks:
                problems.append(src.problem(("slos", i, "checks", j), unknown("check", name, checks)))
        sid = s.get("name") or cid
        if isinstance(sid, str):
            if sid in seen:
                problems.append(src.problem(("slos", i), f"duplicate SLO {sid!r}: give each SLO of a component a name"))
            seen.add(sid)
    return problems
