"""The one way out to HTTP. Every check and platform call gets its client or transport here.

Why shared: building an httpx.AsyncClient (or any transport) loads an SSL context and CA
bundle (~25 ms per probe, measured); one `ProbeTransport` per (verify, keep-alive) setting,
reused by every probe, loads it once. Probes use keep-alive *off* so each run measures a
fresh connect (dns, connect, tls phases) the way a user's first request sees it; platform API
sessions keep alive.

Two ways to send, both httpx: `client(...)` is an AsyncClient over the shared transport (for
platform sessions: cookies, params, the usual API); `transport(...)` is the bare transport,
for the http kind, which builds its own `httpx.Request` and needs none of the client's layers
(no auth, no redirects, no cookie jar: it follows redirects itself and keeps no cookies);
skipping them saves ~60 us a probe.

Bodies: `read_capped` reads the raw bytes and inflates gzip, deflate and br itself, at most
`max_bytes` (+ one step of 64 KiB) and yielding to the loop between steps, so a compression
bomb costs a bounded amount of memory and never holds the event loop (httpx's own decoders
inflate a whole network read at once: one read of a bomb became 64 MiB, 0.5 s on the loop).

Tests inject `transport=` (an httpx.MockTransport, or nothing and a real server on 127.0.0.1);
nothing is monkeypatched.
"""

from __future__ import annotations

import asyncio
import zlib
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Protocol

import httpx

from checks.transport import ProbeTransport
from monitor.core import __version__

try:  # br is decoded when the brotli package (>= 1.2: bounded output) is installed
    import brotli
except ImportError:  # pragma: no cover - brotli is a dependency
    brotli = None

USER_AGENT = f"invoicewatch/{__version__} (+health probe)"
ACCEPT_ENCODING = "gzip, deflate, br" if brotli is not None else "gzip, deflate"
DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB
STEP = 64 * 1024  # bytes inflated per step
YIELD_EVERY = 256 * 1024  # inflated bytes between turns of the event loop


