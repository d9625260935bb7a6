"""The token cache: one per platform account, shared by every check of that platform.

Why it exists: tokens are quota-limited (Nuonuo: about 50 new tokens per 30 days per app).
A login probe every 30 s that fetched a token each time would lock the company out within
an hour. So a token is requested only when there is none, when it is about to expire, or
when the platform rejected it (then exactly one refresh). Concurrent checks wait on one
lock and share the one request. After a failed token request we back off (doubling, capped)
instead of asking again on every probe: failed calls may count against the quota too.

Surviving restarts (a crash loop under `Restart=on-failure` would otherwise burn the quota in
minutes), and shared with `invoicewatch check`: a `TokenFile` in the state directory
(`monitor.state_dir`; systemd's StateDirectory) keeps each account's token and the times of
its token requests. Why a file and not the database or the running monitor: the database
is read by the status page, backups and other tools and must never hold a secret; asking
the running monitor would leave `check` without a token whenever the monitor is down (just
when one runs `check` by hand) and needs an authenticated local API. The file is mode 0600
in a directory only the service user reads, written atomically (a temporary file, fsync,
rename) under an advisory lock so the monitor and a `check` never lose each other's update.
Its content is never logged; tokens are masked as secrets once read.

The ceiling (`auth.quota`): at most `requests` token requests per `window` per account,
counted in the file, so restarts and `check` runs count too. At `warn_at` of the ceiling
`quota_state()` says so (the monitor turns it into a monitor.problem notice, monitor/quota.py);
at the ceiling the cache refuses to ask (TokenUnavailable) rather than spend the platform's
last grants.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.core.clock import Clock
from monitor.core.errors import TokenUnavailable

FILE_NAME = "platform-tokens.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Token:
    value: str
    obtained_at: datetime
    expires_at: datetime | None  # None: valid until rejected


@dataclass(frozen=True)
class Quota:
    """The ceiling on token requests of one account."""

    requests: int
    window: timedelta
    warn_at: float = 0.8  # fraction of `requests` at which to warn


@dataclass
class Entry:
    """What the file keeps of one account: its token and its recent token requests."""

    token: Token | None = None
    requests: list[datetime] = field(default_factory=list)


class TokenFile:
    """`<state_dir>/platform-tokens.json`: account key -> Entry, mode 0600, atomic writes."""

    def __init__(self, state_dir: str | Path) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / FILE_NAME
        # Where the folder cannot be written (read-only, full), tokens live here instead, and
        # one warning says so: a probe must never fail because its token could not be kept.
        self._memory: dict[str, Entry] = {}
        self._warned = False

    def _unwritable(self, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning("platform tokens cannot be kept in %s (%s); they live in memory only, so a restart asks "
                        "for new ones (set monitor.state_dir to a writable folder)", self.path,
                        exc.strerror or exc, extra={"event": "platform.token_file_unwritable"})

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.dir / f".{FILE_NAME}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable or torn by hand: start over (costs one token request)
        return data if isinstance(data, dict) else {}

    def load(self, key: str) -> Entry:
        try:
            with self._locked():
                return _entry(self._read().get(key))
        except OSError as exc:
            self._unwritable(exc)
            return self._memory.get(key, Entry())

    def update(self, key: str, change: Callable[[Entry], Entry]) -> Entry:
        """Read, change and write one account's entry under the lock; returns the new entry."""
        try:
            return self._update(key, change)
        except OSError as exc:
            self._unwritable(exc)
            entry = self._memory[key] = change(self._memory.get(key, Entry()))
            return entry

    def _update(self, key: str, change: Callable[[Entry], Entry]) -> Entry:
        with self._locked():
            data = self._read()
            entry = change(_entry(data.get(key)))
            data[key] = _plain(entry)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{FILE_NAME}.")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return entry


def _entry(raw: Any) -> Entry:
    if not isinstance(raw, dict):
        return Entry()
    token = None
    tok = raw.get("token")
    try:
        if isinstance(tok, dict) and isinstance(tok.get("value"), str):
            expires = tok.get("expires_at")
            token = Token(tok["value"], datetime.fromisoformat(tok["obtained_at"]),
                          datetime.fromisoformat(expires) if expires else None)
        requests = [datetime.fromisoformat(t) for t in raw.get("requests", []) if isinstance(t, str)]
    except (KeyError, TypeError, ValueError):
        return Entry()
    return Entry(token, requests)


