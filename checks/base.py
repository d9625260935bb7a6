"""What every check kind shares: the Result it returns, the Context it runs in, the spec base.

A check kind is one module in `checks/` exporting

    class Spec(CheckSpec):            # pydantic model, `kind: Literal["<kind>"]`
        ...
    async def run(spec: Spec, ctx: Context) -> Result

and one line in `checks/__init__.py`'s KINDS. A check knows nothing of storage, alerting or
the status page. It never raises because the *target* is broken: that is a Result with status
down and the evidence (conditions, steps, message). It may raise CheckError for its own setup.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from monitor.cron import CronExpr
from monitor.durations import Duration, PositiveDuration

if TYPE_CHECKING:
    from checks.client import HttpClientFactory
    from monitor.clock import Clock
    from monitor.secrets import Redactor


class Status(StrEnum):
    """What one probe found. The evaluator turns a series of these into a check state."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Status.UP: 0, Status.DEGRADED: 1, Status.DOWN: 2}


def worst(*statuses: Status) -> Status:
    return max(statuses, key=lambda s: s.rank, default=Status.UP)


@dataclass(slots=True)
class ConditionResult:
    """One condition of a check, e.g. `[STATUS] == 200`, with what it actually saw."""

    condition: str
    ok: bool
    actual: Any = None
    error: str | None = None  # set when the condition could not be evaluated at all


@dataclass(slots=True)
class StepResult:
    """One step of a multi-step check (a flow, a login, an issuance)."""

    name: str
    status: Status
    latency_ms: float | None = None
    message: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    conditions: list[ConditionResult] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Result:
    """What one run of one check found.

    `latency_ms` is the headline figure (total time of the probe); `phases` splits it
    (dns, connect, tls, ttfb, total; all milliseconds). `values` holds measured figures a
    later rule may use (lag_s, missing_fields, token_requests, http_status, ...).
    """

    check: str
    status: Status
    started_at: datetime
    latency_ms: float | None = None
    message: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    conditions: list[ConditionResult] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    location: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.UP

    def detail(self) -> dict[str, Any]:
        """Conditions and steps as plain JSON-able data (what the store keeps as evidence)."""
        return {
            "conditions": [dataclasses.asdict(c) for c in self.conditions],
            "steps": [dataclasses.asdict(s) for s in self.steps],
        }


@dataclass
class Context:
    """Everything a check may touch. Nothing else: no store, no config file, no global state."""

    clock: Clock
    http: HttpClientFactory
    redactor: Redactor
    location: str = ""
    # Later capabilities hang their shared services here (platform sessions, token caches),
    # keyed by name; a check looks up only what its kind documents.
    services: dict[str, Any] = field(default_factory=dict)


class LatencyThresholds(BaseModel):
    """Latency above `degraded` makes an otherwise healthy probe degraded; above `down`, down."""

    model_config = ConfigDict(extra="forbid")

    degraded: Duration | None = None
    down: Duration | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LatencyThresholds:
        if self.degraded is not None and self.down is not None and self.degraded >= self.down:
            raise ValueError("degraded must be lower than down")
        return self


class CheckSpec(BaseModel):
    """Keys every check has, whatever its kind. Defaults come from the config's `defaults:`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=120, description="unique name, shown in alerts")
    kind: str
    component: str | None = Field(None, description="id of the component this check reports on")
    description: str = ""
    enabled: bool = True
    interval: PositiveDuration = Field(timedelta(seconds=60), description="time between runs")
    cron: CronExpr | None = Field(None, description="5-field cron expression; replaces interval")
    timeout: PositiveDuration = Field(timedelta(seconds=10), description="a run taking longer is down")
    latency: LatencyThresholds = Field(default_factory=LatencyThresholds)
    role: Literal["normal", "baseline"] = Field(
        "normal", description="baseline: our own network, the 'is it us?' test"
    )
    depends_on: list[str] = Field(default_factory=list, description="names of checks this needs")
    locations: list[str] = Field(default_factory=list, description="run only at these locations")
    failure_threshold: int = Field(3, ge=1, description="failures in a row before down")
    success_threshold: int = Field(2, ge=1, description="successes in a row before up again")
    quorum: int | None = Field(
        None, ge=1, description="with several locations: down when at least this many are down (default: a majority)"
    )
    retry_interval: PositiveDuration = Field(
        timedelta(seconds=10), description="re-check this soon after a failure"
    )
    runbook: str | None = Field(None, description="URL of the on-call runbook for this check")

    @field_validator("timeout")
    @classmethod
    def _timeout_within_interval(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        interval = info.data.get("interval")
        if info.data.get("cron") is None and interval is not None and value > interval:
            raise ValueError(f"timeout ({value.total_seconds():g}s) must not exceed interval ({interval.total_seconds():g}s)")
        return value
