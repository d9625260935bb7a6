"""What the evaluator remembers about one check, and how it is kept in `check_state.data`.

A check's *health* (up, degraded, down, unknown) is the confirmed verdict after thresholds and
location quorum. Two overlays change only what is shown, never the health underneath:
`stale` (no result for too long: shown as unknown) and `maintenance` (shown as maintenance).
Keeping them apart is what lets an incident survive a restart or a maintenance window: the
health that opened it is still there when the overlay lifts.

Every value here is immutable; `evaluate` returns a new state, so the service can hand a
snapshot of all states to a worker thread without copying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core.results import Result, Status
from monitor.rulebook.cause import classify

UP, DEGRADED, DOWN, UNKNOWN, MAINTENANCE = "up", "degraded", "down", "unknown", "maintenance"
HEALTHS = (UP, DEGRADED, DOWN, UNKNOWN)
STATUSES = (*HEALTHS, MAINTENANCE)
RECENT = 5  # results kept as evidence (the alert's "last results")
INTERMITTENT_SUCCESSES = 2  # successes between failures of a down check that make it intermittent
HEALTHY_RUN = "uuuuu"  # successes in a row that end whatever failed before (intermittent counts after them)
OUTCOMES = 20  # latest results' statuses kept (one letter each) to tell an intermittent failure
_RANK = {UP: 0, DEGRADED: 1, DOWN: 2}


def rank(health: str) -> int:
    """Severity order of healths; unknown ranks with up (it is not evidence of a problem)."""
    return _RANK.get(health, 0)


@dataclass(frozen=True, slots=True)
class Probe:
    """One result, as much as an alert shows of it."""

    at: datetime
    status: str
    latency_ms: float | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "status": self.status, "latency_ms": self.latency_ms, "message": self.message}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Probe:
        return cls(datetime.fromisoformat(d["at"]), d["status"], d.get("latency_ms"), d.get("message", ""))


@dataclass(frozen=True, slots=True)
class LocationState:
    """Counters for one network location. Runs count consecutive results of a kind."""

    health: str = UNKNOWN
    last_status: str | None = None
    last_at: datetime | None = None
    down_run: int = 0  # consecutive down results
    bad_run: int = 0  # consecutive results that were not up
    notdown_run: int = 0  # consecutive results that were not down
    up_run: int = 0  # consecutive up results
    failing_since: datetime | None = None  # first not-up result of the current bad run

    @property
    def pending(self) -> bool:
        """A transition is in progress: the latest result disagrees with the confirmed health."""
        if self.last_status is None:
            return False
        if self.health == UNKNOWN:
            return self.last_status != UP
        return self.last_status != self.health

    def to_json(self) -> dict[str, Any]:
        return {
            "health": self.health,
            "last_status": self.last_status,
            "last_at": _iso(self.last_at),
            "runs": [self.down_run, self.bad_run, self.notdown_run, self.up_run],
            "failing_since": _iso(self.failing_since),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LocationState:
        runs = list(d.get("runs") or [0, 0, 0, 0])
        return cls(
            health=d.get("health", UNKNOWN),
            last_status=d.get("last_status"),
            last_at=_dt(d.get("last_at")),
            down_run=runs[0],
            bad_run=runs[1],
            notdown_run=runs[2],
            up_run=runs[3],
            failing_since=_dt(d.get("failing_since")),
        )


@dataclass(frozen=True, slots=True)
class CheckState:
    """The evaluator's whole memory of one check (all locations together)."""

    check: str
    since: datetime  # when `status` last changed
    health: str = UNKNOWN
    stale: bool = False
    maintenance: bool = False
    flapping: bool = False
    changes: tuple[datetime, ...] = ()  # health transitions inside the flapping window
    locations: Mapping[str, LocationState] = field(default_factory=dict)
    failing_since: datetime | None = None  # first failing result of the current problem
    evidence: Mapping[str, Any] | None = None  # details of the latest failing result
    recent: tuple[Probe, ...] = ()
    last_result_at: datetime | None = None
    outcomes: str = ""  # the latest OUTCOMES results, oldest first: u(p), g (degraded), d(own)

    @property
    def status(self) -> str:
        """What people see: maintenance and staleness cover the health."""
        if self.maintenance:
            return MAINTENANCE
        if self.stale:
            return UNKNOWN
        return self.health

    @property
    def fresh_health(self) -> str:
        """Health if the check is reporting, else unknown (what components and incidents use)."""
        return UNKNOWN if self.stale else self.health

    @property
    def pending(self) -> bool:
        """Some location is part-way to a worse verdict (one or more failures, not yet confirmed)."""
        return any(ls.pending and rank(ls.last_status or UP) > rank(ls.health) for ls in self.locations.values())

    @property
    def failing(self) -> bool:
        return self.fresh_health in (DOWN, DEGRADED)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "health": self.health,
            "stale": self.stale,
            "maintenance": self.maintenance,
            "flapping": self.flapping,
            "changes": [c.isoformat() for c in self.changes],
            "locations": {k: v.to_json() for k, v in self.locations.items()},
            "failing_since": _iso(self.failing_since),
            "evidence": dict(self.evidence) if self.evidence is not None else None,
            "recent": [p.to_json() for p in self.recent],
            "last_result_at": _iso(self.last_result_at),
            "outcomes": self.outcomes,
        }

    @classmethod
    def from_json(cls, check: str, since: datetime, d: Mapping[str, Any] | None) -> CheckState:
        """Rebuild a state from `check_state` (status/since columns plus the data JSON)."""
        if not d or d.get("v") != 1:
            return cls(check=check, since=since)
        return cls(
            check=check,
            since=since,
            health=d.get("health", UNKNOWN),
            stale=bool(d.get("stale")),
            maintenance=bool(d.get("maintenance")),
            flapping=bool(d.get("flapping")),
            changes=tuple(datetime.fromisoformat(c) for c in d.get("changes") or ()),
            locations={k: LocationState.from_json(v) for k, v in (d.get("locations") or {}).items()},
            failing_since=_dt(d.get("failing_since")),
            evidence=d.get("evidence"),
            recent=tuple(Probe.from_json(p) for p in d.get("recent") or ()),
            last_result_at=_dt(d.get("last_result_at")),
            outcomes=str(d.get("outcomes") or ""),
        )