def _plain(entry: Entry) -> dict[str, Any]:
    tok = entry.token
    return {
        "token": None if tok is None else {
            "value": tok.value, "obtained_at": tok.obtained_at.isoformat(),
            "expires_at": tok.expires_at.isoformat() if tok.expires_at else None,
        },
        "requests": [t.isoformat() for t in entry.requests],
    }


class TokenCache:
    def __init__(
        self,
        clock: Clock,
        *,
        refresh_before: timedelta,
        backoff: timedelta,
        max_backoff: timedelta,
        persist: TokenFile | None = None,
        key: str = "",
        quota: Quota | None = None,
    ) -> None:
        self.clock = clock
        self.persist = persist
        self.key = key
        self.quota = quota
        self.recent: list[datetime] = []  # token requests in the quota window (every process)
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
        if persist is not None:
            self._adopt(persist.load(key))

    def _adopt(self, entry: Entry) -> None:
        self.token = entry.token
        self.recent = self._in_window(entry.requests)

    def _in_window(self, times: list[datetime]) -> list[datetime]:
        if self.quota is None:
            return times[-100:]
        since = self.clock.now() - self.quota.window
        return [t for t in times if t > since]

    def _good(self, tok: Token | None) -> bool:
        return tok is not None and (tok.expires_at is None or self.clock.now() < tok.expires_at - self.refresh_before)

    def current(self) -> Token | None:
        """The cached token if it is still good for a while, else None. Before giving up,
        the file is read again: another process (`check`, the monitor) may have a newer one."""
        if self._good(self.token):
            return self.token
        if self.persist is not None:
            self._adopt(self.persist.load(self.key))
            if self._good(self.token):
                return self.token
        return None

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

    def quota_state(self) -> tuple[int, int] | None:
        """(requests in the window, ceiling) when there is a ceiling."""
        if self.quota is None:
            return None
        self.recent = self._in_window(self.recent)
        return len(self.recent), self.quota.requests

    def begin_request(self) -> None:
        """Count a token request about to be sent; refuse at the ceiling (TokenUnavailable)."""
        now = self.clock.now()

        def add(entry: Entry) -> Entry:
            recent = self._in_window(entry.requests)
            if self.quota is not None and len(recent) >= self.quota.requests:
                raise _AtCeiling(len(recent))
            return Entry(entry.token, [*recent, now])

        try:
            if self.persist is not None:
                self.recent = self.persist.update(self.key, add).requests
            else:
                self.recent = add(Entry(None, self.recent)).requests
        except _AtCeiling as full:
            assert self.quota is not None
            raise TokenUnavailable(
                f"token quota ceiling reached: {full.count} token requests in the last "
                f"{_days(self.quota.window)} (auth.quota.requests: {self.quota.requests}); not asking the platform for more",
                {"token_requests_in_window": full.count, "token_quota": self.quota.requests},
            ) from None
        self.requests += 1

    def store(self, token: Token) -> None:
        self.token = token
        self._backoff = self.base_backoff
        self._retry_at = None
        self._last_failure = None
        if self.persist is not None:
            self.persist.update(self.key, lambda e: Entry(token, e.requests))

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
            if self.persist is not None:
                self.persist.update(self.key, lambda e: Entry(None if e.token and e.token.value == value else e.token,
                                                              e.requests))
            return True
        return False

    def describe(self) -> dict[str, object]:
        now = self.clock.now()
        out: dict[str, object] = {
            "token_requests": self.requests,
            "token_failures": self.failures,
            "token_rejections": self.rejections,
        }
        state = self.quota_state()
        if state is not None:
            out["token_requests_in_window"], out["token_quota"] = state
        if self.token is not None:
            out["token_age_s"] = round((now - self.token.obtained_at).total_seconds())
            if self.token.expires_at is not None:
                out["token_expires_in_s"] = round((self.token.expires_at - now).total_seconds())
        return out


class _AtCeiling(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


def _days(window: timedelta) -> str:
    return f"{window.days} days" if window.days and not window.seconds else f"{window.total_seconds():g} s"
