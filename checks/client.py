"""The one way out to HTTP. Every check and platform call gets its client here.

Why shared clients: building an httpx.AsyncClient loads an SSL context and CA bundle
(~25 ms per probe, measured); one client per (verify, keep-alive) setting reused by every probe
costs ~1 ms. Probes use keep-alive *off* so each run measures a fresh connect (dns, connect,
tls phases) the way a user's first request sees it; platform API sessions may keep alive.

Tests inject `transport=` (an httpx.MockTransport, or nothing and a real server on 127.0.0.1);
nothing is monkeypatched.
"""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from monitor.core import __version__

USER_AGENT = f"invoicewatch/{__version__} (+health probe)"
DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB


class HttpClientFactory:
    """Hands out shared AsyncClients. Close it once at shutdown."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 200,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._transport = transport
        self._max_connections = max_connections
        self._user_agent = user_agent
        self._clients: dict[tuple[bool, bool], httpx.AsyncClient] = {}

    @property
    def injected_transport(self) -> bool:
        """True when tests handed in a transport: there is no network to resolve names on."""
        return self._transport is not None

    def client(self, *, verify: bool = True, keepalive: bool = False) -> httpx.AsyncClient:
        """A shared client. Redirects are off: callers follow them (and time each hop)."""
        key = (verify, keepalive)
        client = self._clients.get(key)
        if client is None:
            limits = httpx.Limits(
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_connections if keepalive else 0,
            )
            client = httpx.AsyncClient(
                verify=verify,
                transport=self._transport,
                limits=limits,
                headers={"User-Agent": self._user_agent},
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
            await client.aclose()


async def read_capped(response: httpx.Response, max_bytes: int = DEFAULT_MAX_BODY) -> tuple[bytes, bool]:
    """Read a streamed response body up to `max_bytes`. Returns (body, truncated)."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    async for chunk in response.aiter_bytes():
        room = max_bytes - size
        if len(chunk) > room:
            chunks.append(chunk[:room])
            truncated = True
            break
        chunks.append(chunk)
        size += len(chunk)
    await response.aclose()
    return b"".join(chunks), truncated
