"""Small asyncio helpers the long-running services share."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set or `timeout` seconds pass; True if it was set.

    Why not `asyncio.wait_for(event.wait(), timeout)`: on Python 3.11 it swallows a
    cancellation that arrives in the same loop iteration as the event (CPython gh-86296), so a
    service cancelled right after a wake-up keeps running and its stop() never returns.
    `asyncio.timeout` counts cancellations and re-raises them.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


async def cancel(*tasks: asyncio.Task[object] | asyncio.Task[None] | None) -> None:
    """Cancel the given tasks (None: skipped) and wait until each has stopped: a service's
    stop() returns only when its loop is gone."""
    running = [t for t in tasks if t is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
