"""The pure evaluator: `(state, result, now, spec) -> (state, events)`. No I/O, no clock.

`monitor.evaluate.rules` holds the rules (thresholds, fast re-check, quorum, flapping,
staleness); `state` the immutable per-check memory kept in `check_state.data`; `events` what
the caller is told. Incidents, components and notices are derived from these states by
`monitor.incidents`, never in here.
"""

from __future__ import annotations

from monitor.evaluate.events import Event, FlappingStarted, FlappingStopped, Recheck, StateChanged
from monitor.evaluate.rules import DEFAULT_RULES, Rules, combine, evaluate, new_state, stale_deadline, sweep
from monitor.evaluate.state import (
    DEGRADED,
    DOWN,
    HEALTHS,
    MAINTENANCE,
    STATUSES,
    UNKNOWN,
    UP,
    CheckState,
    LocationState,
    Probe,
    evidence_of,
)

__all__ = [
    "DEFAULT_RULES",
    "DEGRADED",
    "DOWN",
    "HEALTHS",
    "MAINTENANCE",
    "STATUSES",
    "UNKNOWN",
    "UP",
    "CheckState",
    "Event",
    "FlappingStarted",
    "FlappingStopped",
    "LocationState",
    "Probe",
    "Recheck",
    "Rules",
    "StateChanged",
    "combine",
    "evaluate",
    "evidence_of",
    "new_state",
    "stale_deadline",
    "sweep",
]
