"""`ResultWriter`: results buffered in memory and written in batches from a background task,
so probing never waits on the database and a database hiccup loses nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from monitor.core.aio import wait_event
from monitor.core.errors import StoreError
from monitor.core.results import Result
from monitor.store.database import Store

log = logging.getLogger(__name__)


class ResultWriter:
    """Buffers results and writes them in batches from a background task.

    `add` never blocks on the database. A batch is written when `batch_size` results are
    waiting or `interval` seconds have passed. `close` flushes what is left. If the database
    refuses a write, the batch goes back to the front of the buffer and is retried (bounded
    by `max_buffer`, oldest dropped first with a logged count), so a database hiccup loses
    nothing. One flush runs at a time: two concurrent flushes would write a batch twice.
    """

    def __init__(
        self, store: Store, *, batch_size: int = 500, interval: float = 1.0, max_buffer: int = 200_000,
        node: str | None = None, urgent_failures: bool = False,
    ) -> None:
        """`node`: number the results in that node's sequence (what the deciding leader reads).
        `urgent_failures`: a result that is not up is written at once rather than at the next
        interval, so a controller elsewhere hears of a failure without waiting for the batch
        (under a storm the batches still form: everything buffered goes in one write)."""
        self.store = store
        self.node = node
        self.urgent_failures = urgent_failures
        self.batch_size = batch_size
        self.interval = interval
        self.max_buffer = max_buffer
        self._buffer: list[Result] = []
        self._writing = 0  # results taken out of the buffer by the flush in progress
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.written = 0
        self.dropped = 0
        self.rejected = 0
        self.failures = 0
        self.last_error: str | None = None
        self.on_written: list[Any] = []  # callbacks(list[Result]) run after each batch commits

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="result-writer")

    def add(self, result: Result) -> None:
        self._buffer.append(result)
        self._trim()
        if len(self._buffer) >= self.batch_size or (self.urgent_failures and result.status != "up"):
            self._wake.set()

    def _trim(self) -> None:
        overflow = len(self._buffer) - self.max_buffer
        if overflow > 0:
            del self._buffer[:overflow]
            self.dropped += overflow
            log.error("result buffer full: dropped %d oldest results", overflow)

    @property
    def pending(self) -> int:
        return len(self._buffer) + self._writing

    async def flush(self) -> None:
        """Write everything buffered now. Raises StoreError (keeping the batch) on failure."""
        async with self._lock:
            while self._buffer:
                batch = self._buffer[: self.batch_size]
                del self._buffer[: len(batch)]
                self._writing = len(batch)
                try:
                    rejected = await asyncio.to_thread(self._write, batch)
                except StoreError as exc:
                    self._buffer[0:0] = batch
                    self._trim()
                    self.failures += 1
                    self.last_error = str(exc)
                    log.error("%s (will retry; %d results waiting)", exc, len(self._buffer))
                    raise
                finally:
                    self._writing = 0
                for result, reason in rejected:
                    log.error("result of %s refused by the database and dropped: %s", result.check, reason)
                self.rejected += len(rejected)
                self.written += len(batch) - len(rejected)
                for cb in self.on_written:
                    try:
                        cb(batch)
                    except Exception:
                        log.exception("a result-written callback failed")

    def _write(self, batch: list[Result]) -> list[tuple[Result, str]]:
        return self.store.write_results(batch, node=self.node)

    async def _loop(self) -> None:
        backoff = self.interval
        while not self._closing:
            await wait_event(self._wake, backoff)
            self._wake.clear()
            try:
                await self.flush()
                backoff = self.interval
            except Exception as exc:  # the writer must outlive any one failure
                if not isinstance(exc, StoreError):
                    log.exception("result writer failed; retrying")
                backoff = min(max(backoff * 2, 1.0), 30.0)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await self.flush()
        except StoreError:
            log.error("shutting down with %d results not written", self.pending)