class HttpClientFactory:
    """Hands out the shared transports and AsyncClients. Close it once at shutdown."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 200,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._transport = transport
        self._max_connections = max_connections
        self.user_agent = user_agent
        self._transports: dict[tuple[bool, bool], ProbeTransport] = {}
        self._clients: dict[tuple[bool, bool], httpx.AsyncClient] = {}

    @property
    def injected_transport(self) -> bool:
        """True when tests handed in a transport: there is no network to resolve names on."""
        return self._transport is not None

    def transport(self, *, verify: bool = True, keepalive: bool = False) -> httpx.AsyncBaseTransport:
        """The shared transport for this setting (the injected one, in tests)."""
        if self._transport is not None:
            return self._transport
        key = (verify, keepalive)
        transport = self._transports.get(key)
        if transport is None:
            transport = self._transports[key] = ProbeTransport(verify=verify, keepalive=keepalive)
        return transport

    def client(self, *, verify: bool = True, keepalive: bool = False) -> httpx.AsyncClient:
        """A shared client. Redirects are off: callers follow them (and time each hop)."""
        key = (verify, keepalive)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                transport=self.transport(verify=verify, keepalive=keepalive),
                headers={"User-Agent": self.user_agent},
                follow_redirects=False,
                timeout=httpx.Timeout(30.0),
                trust_env=False,
                # Shared by every probe: a Set-Cookie from one target must not ride along on
                # another check's request (nor grow without bound), so the jar keeps nothing.
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()  # closes an injected transport too, as before
        transports, self._transports = self._transports, {}
        for transport in transports.values():
            await transport.aclose()


class _Decoder(Protocol):
    def feed(self, data: bytes) -> None: ...

    def read(self, limit: int) -> bytes:
        """Up to `limit` inflated bytes; b"" when it needs more input."""
        ...


class _Zlib:
    """gzip or deflate, inflated at most `limit` bytes per call (zlib's max_length)."""

    def __init__(self, encoding: str) -> None:
        self.deflate = encoding == "deflate"
        wbits = zlib.MAX_WBITS if self.deflate else zlib.MAX_WBITS | 16
        self._z = zlib.decompressobj(wbits)
        self._pending = b""
        self._first = True

    def feed(self, data: bytes) -> None:
        self._pending += data

    def read(self, limit: int) -> bytes:
        if self._z.eof:
            return b""  # trailing bytes after the stream are ignored, as httpx does
        try:
            out = self._z.decompress(self._pending, limit)
        except zlib.error:
            if not (self.deflate and self._first):
                raise
            # "deflate" is sent both zlib-wrapped (as the RFC says) and raw: try raw.
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._z.decompress(self._pending, limit)
        self._first = False
        self._pending = self._z.unconsumed_tail
        return out


class _Brotli:
    def __init__(self) -> None:
        if brotli is None:  # pragma: no cover
            raise httpx.DecodingError("br content without the brotli package")
        self._d = brotli.Decompressor()
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self._pending += data

    def read(self, limit: int) -> bytes:
        d = self._d
        if d.is_finished():
            return b""
        data = b""
        if self._pending and d.can_accept_more_data():
            data, self._pending = self._pending, b""
        # brotli may overshoot the limit by one buffer (~1.5x); still bounded per step
        return bytes(d.process(data, output_buffer_limit=limit))


class _Chain:
    """Several codings (`Content-Encoding: gzip, br`): stage 0 undoes the last one applied;
    each stage is pulled for at most `limit` bytes at a time."""

    def __init__(self, stages: list[_Decoder]) -> None:
        self._stages = stages

    def feed(self, data: bytes) -> None:
        self._stages[0].feed(data)

    def read(self, limit: int) -> bytes:
        return self._pull(len(self._stages) - 1, limit)

    def _pull(self, i: int, limit: int) -> bytes:
        stage = self._stages[i]
        while True:
            out = stage.read(limit)
            if out or i == 0:
                return out
            more = self._pull(i - 1, limit)
            if not more:
                return b""
            stage.feed(more)


def _decoder(content_encoding: str | None) -> _Decoder | None:
    if not content_encoding:
        return None
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    stages: list[_Decoder] = []
    for coding in reversed(codings):  # the last applied is undone first
        if coding in ("gzip", "x-gzip", "deflate"):
            stages.append(_Zlib("deflate" if coding == "deflate" else "gzip"))
        elif coding == "br" and brotli is not None:
            stages.append(_Brotli())
        elif coding == "identity":
            continue
        else:
            return None  # unknown coding: the bytes as sent (as httpx does)
    if not stages:
        return None
    return stages[0] if len(stages) == 1 else _Chain(stages)


async def read_capped(response: httpx.Response, max_bytes: int = DEFAULT_MAX_BODY) -> tuple[bytes, bool]:
    """Read a streamed response body up to `max_bytes` decoded bytes. Returns (body, truncated).

    Inflates Content-Encoding here, a bounded step at a time (see the module docstring).
    Raises httpx.DecodingError for a body that does not inflate.
    """
    if response.is_stream_consumed:  # read already (a test transport answers from memory)
        content = response.content
        await response.aclose()
        return content[:max_bytes], len(content) > max_bytes
    decoder = _decoder(response.headers.get("content-encoding"))
    out = bytearray()
    truncated = False
    since_yield = 0
    try:
        async for raw in response.aiter_raw():
            if decoder is None:
                room = max_bytes - len(out)
                if len(raw) > room:
                    out += raw[:room]
                    truncated = True
                    break
                out += raw
                continue
            decoder.feed(raw)
            while True:
                room = max_bytes - len(out)
                try:
                    piece = decoder.read(min(STEP, room + 1))
                except (zlib.error, ValueError, OSError) as exc:
                    raise httpx.DecodingError(str(exc) or "invalid compressed data") from exc
                except Exception as exc:  # brotli.error is not an OSError
                    raise httpx.DecodingError(str(exc) or "invalid compressed data") from exc
                if not piece:
                    break
                if len(piece) > room:
                    out += piece[:room]
                    truncated = True
                    break
                out += piece
                since_yield += len(piece)
                if since_yield >= YIELD_EVERY:
                    since_yield = 0
                    await asyncio.sleep(0)  # a big body must not hold every other probe
            if truncated:
                break
    finally:
        await response.aclose()
    return bytes(out), truncated
