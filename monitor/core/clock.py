"""The one source of time. Everything that needs "now" takes a Clock; tests move a FakeClock.

All datetimes are timezone-aware UTC. Display code converts to the configured zone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC wall-clock time."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for measuring durations."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.perf_counter()


class FakeClock:
    """A clock that only moves when told to. `advance` moves wall and monotonic time together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta | float) -> datetime:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds
        return self._now

    def set(self, when: datetime) -> None:
        self.advance(when - self._now)

    def jump(self, delta: timedelta | float) -> datetime:
        """Set the wall clock forwards or back (NTP stepping it, an admin, a VM resumed) while
        monotonic time goes on undisturbed, as a real system clock does."""
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self._now
