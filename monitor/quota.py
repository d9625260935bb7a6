"""Telling on-call before a platform's token quota is spent: `TokenQuotaWatch`.

Each platform account with `auth.quota` counts its token requests in the token file
(checks/platform/tokens.py), across restarts and `check` runs. Once a minute this service
looks at every account's count; at `warn_at` of the ceiling it queues one monitor.problem
notice (to on-call, through the outbox like every message), and another when the ceiling is
reached and the cache has stopped asking. The notice's key names the account, the level and
the oldest request still in the window, so each is sent once per filling of the window,
however often the monitor restarts.
"""

from __future__ import annotations

import asyncio
import logging
import math

from checks.platform.registry import PlatformRegistry
from monitor.config import Config
from monitor.core.aio import cancel, wait_event
from monitor.core.bus import Bus
from monitor.core.clock import Clock
from monitor.core.events import MONITOR_PROBLEM, Notice
from monitor.store import Store
from monitor.store.engine import log_failure
from notifiers.outbox import enqueue

log = logging.getLogger(__name__)

EVERY = 60.0  # seconds between looks


class TokenQuotaWatch:
    def __init__(self, store: Store, config: Config, *, clock: Clock, bus: Bus, platforms: PlatformRegistry) -> None:
        self.store = store
        self.bus = bus
        self.config = config
        self.clock = clock
        self.platforms = platforms
        self.sent = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def notices(self) -> list[Notice]:
        """A notice per account at or past its warning level now."""
        now = self.clock.now()
        out = []
        for sess in self.platforms.sessions():
            cache = sess.tokens
            state = cache.quota_state() if cache is not None else None
            if cache is None or state is None or cache.quota is None:
                continue
            used, ceiling = state
            warn = max(1, math.ceil(cache.quota.warn_at * ceiling))
            if used < warn:
                continue
            level = "ceiling" if used >= ceiling else "warning"
            who = sess.name + (f" ({sess.user})" if sess.user else "")
            title = (f"platform {who}: token quota ceiling reached ({used}/{ceiling}); no new token will be requested"
                     if level == "ceiling" else f"platform {who}: {used} of {ceiling} token requests used in the window")
            oldest = min(cache.recent).isoformat() if cache.recent else now.isoformat()
            out.append(Notice(
                event=MONITOR_PROBLEM, key=f"token-quota:{cache.key}:{level}:{oldest}", at=now,
                severity="critical" if level == "ceiling" else "major", title=title,
                data={"platform": sess.name, "token_requests": used, "token_quota": ceiling,
                      "window_days": cache.quota.window.days, "detail": title},
            ))
        return out

    def queue(self) -> int:
        found = self.notices()
        if not found:
            return 0
        added = 0
        with self.store.session() as session:
            for notice in found:
                added += enqueue(session, notice, self.config, now=notice.at)
            session.commit()
        if added:
            log.warning("token quota: %s", "; ".join(n.title for n in found),
                        extra={"event": "platform.token_quota", "fields": {"notices": added}})
        self.sent += added
        return added

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="token-quota")

    def on_config(self, config: Config) -> None:
        self.config = config

    async def _loop(self) -> None:
        while True:
            try:
                if await asyncio.to_thread(self.queue):
                    self.bus.publish("outbox_added")
            except Exception as exc:
                log_failure(log, "checking the token quotas failed", exc)
            await wait_event(self._wake, EVERY)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
