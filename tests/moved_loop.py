"""An event loop whose clock the test moves, for code that waits on the loop's timers.

`FakeClock` moves what code reads as "now"; code that *waits* (the scheduler's slots on
`loop.call_at`, a service's `asyncio.timeout` until its next look) waits on the event loop's
own clock. `run_moved(main)` runs `main(clock)` on a loop whose `time()` is the real
monotonic time plus how far the test has moved it; `clock.advance(s)` moves the FakeClock and
the loop together, so a timer s seconds away is due on the loop's next turn, and nothing is
due before the test says so (real seconds do pass meanwhile, a few milliseconds per step).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from monitor.core.clock import FakeClock

T = TypeVar("T")


class MovedLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.moved = 0.0

    def time(self) -> float:
        return super().time() + self.moved


class MovedClock(FakeClock):
    """A FakeClock whose `advance` moves the loop's clock by as much."""

    def __init__(self, loop: MovedLoop, start: datetime | None = None) -> None:
        super().__init__(start)
        self.loop = loop

    def advance(self, delta: timedelta | float) -> datetime:
        now = super().advance(delta)
        self.loop.moved += delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        return now


async def turns(n: int = 20) -> None:
    """Let the loop run `n` turns: timers that are due fire, the tasks they start take steps."""
    for _ in range(n):
        await asyncio.sleep(0)


def run_moved(main: Callable[[MovedClock], Awaitable[T]], start: datetime | None = None) -> T:
    loop = MovedLoop()
    try:
        return loop.run_until_complete(main(MovedClock(loop, start)))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
