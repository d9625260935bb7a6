"""A platform session: build, authenticate, sign, send and judge one request.

Order for every request (the order signers depend on): variables -> render the template ->
apply credentials (token header/param, cookie) -> serialize the body once -> sign over the
exact bytes -> send -> read (capped) -> parse JSON -> judge by HTTP status and envelope.
A rejected token is forgotten and the request retried once with a fresh one.

Latency is the larger of real elapsed time and the injected clock's (see `_elapsed`); the
injected clock governs wall time (token expiry, windows, poll deadlines).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from checks.base import RUN_STARTED, watching
from checks.client import HttpClientFactory, read_capped
from checks.platform import signing
from checks.platform.exchange import EXCERPT, Exchange, judge
from checks.platform.jsonpath import find_all, find_first
from checks.platform.models import (
    FormAuth,
    HeaderAuth,
    OAuthAuth,
    Operation,
    PlatformProfile,
    RequestTemplate,
    TokenAuth,
)
from checks.platform.records import Record, extract
from checks.platform.templating import render, render_text
from checks.platform.tokens import Token, TokenCache
from monitor.core.clock import Clock
from monitor.core.errors import TokenUnavailable
from monitor.core.secrets import Redactor

MAX_BODY = 4 * 1024 * 1024

# When the running check must have its answer (perf_counter seconds), set per check run
# (each run is its own task, so concurrent checks do not share it). A request never waits
# past it, so a hanging or trickling platform is reported by us, naming the request, rather
# than cut off by run_check's timeout.
_DEADLINE: ContextVar[float | None] = ContextVar("platform_request_deadline", default=None)


def set_budget(seconds: float) -> None:
    """Give this check run `seconds` (less a margin for reporting) for all its requests.

    The margin is the time the kind keeps to cancel what is in flight and build its own down
    result before run_check's hard timeout cuts it off. That work does not shrink with the
    timeout, so it is 10% with a floor of 250 ms (at most half of a very short timeout) and
    a cap of 1 s; at 10% alone a 0.3 s timeout kept 30 ms, which a busy event loop misses."""
    margin = min(1.0, max(min(0.25, seconds / 2), seconds * 0.1))
    started = RUN_STARTED.get()
    _DEADLINE.set((time.perf_counter() if started is None else started) + seconds - margin)


def budget_left() -> float | None:
    """Seconds this check run has left for requests (None outside a budgeted run)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.perf_counter()


