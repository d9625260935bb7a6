"""Platform sessions for checks: `ctx.services["platforms"]`, a `PlatformRegistry`.

The composition root (monitor/runtime.py `make_context`) calls `provide(ctx, ...)` once per
process (and `invoicewatch check` once per run), after putting the canary ledger into
`ctx.services["canaries"]` (none without a database). Every check of a platform gets the same
session, hence the same token cache: that is what keeps token requests within the platform's
quota. `PlatformService` cleans up canaries left by a crash as soon as the monitor starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from checks.client import HttpClientFactory
from checks.platform.ledger import SERVICE_KEY as LEDGER_KEY
from checks.platform.ledger import CanaryLedger
from checks.platform.models import FormAuth, OAuthAuth, PlatformProfile, TokenAuth
from checks.platform.session import PlatformSession, set_budget
from checks.platform.tokens import Quota, TokenCache, TokenFile
from monitor.core.clock import Clock
from monitor.core.errors import CheckError
from monitor.core.secrets import Redactor

if TYPE_CHECKING:
    from checks.base import Context
    from monitor.core.spec import CheckSpec

log = logging.getLogger(__name__)

SERVICE_KEY = "platforms"
TOKEN_FILE_KEY = "token_file"  # ctx.services: the TokenFile that keeps tokens across restarts
Sleep = Callable[[float], Awaitable[None]]


class PlatformRegistry:
    def __init__(
        self,
        platforms: dict[str, PlatformProfile],
        *,
        clock: Clock,
        http: HttpClientFactory,
        redactor: Redactor,
        ledger: CanaryLedger | None = None,
        timezone: str = "Asia/Shanghai",
        sleep: Sleep = asyncio.sleep,
        token_file: TokenFile | None = None,
    ) -> None:
        self.clock = clock
        self.token_file = token_file  # None: tokens live in memory only
        self.http = http
        self.redactor = redactor
        self.timezone = timezone
        # Waiting between polls (issuance, lifecycle, flow repeats). Tests inject a sleep that
        # moves their FakeClock, so simulated minutes pass in milliseconds.
        self.sleep = sleep
        self.ledger = ledger
        self._platforms: dict[str, PlatformProfile] = {}
        self._sessions: dict[tuple[str, str | None], PlatformSession] = {}
        self.recovered: set[str] = set()  # platforms whose leftover canaries were swept
        self.busy: set[int] = set()  # ledger rows a run or a sweeper is working on right now
        self.update(platforms)

    def update(self, platforms: dict[str, PlatformProfile]) -> None:
        """Adopt a reloaded `platforms:` section; unchanged platforms keep their tokens."""
        for key in list(self._sessions):
            if platforms.get(key[0]) != self._platforms.get(key[0]):
                del self._sessions[key]
        self._platforms = dict(platforms)
        for profile in platforms.values():
            for secret in profile.credentials.values():
                self.redactor.add(secret)
            for user in profile.users.values():
                for secret in user.credentials.values():
                    self.redactor.add(secret)

    @property
    def names(self) -> list[str]:
        return sorted(self._platforms)

    def profile(self, name: str) -> PlatformProfile:
        try:
            return self._platforms[name]
        except KeyError:
            known = ", ".join(self.names) or "none configured"
            raise CheckError(f"unknown platform {name!r} (platforms: {known})") from None

    def session(self, name: str, user: str | None = None) -> PlatformSession:
        key = (name, user)
        sess = self._sessions.get(key)
        if sess is None:
            profile = self.profile(name)
            if user is not None and user not in profile.users:
                known = ", ".join(sorted(profile.users)) or "none"
                raise CheckError(f"platform {name!r} has no user {user!r} (users: {known})")
            sess = PlatformSession(
                name, profile, http=self.http, clock=self.clock, redactor=self.redactor,
                tokens=_token_cache(profile, self.clock, self.token_file, _account(name, profile, user)), user=user,
            )
            self._sessions[key] = sess
        return sess

    def adhoc(self, base_url: str) -> PlatformSession:
        """A session with no platform behind it (a flow of plain HTTP steps): no auth, no envelope."""
        key = (f"adhoc:{base_url}", None)
        sess = self._sessions.get(key)
        if sess is None:
            profile = PlatformProfile.model_validate({"base_url": base_url})
            sess = PlatformSession(base_url, profile, http=self.http, clock=self.clock, redactor=self.redactor, tokens=None)
            self._sessions[key] = sess
        return sess

    def sessions(self) -> list[PlatformSession]:
        return list(self._sessions.values())

    async def aclose(self) -> None:
        if self.ledger is not None:
            await self.ledger.close()


def _token_cache(profile: PlatformProfile, clock: Clock, persist: TokenFile | None, key: str) -> TokenCache | None:
    auth = profile.auth
    if not isinstance(auth, TokenAuth | OAuthAuth | FormAuth):
        return None
    q = auth.quota
    return TokenCache(
        clock, refresh_before=auth.refresh_before, backoff=auth.retry_backoff, max_backoff=auth.max_backoff,
        persist=persist, key=key, quota=Quota(q.requests, q.window, q.warn_at) if q is not None else None,
    )


def _account(name: str, profile: PlatformProfile, user: str | None) -> str:
    """The token file's key of one account: a digest of where and as whom we log in, so a
    changed appKey or base_url never reuses the old account's token (nor shows it in the key)."""
    creds = profile.users[user].credentials if user is not None and profile.users[user].credentials else profile.credentials
    ident = json.dumps([name, user, profile.base_url, sorted(creds.items())], ensure_ascii=False)
    return f"{name}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"


def platforms_of(ctx: Context, spec: CheckSpec | None = None) -> PlatformRegistry:
    """The registry a check uses; a clear error when the provider was not installed.

    With `spec`, this run's requests are bounded by the check's timeout (see set_budget).
    """
    if spec is not None:
        set_budget(spec.timeout.total_seconds())
    registry = ctx.services.get(SERVICE_KEY)
    if registry is None:
        raise CheckError("no platform sessions in this context (checks.platform.registry.provide was not called)")
    return registry  # type: ignore[no-any-return]


def provide(ctx: Context, platforms: dict[str, PlatformProfile], *, timezone: str) -> PlatformRegistry:
    """Put the platform registry into ctx.services (and return it), with the canary ledger
    the composition root put there (`ctx.services["canaries"]`; none: no canaries) and the
    token file (`ctx.services["token_file"]`; none: tokens in memory only)."""
    registry = ctx.services[SERVICE_KEY] = PlatformRegistry(
        dict(platforms), clock=ctx.clock, http=ctx.http, redactor=ctx.redactor,
        ledger=ctx.services.get(LEDGER_KEY), timezone=timezone, token_file=ctx.services.get(TOKEN_FILE_KEY),
    )
    return registry
