"""The built-in server's connection layer: what a public port needs below the application.

    GuardedRunner(app, headers=..., **AppRunner kwargs)   an AppRunner with these guards
    Limits / LIMITS                                        the app's limits (make_app sets them)

* Requests aiohttp's parser refuses (garbage, TLS to the HTTP port, a header without a
  colon, an oversized line) are answered with the given headers (the server's security
  headers and neutral `Server:`), a neutral body, and one log line without a traceback;
  aiohttp's default is its version banner, no headers, and a traceback per request.
* Headers must arrive within `header_timeout` of the connection opening or of the previous
  response (aiohttp's keep-alive timer, which also runs while headers trickle in): a
  slow-loris client is closed. Bodies must arrive within `body_timeout` (408).
* One client address holds at most `per_client` connections; more are answered 503 and
  closed before any parsing, and logged once per crowding streak.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 5.0
    body_timeout: float = 10.0
    per_client: int = 64  # 0: no cap


LIMITS = web.AppKey("invoicewatch_limits", Limits)


@web.middleware
async def body_in_time(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Read a request body (capped by client_max_size) within the body timeout, before any
    handler sees it; the handler's own read() then returns the buffered bytes."""
    if request.body_exists:
        limits = request.app[LIMITS]
        try:
            async with asyncio.timeout(limits.body_timeout):
                await request.read()
        except TimeoutError:
            log.warning("request body from %s did not arrive within %gs; closing", request.remote,
                        limits.body_timeout, extra={"event": "http.slow_body", "fields": {"client": request.remote}})
            raise web.HTTPRequestTimeout(headers={"Connection": "close"}) from None
    return await handler(request)


class ClientCap:
    """Open connections per client address; refusals are logged once per crowding streak."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}
        self.refused = 0
        self._logged: set[str] = set()

    def admit(self, client: str) -> bool:
        held = self.open.get(client, 0)
        if self.limit and held >= self.limit:
            self.refused += 1
            if client not in self._logged:
                self._logged.add(client)
                log.warning("client %s holds %d connections (max_connections_per_client); refusing more",
                            client, held, extra={"event": "http.too_many_connections", "fields": {"client": client}})
            return False
        self.open[client] = held + 1
        return True

    def release(self, client: str) -> None:
        held = self.open.get(client, 0) - 1
        if held > 0:
            self.open[client] = held
        else:
            self.open.pop(client, None)
            self._logged.discard(client)


def _plain_response(status: int, headers: Mapping[str, str]) -> web.Response:
    """A neutral body (nothing the client sent is echoed) with every security header."""
    phrase = HTTPStatus(status).phrase
    return web.Response(status=status, text=f"{status} {phrase}\n", headers=dict(headers))


def _raw_response(status: int, headers: Mapping[str, str]) -> bytes:
    """The same for a connection refused before aiohttp parses anything on it."""
    phrase = HTTPStatus(status).phrase
    body = f"{status} {phrase}\n".encode()
    headers = {**headers, "Content-Type": "text/plain; charset=utf-8",
               "Content-Length": str(len(body)), "Connection": "close"}
    head = f"HTTP/1.1 {status} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


class _Handler(RequestHandler):
    """aiohttp's connection handler with our answers to what never reaches the app."""

    def __init__(self, manager: web.Server, *, cap: ClientCap, headers: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._cap = cap
        self._headers = headers
        self._client: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self._cap.admit(client):
            assert isinstance(transport, asyncio.Transport)
            transport.write(_raw_response(503, self._headers))
            transport.close()
            return
        self._client = client
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._client is not None:
            self._cap.release(self._client)
            self._client = None
        super().connection_lost(exc)

    def handle_error(
        self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """Requests the parser refused (400 and friends): one line, no traceback, our headers.
        A handler that crashed (500) is our bug: that one keeps its traceback."""
        if status >= 500:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
        else:
            reason = (getattr(exc, "message", None) or message or type(exc).__name__).splitlines()[0][:200]
            log.warning("bad request from %s: %d %s", request.remote, status, reason,
                        extra={"event": "http.bad_request", "fields": {"client": request.remote, "status": status}})
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error response")
        response = _plain_response(status, self._headers)
        response.force_close()
        return response


class _Server(web.Server):
    def __init__(self, *args: Any, cap: ClientCap, headers: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap
        self.headers = headers

    def __call__(self) -> RequestHandler:
        return _Handler(self, cap=self.cap, headers=self.headers, loop=self._loop, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """AppRunner whose connections are `_Handler`s (aiohttp has no hook for the handler class:
    we rebuild the Server it makes with the same arguments). `headers` go on every answer
    given below the app (parser errors, refused connections)."""

    def __init__(self, app: web.Application, *, headers: Mapping[str, str], **kwargs: Any) -> None:
        limits = app.get(LIMITS) or Limits()
        # keepalive_timeout is also aiohttp's only clock on a connection whose request headers
        # are still arriving (it starts when the connection opens): our header timeout.
        kwargs.setdefault("keepalive_timeout", limits.header_timeout)
        kwargs.setdefault("lingering_time", min(limits.body_timeout, 2.0))
        super().__init__(app, **kwargs)
        self.cap = ClientCap(limits.per_client)
        self.headers = headers

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return _Server(
            plain.request_handler, request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation, loop=asyncio.get_running_loop(),
            cap=self.cap, headers=self.headers, **plain._kwargs,
        )
