"""The keys every check has, whatever its kind: `CheckSpec`, the base of each kind's `Spec`.

The rulebook judges results by these keys alone (thresholds, retry interval, quorum,
locations), so it needs no check kind; each kind in `checks/` adds its own keys.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from monitor.core.addresses import WebUrl
from monitor.core.cron import CronExpr
from monitor.core.durations import Duration, PositiveDuration


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
    weight: Literal["critical", "normal", "minor"] = Field(
        "normal",
        description="what this check down means for its component: critical = a major outage whatever "
        "the other checks say; normal = counted with the others; minor = at most degraded performance",
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
    runbook: WebUrl | None = Field(None, description="http(s) URL of the on-call runbook for this check")

    @field_validator("timeout")
    @classmethod
    def _timeout_within_interval(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        interval = info.data.get("interval")
        if info.data.get("cron") is None and interval is not None and value > interval:
            raise ValueError(f"timeout ({value.total_seconds():g}s) must not exceed interval ({interval.total_seconds():g}s)")
        return value