def intermittent(state: CheckState) -> tuple[int, int] | None:
    """(failed, runs) when a down check fails intermittently: among its latest results
    successes (two at least: one lucky run is not a pattern) lie between failures, so the
    platform answers some of the time. Counted from its first failure after the last five
    successes in a row (the platform was fine then; the successes before an outage began are
    not part of it)."""
    if state.health != DOWN or len(state.locations) > 1:
        return None  # several locations: successes beside failures are where, not how often (quorum)
    cut = state.outcomes.rfind(HEALTHY_RUN)  # the platform was fine then
    seq = [c != "u" for c in state.outcomes[cut + len(HEALTHY_RUN) if cut >= 0 else 0:]]
    if True not in seq:
        return None
    seq = seq[seq.index(True):]
    last = len(seq) - 1 - seq[::-1].index(True)
    if seq[: last + 1].count(False) < INTERMITTENT_SUCCESSES:
        return None
    return sum(seq), len(seq)


def evidence_at(state: CheckState) -> datetime | None:
    """When the result the state's evidence comes from was taken."""
    at = (state.evidence or {}).get("at")
    return datetime.fromisoformat(at) if isinstance(at, str) else None


def evidence_of(result: Result, kind: str = "") -> dict[str, Any]:
    """The facts an on-call engineer needs from a failing result: which step, what the
    platform said (envelope code and message), the HTTP status, timings, and the probable
    cause they point to (rulebook/cause.py)."""
    failed_step = next((s for s in result.steps if s.status is not Status.UP), None)
    values: dict[str, Any] = dict(result.values)
    if failed_step is not None:
        values = {**values, **failed_step.values}
    failed_conditions = [c.condition for c in result.conditions if not c.ok]
    if failed_step is not None:
        failed_conditions += [c.condition for c in failed_step.conditions if not c.ok]
    out: dict[str, Any] = {
        "check": result.check,
        "status": str(result.status),
        "at": result.started_at.isoformat(),
        "location": result.location,
        "message": result.message[:500],
        "latency_ms": result.latency_ms,
        "phases": dict(result.phases),
    }
    if failed_step is not None:
        out["step"] = failed_step.name
        out["step_message"] = failed_step.message[:500]
        if failed_step.phases:
            out["phases"] = dict(failed_step.phases)
    for key in ("envelope_code", "envelope_message", "http_status"):
        if values.get(key) is not None:
            out[key] = values[key]
    if failed_conditions:
        out["failed_conditions"] = failed_conditions[:10]
    out["cause"] = classify(result, kind=kind).to_json()
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
