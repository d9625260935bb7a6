"""The token cache: one per platform account, shared by every check of that platform.

Why it exists: tokens are quota-limited (Nuonuo: about 50 new tokens per 30 days per app).
A login probe every 30 s that fetched a token each time would lock the company out within
an hour. So a token is requested only when there is none, when it is about to expire, or
when the platform rejected it (then exactly one refresh). Concurrent checks wait on one
lock and share the one request. After a failed token request we back off (doubling, capped)
instead of asking again on every probe: failed calls may count against the quota too.

Tokens are never written anywhere: persisting them would put a secret in the database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.core.clock import Clock
from monitor.core.errors import TokenUnavailable


@dataclass(frozen=True)
class Token:
    value: str
    obtained_at: datetime
    expires_at: datetime | None  # None: valid until rejected


class TokenCache:
    def __init__(self, clock: Clock, *, refresh_before: timedelta, backoff: timedelta, max_backoff: timedelta) -> None:
        self.clock = clock
        self.refresh_before = refresh_before
        self.base_backoff = backoff
        self.max_backoff = max_backoff
        self.lock = asyncio.Lock()
        self.token: Token | None = None
        self.requests = 0  # token requests sent (successful or not): the quota figure
        self.failures = 0
        self.rejections = 0
        self._backoff = backoff
        self._retry_at: datetime | None = None
        self._failed_at: datetime | None = None
        self._last_failure: TokenUnavailable | None = None

    def current(self) -> Token | None:
        """The cached token if it is still good for a while, else None."""
        tok = self.token
        if tok is None:
            return None
        if tok.expires_at is not None and self.clock.now() >= tok.expires_at - self.refresh_before:
            return None
        return tok

    def blocked(self) -> TokenUnavailable | None:
        """The last failure, while we are still backing off from it."""
        if self._retry_at is None or self._last_failure is None:
            return None
        left = (self._retry_at - self.clock.now()).total_seconds()
        if left <= 0:
            return None
        return TokenUnavailable(
            f"{self._last_failure} (not asking again for {left:.0f}s)", dict(self._last_failure.evidence, backoff_s=round(left))
        )

    def allow_probe(self, every: timedelta) -> None:
        """Let one request through the backoff once the last failed one is `every` old.

        The login check calls this with its own interval on each run: the backoff still
        spares the token endpoint from every other check and from fast re-checks, but a
        mended platform is seen within one login interval, not after up to max_backoff
        (the cost: one token request per login interval while the platform refuses)."""
        if self._retry_at is None or self._failed_at is None:
            return
        if self.clock.now() - self._failed_at >= every * 0.9:  # a scheduled run may come a little early
            self._retry_at = None

    def begin_request(self) -> None:
        self.requests += 1

    def store(self, token: Token) -> None:
        self.token = token
        self._backoff = self.base_backoff
        self._retry_at = None
        self._last_failure = None

    def fail(self, failure: TokenUnavailable) -> None:
        self.failures += 1
        self._last_failure = failure
        self._failed_at = self.clock.now()
        self._retry_at = self._failed_at + self._backoff
        self._backoff = min(self._backoff * 2, self.max_backoff)

    def reject(self, value: str | None) -> bool:
        """The platform refused `value`. Forget it if it is still the current one."""
        if value is not None and self.token is not None and self.token.value == value:
            self.token = None
            self.rejections += 1
            return True
        return False

    def describe(self) -> dict[str, object]:
        now = self.clock.now()
        out: dict[str, object] = {
            "token_requests": self.requests,
            "token_failures": self.failures,
            "token_rejections": self.rejections,
        }
        if self.token is not None:
            out["token_age_s"] = round((now - self.token.obtained_at).total_seconds())
            if self.token.expires_at is not None:
                out["token_expires_in_s"] = round((self.token.expires_at - now).total_seconds())
        return out
