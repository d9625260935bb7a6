"""After a crash: every canary the ledger still holds open is voided or red-flushed as soon as
the monitor starts, retrying (backing off) while some are still being issued.
"""

from __future__ import annotations

import asyncio
import logging

from checks.platform.canary import recover
from checks.platform.registry import PlatformRegistry

log = logging.getLogger(__name__)


class PlatformService:
    """Sweeps leftover canaries at start (in the background, retrying while some are still
    being issued); the registry itself follows reloads through `PlatformRegistry.update`."""

    def __init__(self, registry: PlatformRegistry) -> None:
        self.registry = registry
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(recover_all(self.registry), name="canary-recovery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # The registry itself is closed with the rest of ctx.services (runtime.close_context).


async def recover_all(registry: PlatformRegistry, *, first_retry: float = 2.0, max_retry: float = 300.0) -> None:
    """Cancel every leftover canary; retry (backing off) while some are still being issued.

    A canary the crash left in "issuing" cannot be voided yet, so one sweep is not enough.
    """
    pending = set(registry.names)
    delay = first_retry
    while pending:
        for name in sorted(pending):
            try:
                outcome = await recover(registry, name)
            except Exception:
                log.exception("cleaning up leftover canaries of %s failed", name)
                continue
            if outcome.found:
                log.warning("platform %s: %s", name, outcome.summary())
            if not outcome.still_open:
                pending.discard(name)
        if pending:
            await registry.sleep(delay)
            delay = min(delay * 2, max_retry)
