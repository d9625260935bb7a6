"""What the evaluator tells its caller. Plain values; the caller decides what to do with them.

    StateChanged      a check's health or shown status changed (persist it, re-derive incidents)
    Recheck           run this check again after `delay` (fast re-check: confirm or clear sooner)
    FlappingStarted   the check changed state too often inside the window: one notice, once
    FlappingStopped   the check has held one state for a whole window again
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class StateChanged:
    check: str
    at: datetime
    old_status: str
    new_status: str
    old_health: str
    new_health: str


@dataclass(frozen=True, slots=True)
class Recheck:
    check: str
    delay: timedelta


@dataclass(frozen=True, slots=True)
class FlappingStarted:
    check: str
    at: datetime
    changes: int  # transitions inside the window when flapping was declared


@dataclass(frozen=True, slots=True)
class FlappingStopped:
    check: str
    at: datetime


Event = StateChanged | Recheck | FlappingStarted | FlappingStopped
