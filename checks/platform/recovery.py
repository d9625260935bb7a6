"""The background canary sweep: every canary the ledger still holds open is voided or
red-flushed, at start (a crash's leftovers) and then whenever its retry is due (see
checks/platform/sweep.py for how a row is settled and the backoff), so a canary is cancelled
even when the check that issued it no longer runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from checks.platform.registry import PlatformRegistry
from checks.platform.sweep import recover

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class PlatformService:
    """Sweeps canaries in the background; the registry itself follows reloads through
    `PlatformRegistry.update`."""

    def __init__(self, registry: PlatformRegistry) -> None:
        self.registry = registry
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(sweep_forever(self.registry), name="canary-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # The registry itself is closed with the rest of ctx.services (runtime.close_context).


async def sweep_forever(registry: PlatformRegistry, *, longest: float = 60.0, sleep: Sleep = asyncio.sleep) -> None:
    """Cancel every open canary: all of them at start, then each row when its retry is due.

    Sleeps until the earliest retry (at least 1 s, at most `longest`, which is also how soon a
    canary a check left behind is picked up). Real time (`sleep`), not the checks' poll
    sleep: this loop never ends.
    """
    first = True
    while True:
        wait = longest
        for name in registry.names:
            try:
                outcome = await recover(registry, name, due_only=not first)
            except Exception:
                log.exception("sweeping the canaries of %s failed", name)
                continue
            if outcome.found:
                log.warning("platform %s: %s", name, outcome.summary())
            if outcome.next_due is not None:
                wait = min(wait, (outcome.next_due - registry.clock.now()).total_seconds())
        first = False
        await sleep(max(wait, 1.0))
