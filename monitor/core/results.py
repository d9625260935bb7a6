"""What a probe found: Status, and the Result with its per-condition and per-step evidence.

Every part speaks this vocabulary: checks return a Result, the store keeps it, the rulebook
judges a series of them, messages and pages show their evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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
        """Conditions and steps as plain JSON-able data (what the store keeps as evidence).

        Built field by field: `dataclasses.asdict` deep-copies every value and was half of the
        writer's CPU per row (bench/probe_cost.py). The values are JSON-able already."""
        return {
            "conditions": [condition_data(c) for c in self.conditions],
            "steps": [
                {
                    "name": s.name,
                    "status": s.status,
                    "latency_ms": s.latency_ms,
                    "message": s.message,
                    "phases": dict(s.phases),
                    "conditions": [condition_data(c) for c in s.conditions],
                    "values": dict(s.values),
                }
                for s in self.steps
            ],
        }


def condition_data(c: ConditionResult) -> dict[str, Any]:
    return {"condition": c.condition, "ok": c.ok, "actual": c.actual, "error": c.error}
