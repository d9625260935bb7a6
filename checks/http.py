"""`http`: one HTTP request (following redirects hop by hop), judged by conditions.

Timed the way a user's first request feels it: the name is resolved here (timed, `dns`),
then the request goes to the resolved address with the original Host header and TLS SNI, so
connect, tls and ttfb come from httpcore's trace events and every redirect hop is timed on
its own. Uses the shared probe client (keep-alive off: every run pays a fresh connect).
A broken target is never an exception: refused, reset, bad TLS, garbage, hangs all become a
down Result that names the phase that failed.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from checks.base import Context
from checks.certs import cert_info, peer_der
from checks.client import ACCEPT_ENCODING, DEFAULT_MAX_BODY, read_capped
from checks.conditions import Document, condition_list, evaluate, failure_message, parse_condition, vocabulary
from checks.net import hostport, reason, resolve, resolve_literal
from checks.timing import Phases, deadline, down
from checks.transport import ProbeTransport
from monitor.core.errors import ProbeFailure
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec

PLACEHOLDERS = vocabulary(
    "an http check", "STATUS", "BODY", "HEADER", "RESPONSE_TIME", "CERTIFICATE_EXPIRATION", "CONNECTED", "IP"
)
DEFAULT_CONDITIONS = (parse_condition("[STATUS] < 400", PLACEHOLDERS),)
_REDIRECTS = (301, 302, 303, 307, 308)
_SENSITIVE = ("authorization", "cookie", "proxy-authorization")
_NO_TIMEOUTS: dict[str, float | None] = {"connect": None, "read": None, "write": None, "pool": None}


class Spec(CheckSpec):
    # Where _plan keeps the spec's plan: on the spec itself, not in __dict__, so equality,
    # dumps and copies ignore it (a copy builds its own).
    __slots__ = ("_plan",)

    kind: Literal["http"]
    url: str = Field(min_length=1, description="http:// or https:// URL to request")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, description="request headers")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="query parameters")
    json_body: Any = Field(None, alias="json", description="JSON request body (not with form)")
    form: dict[str, str] | None = Field(None, description="form-encoded request body (not with json)")
    follow_redirects: bool = Field(True, description="follow 3xx responses, timing each hop")
    max_redirects: int = Field(10, ge=0, le=50)
    verify_tls: bool = Field(True, description="verify the certificate chain and host name")
    max_body: int = Field(DEFAULT_MAX_BODY, ge=0, le=64 * 1024 * 1024, description="bytes of body read at most")
    conditions: condition_list(PLACEHOLDERS) = Field(  # type: ignore[valid-type]
        default_factory=list, description="all must hold; default [STATUS] < 400"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, ValueError) as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if url.scheme not in ("http", "https"):
            raise ValueError(f"URL must start with http:// or https://, not {url.scheme or 'nothing'}:")
        if not url.host:
            raise ValueError("URL has no host")
        if url.port is not None and not 0 < url.port < 65536:
            raise ValueError(f"port {url.port} is out of range (1-65535)")
        return value

    @field_validator("headers")
    @classmethod
    def _no_host_header(cls, value: dict[str, str]) -> dict[str, str]:
        if any(k.lower() == "host" for k in value):
            raise ValueError("Host comes from the URL; do not set it in headers")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Spec:
        if self.json_body is not None and self.form is not None:
            raise ValueError("json and form are mutually exclusive: send one body")
        return self


def prepare(spec: Spec, ctx: Context) -> None:
    """Work out the spec's plan now (the scheduler calls this before the first slot, so the
    plan is built outside any probe and frozen with the config: see monitor.scheduler)."""
    _plan(spec, ctx.http.user_agent)


async def run(spec: Spec, ctx: Context) -> Result:
    started = ctx.clock.now()
    phases = Phases(ctx.clock)
    probe = _Probe(spec, ctx, phases)
    try:
        async with asyncio.timeout(deadline(spec)):
            return await probe.run(started)
    except TimeoutError:
        message = f"timed out after {spec.timeout.total_seconds():g}s {phases.where()}".rstrip()
    except httpx.TimeoutException:
        message = f"timed out {phases.where()}".rstrip()
    except ProbeFailure as exc:
        message = str(exc)
    except (httpx.HTTPError, OSError, ssl.SSLError, UnicodeError) as exc:
        message = _explain(exc, phases, probe.target)
    return down(spec, started, phases, message, {"redirects": probe.redirects})


class _Probe:
    def __init__(self, spec: Spec, ctx: Context, phases: Phases) -> None:
        self.spec = spec
        self.ctx = ctx
        self.phases = phases
        self.redirects = 0
        self.target = ""  # ip:port being talked to, for messages
        self.ip: str | None = None

    async def run(self, started: datetime) -> Result:
        spec, phases = self.spec, self.phases
        transport = self.ctx.http.transport(verify=spec.verify_tls, keepalive=False)
        plan = _plan(spec, self.ctx.http.user_agent)
        url, method, headers, body = plan.url, spec.method, plan.headers, plan.body
        hops: list[dict[str, Any]] = []
        while True:
            response = await self._send(transport, method, url, headers, body, None if hops else plan)
            try:
                if not (spec.follow_redirects and response.status_code in _REDIRECTS and "location" in response.headers):
                    return await self._judge(response, started, hops, plan)
                hop_ms = phases.elapsed_ms() - sum(h["ms"] for h in hops)
                hops.append({"status": response.status_code, "url": str(url)[:300], "ms": round(hop_ms, 2)})
                if self.redirects >= spec.max_redirects:
                    raise ProbeFailure(f"more than {spec.max_redirects} redirects (last from {str(url)[:200]})")
                try:
                    nxt = url.join(response.headers["location"])
                except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
                    raise ProbeFailure(f"redirect to an invalid URL: {exc}") from None
                if nxt.scheme not in ("http", "https"):
                    raise ProbeFailure(f"redirect to a non-HTTP URL ({nxt.scheme}:)")
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method, body = ("HEAD" if method == "HEAD" else "GET"), {}
                if (nxt.scheme, nxt.host, nxt.port) != (url.scheme, url.host, url.port):
                    headers = httpx.Headers([(k, v) for k, v in headers.multi_items() if k.lower() not in _SENSITIVE])
                url = nxt
                self.redirects += 1
            finally:
                await response.aclose()

    async def _address(self, url: httpx.URL, headers: httpx.Headers) -> tuple[httpx.URL, httpx.Headers, dict[str, Any]]:
        """Resolve the host (timed); the URL to send to (the address) with Host and SNI kept."""
        host, port, https = _origin(url)
        # No per-step timeouts: run() holds one hard deadline over the whole probe (connect to
        # last byte), so a drip or a hang ends at the check's timeout and says where it was.
        extensions: dict[str, Any] = {"trace": self.phases.trace, "timeout": _NO_TIMEOUTS}
        send_url, send_headers = url, headers
        if self.ctx.http.injected_transport:
            self.target = f"{host}:{port}"  # a test transport answers; there is nothing to resolve
        else:
            ip = resolve_literal(host, self.phases) or await resolve(host, port, self.phases)
            self.ip = ip
            self.target = hostport(ip, port)
            if ip != host.strip("[]"):
                send_url = url.copy_with(host=ip)
                send_headers = httpx.Headers(headers)
                send_headers["Host"] = url.netloc.decode("ascii")
                if https:
                    extensions["sni_hostname"] = host
        return send_url, send_headers, extensions

    async def _send(
        self, transport: httpx.AsyncBaseTransport, method: str, url: httpx.URL, headers: httpx.Headers,
        body: dict[str, Any], plan: _Plan | None,
    ) -> httpx.Response:
        """One hop. The first hop through our own transport sends the head kept in the plan
        (built once per address); any other goes through an httpx.Request."""
        send_url, send_headers, extensions = await self._address(url, headers)
        if plan is not None and isinstance(transport, ProbeTransport):
            kept = plan.first
            if kept is None or (kept[0] is not send_url and kept[0] != send_url):
                request = httpx.Request(method, send_url, headers=send_headers, **body)
                kept = plan.first = (send_url, transport.head(request), request.content)
            return await transport.send(kept[0], method, kept[1], kept[2], extensions)
        request = httpx.Request(method, send_url, headers=send_headers, extensions=extensions, **body)
        return await transport.handle_async_request(request)

    async def _judge(self, response: httpx.Response, started: datetime, hops: list[dict[str, Any]], plan: _Plan) -> Result:
        spec, phases = self.spec, self.phases
        conditions = plan.conditions
        expiry: float | None = None
        if plan.needs_certificate:
            stream = response.extensions.get("network_stream")
            ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
            info = cert_info(peer_der(ssl_object))
            expiry = info.seconds_left(self.ctx.clock.now()) if info else None
        with phases.phase("transfer"):
            content, truncated = await read_capped(response, spec.max_body)
        total = phases.total()
        values: dict[str, Any] = {
            "STATUS": response.status_code,
            "BODY": Document(content),
            "HEADER": response.headers,
            "RESPONSE_TIME": total["total"],
            "CONNECTED": True,
            "IP": self.ip,
        }
        if expiry is not None:
            values["CERTIFICATE_EXPIRATION"] = expiry
        results = evaluate(conditions, values)
        ok = all(r.ok for r in results)
        if ok:
            message = f"HTTP {response.status_code} in {total['total']:.0f} ms"
        else:
            message = failure_message(results)
        if truncated:
            message += f" (body truncated at {spec.max_body} bytes)"
        out: dict[str, Any] = {"http_status": response.status_code, "body_bytes": len(content), "redirects": self.redirects}
        if truncated:
            out["body_truncated"] = True
        if hops:
            out["hops"] = hops
        return Result(
            spec.name, Status.UP if ok else Status.DOWN, started, total["total"], message, total,
            conditions=results, values=out,
        )


class _Plan:
    """What a spec asks for on every run, worked out on its first: the URL with its params,
    the headers, the body, the conditions, and the first hop's bytes as sent (see _send).
    Kept per spec object (a reload brings new specs, and with them new plans); ~1.3 KB each,
    most of it the parsed URL. (Keeping a whole httpx.Request instead cost 1.5 KB a check:
    90 MB at 60,000 checks.)"""

    __slots__ = ("body", "conditions", "first", "headers", "needs_certificate", "url", "user_agent")

    def __init__(self, spec: Spec, user_agent: str) -> None:
        url = httpx.URL(spec.url)
        if spec.params:
            url = url.copy_merge_params({k: _param(v) for k, v in spec.params.items()})
        self.url = url
        self.user_agent = user_agent
        self.headers = _shared_headers(user_agent, tuple(spec.headers.items()))
        self.body: dict[str, Any] = {}
        if spec.json_body is not None:
            self.body["json"] = spec.json_body
        elif spec.form is not None:
            self.body["data"] = spec.form
        self.conditions: Sequence[Any] = spec.conditions or DEFAULT_CONDITIONS
        self.needs_certificate = any("CERTIFICATE_EXPIRATION" in c.placeholders for c in self.conditions)
        # The first hop as sent: (URL of the address, head bytes, body); ~300 bytes.
        self.first: tuple[httpx.URL, bytes, bytes] | None = None


def _plan(spec: Spec, user_agent: str) -> _Plan:
    plan: _Plan | None = getattr(spec, "_plan", None)
    if plan is None or plan.user_agent != user_agent:
        plan = _Plan(spec, user_agent)
        # Gone with the spec. (A dict by id(spec) with a weakref.finalize per spec to empty
        # it cost ~450 bytes a check: 27 MB at 60,000.)
        object.__setattr__(spec, "_plan", plan)
    return plan


def _origin(url: httpx.URL) -> tuple[str, int, bool]:
    https = url.scheme == "https"
    return url.raw_host.decode("ascii"), url.port or (443 if https else 80), https


@functools.lru_cache(maxsize=8)
def _default_headers(user_agent: str) -> dict[str, str]:
    """What httpx's client would add; the request's own headers override these by name."""
    return {"User-Agent": user_agent, "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING}


@functools.lru_cache(maxsize=1024)
def _shared_headers(user_agent: str, own: tuple[tuple[str, str], ...]) -> httpx.Headers:
    """One httpx.Headers per distinct header set, shared by every plan that sends it (never
    changed: httpx.Request copies it, ~0.2 us, where building one from a dict is ~1.5 us)."""
    return httpx.Headers(_headers(user_agent, dict(own)))


def _headers(user_agent: str, own: dict[str, str]) -> dict[str, str]:
    """The request's headers: shared (never changed) when the spec adds none."""
    defaults = _default_headers(user_agent)
    if not own:
        return defaults
    mine = {k.lower() for k in own}
    return {**{k: v for k, v in defaults.items() if k.lower() not in mine}, **own}


def _param(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _explain(exc: BaseException, phases: Phases, target: str) -> str:
    """A transport error in words, prefixed with the phase it happened in."""
    phase = phases.failed or phases.current or "request"
    why = reason(exc)
    if phase == "connect":
        return f"connect to {target} failed: {why}"
    if phase == "tls":
        return f"TLS handshake with {target} failed: {why}"
    if isinstance(exc, httpx.RemoteProtocolError):
        text = str(exc)
        if "without sending" in text or "disconnected" in text.lower():
            return f"{target} closed the connection {phases.where() or 'early'} ({text})"
        return f"{target} sent an invalid HTTP response: {text[:200]}"
    if isinstance(exc, httpx.DecodingError):
        return f"response body could not be decoded: {why}"
    return f"{phases.where() or phase}: {why}"
