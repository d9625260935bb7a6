"""Spec pieces the invoice check kinds share: which platform and account, windows, thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from checks.platform.references import PlatformName, PlatformUser, unresolved
from monitor.core.durations import Duration


class PlatformTarget(BaseModel):
    """`platform:` (a name under platforms:) and optionally `user:` (under that platform's users:)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: PlatformName
    user: PlatformUser = Field(None, description="log in as this entry of the platform's users: (default: its credentials)")
    variables: dict[str, Any] = Field(default_factory=dict, description="more {variables} for the requests")

    # Names are resolved against the config's platforms when the loader validates
    # (checks.platform.references).
    @model_validator(mode="after")
    def _known_operation(self, info: ValidationInfo) -> Any:
        """A kind's own `operation:` (given, or its default) must be one of the platform's."""
        operation = getattr(self, "operation", None)
        found = unresolved(info, self.platform)
        if found is not None and isinstance(operation, str):
            found.operation(("operation",), operation)
            found.raise_if(type(self).__name__)
        return self


def window_variables(now: datetime, window: timedelta) -> dict[str, Any]:
    """{since} and {until} for list operations: the last `window` up to now."""
    return {"since": now - window, "until": now}


def _share(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1]) / 100
    return value


Share = Annotated[
    float,
    BeforeValidator(_share),
    Field(ge=0, le=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
            ],
            "description": "a share: 0.05 or 5%",
        }
    ),
]


def _down_only(value: Any) -> Any:
    """`max_lag: 10m` is shorthand for `max_lag: {down: 10m}`."""
    if isinstance(value, str | int | float | timedelta):
        return {"down": value}
    return value


class _Ordered(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _ordered(self) -> Any:
        d, dn = getattr(self, "degraded"), getattr(self, "down")  # noqa: B009
        if d is not None and dn is not None and d > dn:
            raise ValueError("degraded must not be above down")
        return self


class DurationThresholds(_Ordered):
    degraded: Duration | None = None
    down: Duration | None = None


class ShareThresholds(_Ordered):
    degraded: Share | None = None
    down: Share | None = None


class CountThresholds(_Ordered):
    degraded: int | None = Field(None, ge=0)
    down: int | None = Field(None, ge=0)


LagThresholds = Annotated[DurationThresholds, BeforeValidator(_down_only)]