class PlatformSession:
    """One account on one platform. Cheap; the registry keeps one per (platform, user)."""

    def __init__(
        self,
        name: str,
        profile: PlatformProfile,
        *,
        http: HttpClientFactory,
        clock: Clock,
        redactor: Redactor,
        tokens: TokenCache | None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.profile = profile
        self.http = http
        self.clock = clock
        self.redactor = redactor
        self.tokens = tokens
        self.user = user
        # Sees every request as sent and its exchange (`invoicewatch platform try`); None in checks.
        self.trace: Callable[[signing.Outgoing, Exchange], None] | None = None
        creds = dict(profile.credentials)
        variables = dict(profile.variables)
        if user is not None:
            account = profile.users[user]
            creds.update(account.credentials)
            variables.update(account.variables)
        self.credentials = creds
        self.variables = variables
        for secret in creds.values():
            redactor.add(secret)

    @property
    def label(self) -> str:
        return f"{self.name} as {self.user}" if self.user else self.name

    # variables ---------------------------------------------------------------------------
    def base_variables(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        now = self.clock.now()
        out: dict[str, Any] = {
            **self.variables,
            **self.credentials,
            "now": now,
            "today": now.astimezone(self.profile.tz).strftime("%Y-%m-%d"),
            "timestamp_s": int(now.timestamp()),
            "timestamp_ms": int(now.timestamp() * 1000),
            "nonce": uuid.uuid4().hex,
            "request_id": uuid.uuid4().hex,
        }
        if extra:
            out.update(extra)
        return out

    # public API --------------------------------------------------------------------------
    async def call(self, what: str | Operation | RequestTemplate, variables: dict[str, Any] | None = None) -> Exchange:
        """Run one operation (by name) or request template; never raises for the platform's faults."""
        name, op, template = self._resolve(what)
        token: Token | None = None
        if template.auth and self._needs_token:
            try:
                token = await self.token()
            except TokenUnavailable as exc:
                return self._no_token(name, template, exc)
        ex = await self._attempt(name, template, variables, token)
        if ex.rejected and token is not None and self.tokens is not None:
            self.tokens.reject(token.value)
            try:
                token = await self.token()
            except TokenUnavailable as exc:
                out = self._no_token(name, template, exc)
                out.auth_retried = True
                return out
            ex = await self._attempt(name, template, variables, token)
            ex.auth_retried = True
        if op is not None and ex.doc is not None:
            for key, path in op.extract.items():
                ex.extracted[key] = find_first(path, ex.doc)
        return ex

    def records(self, ex: Exchange, op: Operation | str) -> list[Record] | None:
        """The records of a list (or single-record) answer; None when the answer has none."""
        op = self.profile.operation(op) if isinstance(op, str) else op
        if ex.doc is None:
            return None
        if op.items:
            matches = find_all(op.items, ex.doc)
            if not matches or not isinstance(matches[0], list):
                return None
            raw = matches[0]
        elif op.item:
            found = find_all(op.item, ex.doc)
            if not found or found[0] is None:
                return None
            raw = [found[0]]
        else:
            return None
        return [extract(r, self.profile.fields) for r in raw]

    async def list_records(
        self, op_name: str, variables: dict[str, Any], *, limit: int
    ) -> tuple[list[Record] | None, list[Exchange], int | None]:
        """Page through a list operation. Returns (records or None on failure, exchanges, total)."""
        op = self.profile.operation(op_name)
        paging = op.paging
        pages = paging.max_pages if paging else 1
        first = paging.first if paging else 1
        size = min(paging.size, limit) if paging else limit
        out: list[Record] = []
        exchanges: list[Exchange] = []
        total: int | None = None
        for i in range(pages):
            page = {"page": first + i, "page_size": size, "offset": i * size, "limit": limit}
            ex = await self.call(op, {**variables, **page})
            ex.operation = op_name
            exchanges.append(ex)
            if not ex.ok:
                return None, exchanges, total
            recs = self.records(ex, op)
            if recs is None:
                ex.ok = False
                ex.error = f"answer has no record list at {op.items or op.item}"
                return None, exchanges, total
            if op.total and total is None:
                raw_total = find_first(op.total, ex.doc)
                total = int(raw_total) if isinstance(raw_total, int | float | str) and str(raw_total).isdigit() else None
            out.extend(recs)
            if len(out) >= limit or len(recs) < size or (total is not None and (i + 1) * size >= total):
                break
        return out[:limit], exchanges, total

    async def token(self) -> Token:
        """The cached token, or a new one (one request shared by everyone waiting)."""
        cache = self.tokens
        assert cache is not None
        async with cache.lock:
            tok = cache.current()
            if tok is not None:
                return tok
            blocked = cache.blocked()
            if blocked is not None:
                raise blocked
            cache.begin_request()
            try:
                tok = await self._fetch_token()
            except TokenUnavailable as exc:
                cache.fail(exc)
                raise
            self.redactor.add(tok.value)
            cache.store(tok)
            return tok

    # internals ---------------------------------------------------------------------------
    @property
    def _needs_token(self) -> bool:
        return isinstance(self.profile.auth, TokenAuth | OAuthAuth | FormAuth)

    def _resolve(self, what: str | Operation | RequestTemplate) -> tuple[str, Operation | None, RequestTemplate]:
        if isinstance(what, str):
            op = self.profile.operation(what)
            return what, op, op.request
        if isinstance(what, Operation):
            return "request", what, what.request
        return "request", None, what

    def _no_token(self, name: str, template: RequestTemplate, exc: TokenUnavailable) -> Exchange:
        ex = Exchange(name, template.method, template.path, token_failed=True, error=f"no token: {exc}")
        ex.http_status = exc.evidence.get("http_status")  # type: ignore[assignment]
        ex.envelope_code = exc.evidence.get("envelope_code")
        ex.envelope_message = exc.evidence.get("envelope_message")  # type: ignore[assignment]
        return ex

    async def _attempt(
        self,
        name: str,
        template: RequestTemplate,
        variables: dict[str, Any] | None,
        token: Token | None,
        *,
        use_envelope: bool = True,
        extra_headers: dict[str, str] | None = None,
    ) -> Exchange:
        tz = self.profile.tz
        values = self.base_variables(variables)
        auth = self.profile.auth
        if token is not None:
            values["token"] = token.value
        if isinstance(auth, FormAuth):
            values["cookie_name"] = auth.cookie
        path = render_text(template.path, values, tz)
        url = path if path.startswith(("http://", "https://")) else self.profile.base_url.rstrip("/") + "/" + path.lstrip("/")
        params = {str(k): _param(v) for k, v in render(template.params, values, tz).items()}
        headers = {k: render_text(v, values, tz) for k, v in template.headers.items()}
        if extra_headers:
            headers.update(extra_headers)
        if template.auth:
            if isinstance(auth, HeaderAuth):
                headers.update({k: render_text(v, values, tz) for k, v in auth.header.items()})
                params.update({k: render_text(v, values, tz) for k, v in auth.params.items()})
            elif token is not None and not isinstance(auth, HeaderAuth):
                apply = auth.apply  # type: ignore[union-attr]
                headers.update({k: render_text(v, values, tz) for k, v in apply.header.items()})
                params.update({k: render_text(v, values, tz) for k, v in apply.params.items()})
        body, content_type = _body(template, values, tz)
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        out = signing.Outgoing(template.method, url, path, params, headers, body, values)
        if template.sign and self.profile.signing is not None:
            signing.sign(out, self.profile.signing, lambda text: render_text(text, values, tz))
        ex = Exchange(name, template.method, _path_only(path))
        await self._send(out, ex)
        if ex.http_status is not None:  # else: no answer, _send said why
            judge(ex, self.profile.envelope, auth.rejected, use_envelope=use_envelope)
        if self.trace is not None:
            self.trace(out, ex)
        return ex

    async def _send(self, out: signing.Outgoing, ex: Exchange) -> None:
        client = self.http.client(verify=self.profile.verify_tls, keepalive=True)
        timeout = self.profile.timeout.total_seconds()
        deadline = _DEADLINE.get()
        if deadline is not None:
            timeout = max(min(timeout, deadline - time.perf_counter()), 0.01)
        request = httpx.Request(
            out.method,
            out.url,
            params=out.params or None,
            headers=out.headers,
            content=out.body or None,
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        watcher = watching()
        if watcher is not None:
            watcher.request(out.method, self.redactor.redact(str(request.url)))
        t0, c0 = time.perf_counter(), self.clock.monotonic()
        try:
            # httpx times each read; a platform trickling bytes must not stretch the whole.
            async with asyncio.timeout(timeout):
                response = await client.send(request, stream=True)
                try:
                    raw, _truncated = await read_capped(response, MAX_BODY)
                finally:
                    await response.aclose()
        except (httpx.TimeoutException, TimeoutError):
            ex.latency_ms = self._elapsed(t0, c0)
            ex.error = f"no answer within {timeout:.3g}s"
            return
        except httpx.ConnectError as exc:
            ex.latency_ms = self._elapsed(t0, c0)
            ex.error = f"cannot connect: {exc}"
            return
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            ex.latency_ms = self._elapsed(t0, c0)
            ex.error = f"connection dropped without an answer ({type(exc).__name__})"
            return
        except httpx.HTTPError as exc:
            ex.latency_ms = self._elapsed(t0, c0)
            ex.error = f"{type(exc).__name__}: {exc}"
            return
        ex.latency_ms = self._elapsed(t0, c0)
        # Session cookies belong to one account: we keep them per session (the shared
        # client's jar keeps none), and send them back through auth.apply.
        for cookie in response.cookies.jar:
            ex.extracted.setdefault("_cookies", {})[cookie.name] = cookie.value
        ex.http_status = response.status_code
        ex.raw = raw
        ex.headers = response.headers
        try:
            ex.doc = json.loads(raw) if raw.strip() else None
        except ValueError:
            ex.doc = None
        if ex.doc is None and raw:
            ex.excerpt = self.redactor.redact(raw[:EXCERPT].decode("utf-8", errors="replace"))

    def _elapsed(self, t0: float, c0: float) -> float:
        """Milliseconds, the larger of real time and the injected clock's time.

        Both are the same counter in production (SystemClock.monotonic is perf_counter); in
        tests a target may move the FakeClock while answering, or delay for real (the
        simulator's latency fault), and either must show as latency.
        """
        return max(time.perf_counter() - t0, self.clock.monotonic() - c0) * 1000

    # tokens ------------------------------------------------------------------------------
    async def _fetch_token(self) -> Token:
        auth = self.profile.auth
        now = self.clock.now()
        if isinstance(auth, TokenAuth):
            ex = await self._attempt("token", auth.request.model_copy(update={"auth": False}), None, None, use_envelope=auth.envelope)
            value = find_first(auth.token, ex.doc) if ex.doc is not None else None
            if not ex.ok or not value:
                raise _token_failure(ex, "no token in the answer")
            return Token(str(value), now, _expiry(now, ex.doc, auth.expires_in, auth.lifetime))
        if isinstance(auth, OAuthAuth):
            values = self.base_variables()
            tz = self.profile.tz
            form = {"grant_type": "client_credentials", **{k: render_text(v, values, tz) for k, v in auth.extra.items()}}
            headers: dict[str, str] = {}
            cid, secret = render_text(auth.client_id, values, tz), render_text(auth.client_secret, values, tz)
            if auth.client_auth == "basic":
                headers["Authorization"] = "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()
            else:
                form.update(client_id=cid, client_secret=secret)
            if auth.scope:
                form["scope"] = auth.scope
            template = RequestTemplate.model_validate(
                {"method": "POST", "path": auth.token_path, "form": form, "auth": False, "sign": False}
            )
            ex = await self._attempt("token", template, None, None, use_envelope=auth.envelope, extra_headers=headers)
            value = find_first(auth.token, ex.doc) if ex.doc is not None else None
            if not value or not ex.ok:
                if ex.doc is not None and auth.error and ex.error is None:
                    ex.envelope_code = find_first(auth.error, ex.doc)
                    msg = find_first(auth.error_message, ex.doc) if auth.error_message else None
                    ex.envelope_message = None if msg is None else str(msg)
                    ex.error = f"error {ex.envelope_code}" + (f": {msg}" if msg else "")
                ex.ok = False  # an HTTP 200 without a token is a refusal: its code is the cause
                raise _token_failure(ex, "no access_token in the answer")
            return Token(str(value), now, _expiry(now, ex.doc, auth.expires_in, auth.lifetime))
        if isinstance(auth, FormAuth):
            ex = await self._attempt("login", auth.request.model_copy(update={"auth": False}), None, None, use_envelope=auth.envelope)
            value = ex.extracted.get("_cookies", {}).get(auth.cookie)
            if not ex.ok or not value:
                raise _token_failure(ex, f"no {auth.cookie} cookie in the answer")
            return Token(str(value), now, now + auth.lifetime if auth.lifetime else None)
        raise TokenUnavailable("this platform's auth scheme has no token")


def _token_failure(ex: Exchange, fallback: str) -> TokenUnavailable:
    evidence = {k: v for k, v in ex.evidence().items() if k in ("http_status", "envelope_code", "envelope_message")}
    return TokenUnavailable(f"token request failed: {ex.error or fallback}", evidence)


def _expiry(now: Any, doc: Any, path: str | None, lifetime: timedelta | None) -> Any:
    if path and doc is not None:
        raw = find_first(path, doc)
        try:
            seconds = float(raw)
        except (TypeError, ValueError):
            seconds = 0
        if seconds > 0:
            return now + timedelta(seconds=seconds)
    return now + lifetime if lifetime else None


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "" if value is None else str(value)


def _body(template: RequestTemplate, values: dict[str, Any], tz: Any) -> tuple[bytes, str | None]:
    if template.json_body is not None:
        doc = render(template.json_body, values, tz)
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(), "application/json; charset=utf-8"
    if template.form is not None:
        form = {k: _param(v) for k, v in render(template.form, values, tz).items()}
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    if template.body is not None:
        return render_text(template.body, values, tz).encode(), "text/plain; charset=utf-8"
    return b"", None


def _path_only(path: str) -> str:
    """The path for evidence: never the query string (tokens and signatures live there)."""
    return path.split("?", 1)[0]
