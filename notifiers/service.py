"""The notifiers' runtime service: the dispatcher and the watcher on one loop.

Wakes on bus topics "outbox_added" (someone committed outbox rows) and "incident_changed"
(the watcher should look again), "leadership" (this node started leading), when the next
message held in the outbox comes due (a route's group window, a retry's backoff, quiet
hours: the dispatcher says when), and in any case every `notifications.poll_interval`, so
a missed signal or another process's rows (the CLI, a second controller) never wait longer
than one poll. Deliveries run in their own tasks; the loop never waits for a slow channel.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.core.aio import wait_event
from monitor.core.errors import Deposed
from monitor.store.engine import log_failure
from monitor.store.leadership import SOLE, Leader
from notifiers.dispatcher import Dispatcher
from notifiers.selfcheck import SelfCheck
from notifiers.watcher import Watcher

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.bus import Bus, Health
    from monitor.core.clock import Clock
    from monitor.core.secrets import Redactor
    from monitor.store import ResultWriter, Store

log = logging.getLogger(__name__)


class NotifierService:
    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Clock,
        bus: Bus,
        redactor: Redactor,
        health: Health,
        writer: ResultWriter,
        leader: Leader = SOLE,
        node: str | None = None,
    ) -> None:
        """`health` and `writer` are what the self-check reports on (a failed reload, results
        that cannot be written). The dispatcher and the watcher act only while `leader` says
        this node is the leader (a probe node or a standby only reports its own problems);
        `node` names this node on delivery attempts."""
        self.store = store
        self.leader = leader
        self.node = node
        self.config = config
        self.clock = clock
        self.bus = bus
        self.redactor = redactor
        self.health = health
        self.writer = writer
        self.dispatcher: Dispatcher | None = None
        self.watcher: Watcher | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.selfcheck = SelfCheck()
        self.next_look: datetime | None = None  # when the loop looks again at the latest (clock time)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.dispatcher = Dispatcher(self.store, self.config, clock=self.clock, redactor=self.redactor,
                                     on_enqueued=self.wake, leader=self.leader, node=self.node)
        self.watcher = Watcher(self.store, self.config, clock=self.clock)
        self.bus.subscribe("outbox_added", self._signal)
        self.bus.subscribe("incident_changed", self._signal)
        self.bus.subscribe("leadership", self._signal)
        self._task = asyncio.create_task(self._run(), name="notifiers")

    def _signal(self, _payload: Any = None) -> None:
        self.wake()

    def wake(self) -> None:
        """Look again now; safe to call from any thread."""
        if self._wake is None or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    def on_config(self, config: Config) -> None:
        self.config = config
        if self.dispatcher is not None:
            self.dispatcher.on_config(config)
        if self.watcher is not None:
            self.watcher.config = config

    async def _run(self) -> None:
        assert self._wake is not None and self.dispatcher is not None and self.watcher is not None
        while not self._stopping:
            held: datetime | None = None  # when the next message held in the outbox comes due
            try:
                await asyncio.to_thread(self.check_self)
                if self.leader.is_leader:
                    _queued, changed = await asyncio.to_thread(self.watcher.tick)
                    if changed:
                        self.bus.publish("announcement_changed")
                    await self.dispatcher.run_due(wait=False)
                    held = await asyncio.to_thread(self.dispatcher.next_due, self.clock.now())
            except Deposed as exc:
                log.info("not dispatching: %s", exc)
            except Exception as exc:
                log_failure(log, "notifier pass failed; retrying at the next poll", exc)
            now = self.clock.now()
            self.next_look = now + self.config.notifications.poll_interval
            if held is not None:
                self.next_look = min(self.next_look, max(held, now))
            await wait_event(self._wake, (self.next_look - now).total_seconds())
            self._wake.clear()

    def check_self(self) -> None:
        """Report the monitor's own problems (reload failed, results not written)."""
        now = self.clock.now()
        notices = self.selfcheck.notices(self.health, self.writer, now)
        self.selfcheck.report(self.store, self.config, notices, now)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.dispatcher is not None:
            await self.dispatcher.close(grace=5.0)

