"""Access tokens: who may get one, how long it lives, and how many an app may get.

The quota is the reason the login check must cache its token: like Nuonuo's ~50 new tokens
per 30 days per app, a sliding window counts grants per appKey across every API shape.
"""

from __future__ import annotations

import hmac
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config.simulator import SimUser
from monitor.core.clock import Clock
from monitor.simulator.model import Kind, SimError


@dataclass(frozen=True)
class Grant:
    token: str
    app_key: str
    issued_at: datetime
    expires_at: datetime

    def expires_in(self, now: datetime) -> int:
        return max(0, round((self.expires_at - now).total_seconds()))


class TokenDesk:
    def __init__(
        self,
        clock: Clock,
        users: tuple[SimUser, ...],
        *,
        lifetime: timedelta,
        quota: int,
        window: timedelta,
        seed: int,
    ) -> None:
        self.clock = clock
        self.users = {u.app_key: u for u in users}
        self.lifetime = lifetime
        self.quota = quota
        self.window = window
        self._rng = random.Random(f"{seed}:tokens")
        self._tokens: dict[str, Grant] = {}
        self._granted: dict[str, deque[datetime]] = {}

    def user(self, app_key: str) -> SimUser | None:
        return self.users.get(app_key)

    def check_secret(self, app_key: str, app_secret: str) -> SimUser:
        user = self.users.get(app_key)
        if user is None or not hmac.compare_digest(user.app_secret.encode(), str(app_secret).encode()):
            raise SimError(Kind.BAD_CREDENTIALS, "appKey或appSecret错误")
        return user

    def granted_in_window(self, app_key: str) -> int:
        grants = self._granted.setdefault(app_key, deque())
        horizon = self.clock.now() - self.window
        while grants and grants[0] <= horizon:
            grants.popleft()
        return len(grants)

    def grant(self, user: SimUser) -> Grant:
        """A new token for a user whose secret was checked; QUOTA past the window's allowance."""
        if self.granted_in_window(user.app_key) >= self.quota:
            raise SimError(Kind.QUOTA, f"token申请次数已达上限({self.quota}次/{_days(self.window)})")
        now = self.clock.now()
        self._granted[user.app_key].append(now)
        grant = Grant(f"{self._rng.getrandbits(128):032x}", user.app_key, now, now + self.lifetime)
        self._tokens[grant.token] = grant
        self._prune(now)
        return grant

    def authenticate(self, token: str | None) -> tuple[SimUser, Grant]:
        if not token:
            raise SimError(Kind.TOKEN_INVALID, "缺少token")
        grant = self._tokens.get(token)
        if grant is None:
            raise SimError(Kind.TOKEN_INVALID, "token无效")
        if self.clock.now() >= grant.expires_at:
            raise SimError(Kind.TOKEN_INVALID, "token已过期")
        user = self.users.get(grant.app_key)
        if user is None:  # pragma: no cover - users are fixed for a simulator's life
            raise SimError(Kind.TOKEN_INVALID, "token无效")
        return user, grant

    def issued(self) -> list[str]:
        """Every token value handed out and still held (tests assert none leaks into output)."""
        return list(self._tokens)

    def reset(self) -> None:
        self._tokens.clear()
        self._granted.clear()

    def describe(self) -> dict[str, dict[str, int]]:
        now = self.clock.now()
        return {
            key: {
                "active": sum(1 for g in self._tokens.values() if g.app_key == key and g.expires_at > now),
                "granted_in_window": self.granted_in_window(key),
                "quota": self.quota,
            }
            for key in self.users
        }

    def _prune(self, now: datetime) -> None:
        if len(self._tokens) > 1000:
            self._tokens = {t: g for t, g in self._tokens.items() if g.expires_at > now}


def _days(span: timedelta) -> str:
    return f"{span.days}天" if span.days else f"{int(span.total_seconds())}秒"
