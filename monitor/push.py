"""The push endpoint of `heartbeat` checks: `/push/<token>`, `/push/<token>/fail`,
`/push/<token>/start` on the built-in server (GET, POST or HEAD).

What a ping may do: add one row to the ping ledger (monitor.store.pings) and nothing else.
It runs no check, opens or closes nothing, sends nothing; the heartbeat check reads the
ledger at its next run. So a leaked token lets a stranger fake "the backup ran", never more.

The port may be public, so:
* the token is looked up in constant time: its SHA-256 is compared with every configured
  token's with `hmac.compare_digest`, all of them, whatever matches (time does not depend on
  how much of a guess is right, nor on which check it belongs to); an unknown token is 404
  like any missing page;
* a request body is at most `MAX_BODY` bytes (413 beyond; its content is never read or kept);
* each token may ping `PER_TOKEN` times, and each client address try `PER_CLIENT` times, per
  `WINDOW` (429 with Retry-After beyond), so a guessing client is slowed down and a
  looping job cannot fill the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import deque
from collections.abc import Iterable

from aiohttp import web

from monitor.core.clock import Clock
from monitor.core.errors import StoreError
from monitor.core.spec import CheckSpec
from monitor.store.pings import SqlPingLedger

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024
WINDOW = 60.0  # seconds
PER_TOKEN = 30
PER_CLIENT = 120
_KINDS = {"": "success", "fail": "fail", "start": "start"}


class RateLimit:
    """At most `limit` events per `window` seconds per key (a sliding log of monotonic times)."""

    def __init__(self, clock: Clock, limit: int, window: float = WINDOW, max_keys: int = 10_000) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._log: dict[str, deque[float]] = {}

    def allow(self, key: str) -> float | None:
        """None when allowed (and counted); else the seconds until it would be."""
        now = self.clock.monotonic()
        times = self._log.get(key)
        if times is None:
            if len(self._log) >= self.max_keys:
                self._forget(now)
            times = self._log[key] = deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) >= self.limit:
            return self.window - (now - times[0])
        times.append(now)
        return None

    def _forget(self, now: float) -> None:
        for key in [k for k, t in self._log.items() if not t or now - t[-1] >= self.window]:
            del self._log[key]
        if len(self._log) >= self.max_keys:  # a flood of distinct addresses: start over
            self._log.clear()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class PushEndpoint:
    """Route handlers for /push/; `update(specs)` after a reload picks up new tokens."""

    def __init__(self, ledger: SqlPingLedger, clock: Clock, specs: Iterable[CheckSpec] = ()) -> None:
        self.ledger = ledger
        self.clock = clock
        self.per_token = RateLimit(clock, PER_TOKEN)
        self.per_client = RateLimit(clock, PER_CLIENT)
        self.pings = 0
        self.refused = 0
        self._tokens: list[tuple[bytes, str]] = []
        self.update(specs)

    def update(self, specs: Iterable[CheckSpec]) -> None:
        self._tokens = [(_digest(str(s.token)), s.name) for s in specs if s.kind == "heartbeat"]  # type: ignore[attr-defined]

    def check_of(self, token: str) -> str | None:
        given = _digest(token)
        found = None
        for digest, name in self._tokens:  # every one compared: no early exit
            if hmac.compare_digest(given, digest):
                found = name
        return found

    def add_routes(self, app: web.Application) -> None:
        for path in ("/push/{token}", "/push/{token}/{kind}"):
            app.router.add_route("GET", path, self.handle)
            app.router.add_route("POST", path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        kind = _KINDS.get(request.match_info.get("kind", ""))
        if kind is None:
            raise web.HTTPNotFound()
        if request.content_length is not None and request.content_length > MAX_BODY:
            self.refused += 1
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
        if request.body_exists and len(body := await request.read()) > MAX_BODY:  # chunked: no length given
            self.refused += 1
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        client = request.remote or "unknown"
        wait = self.per_client.allow(client)
        if wait is not None:
            return self._too_many(wait)
        check = self.check_of(request.match_info["token"])
        if check is None:
            self.refused += 1
            raise web.HTTPNotFound()
        wait = self.per_token.allow(check)
        if wait is not None:
            return self._too_many(wait)
        try:
            await self.ledger.record(check, kind, self.clock.now())
        except StoreError as exc:
            log.error("%s", exc)
            raise web.HTTPServiceUnavailable(text="503 Service Unavailable\n") from None
        self.pings += 1
        log.debug("heartbeat %s: %s ping from %s", check, kind, client,
                  extra={"event": "heartbeat.ping", "fields": {"check": check, "kind": kind}})
        return web.Response(text="OK\n", headers={"Cache-Control": "no-store"})

    def _too_many(self, wait: float) -> web.Response:
        self.refused += 1
        return web.Response(status=429, text="429 Too Many Requests\n",
                            headers={"Retry-After": str(max(1, round(wait))), "Cache-Control": "no-store"})
