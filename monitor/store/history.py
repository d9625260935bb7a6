"""A check's own stored results, for checks that learn from them (`freshness`): the store's
side of `checks.platform.history.History`, put into `ctx.services["history"]` by the
composition root (monitor/runtime.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from monitor.store import Store


class ResultHistory:
    """Reads `check_result` rows in a worker thread; results still buffered in the writer
    (about `monitor.write_interval`) are not seen yet, which learning over days never notices."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def values(self, check: str, since: datetime) -> list[tuple[datetime, dict[str, Any]]]:
        rows = await asyncio.to_thread(self.store.results, check, since=since, newest_first=False)
        return [(row.ts, dict(row.values or {})) for row in rows]
