"""The HTTP/1.1 transport under httpx: asyncio protocols, one SSL context, a flat idle pool.

Why our own: httpx's default transport (httpcore over anyio over asyncio) cost ~530 us of CPU
per fresh-connection probe on top of the ~90 us the sockets themselves cost (bench/
probe_cost.py): cancel scopes and stream wrappers on every read, h11's event machinery, and a
pool whose request assignment walks every waiting request (quadratic under load). This one is
an `httpx.AsyncBaseTransport`, so checks and platform sessions keep httpx's Request, Response
and AsyncClient; underneath, one asyncio.Protocol per connection buffers what arrives, and the
response head and body framing (Content-Length, chunked, until close) are parsed from that
buffer directly.

What it keeps exact:
- phases: it emits httpcore's trace events (`connection.connect_tcp.*`, `connection.start_tls.*`,
  `http11.send_request_headers.started`, `http11.receive_response_headers.*`), which
  `checks.timing.Phases.trace` turns into connect, tls and ttfb; TCP connect and the TLS
  handshake are separate steps (`loop.start_tls`), so each is timed on its own;
- httpx's timeouts (connect for connect + TLS, read for every wait for bytes, write for a
  send), raised as httpx's own exceptions, with the OS or TLS error as `__cause__`;
- the body as sent: it never decodes Content-Encoding (`checks.client.read_capped` inflates
  under its cap, a step at a time).

Connections: without keep-alive every request opens a fresh one and sends `Connection: close`
(a probe measures the connect a user's first request pays; the server closes first). With
keep-alive a finished connection goes back to a per-origin idle list (LIFO, bounded, expired
after a few seconds idle); a request on a reused connection that the server had closed in the
meantime is retried once on a fresh one. Headers are limited to 64 KiB and 200 lines, so a
hostile server cannot grow memory by sending headers forever. HTTP/2 is not spoken.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

MAX_HEAD = 64 * 1024
MAX_HEADER_LINES = 200
MAX_LINE = 8 * 1024  # a chunk-size or trailer line
HIGH_WATER = 256 * 1024  # buffered bytes before reading pauses
MAX_IDLE_PER_ORIGIN = 32
IDLE_EXPIRY = 5.0  # seconds an idle connection is kept

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")
_NO_BODY_STATUS = (204, 304)

Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


def ssl_context(verify: bool) -> ssl.SSLContext:
    """The one context per verify setting (loading the CA bundle costs ~20 ms: do it once)."""
    context = httpx.create_ssl_context(verify=verify, trust_env=False)
    context.set_alpn_protocols(["http/1.1"])
    return context


class _Connection(asyncio.Protocol):
    """One socket: what has arrived (`buf`), whether the peer is done, one waiter at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.paused = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        # asyncio's selector transport keeps a bound method of itself (`_read_ready_cb`): a
        # reference cycle per connection, ~1,000 a second at full load, each left for the
        # cyclic collector (whose full passes stalled the loop for seconds at 60,000 checks).
        # The transport is finished now; dropping the attribute lets refcounting free it.
        t = self.transport
        if t is not None:
            vars(t).pop("_read_ready_cb", None)
        w = self._write_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def pause_writing(self) -> None:
        self._write_waiter = self.loop.create_future()

    def resume_writing(self) -> None:
        w, self._write_waiter = self._write_waiter, None
        if w is not None and not w.done():
            w.set_result(None)

    # for the transport --------------------------------------------------------------------
    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until more bytes arrive or the peer is done; httpx.ReadTimeout after `timeout`."""
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        waiter = self._waiter = self.loop.create_future()
        if timeout is None:
            await waiter
            return
        timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def drain(self, timeout: float | None) -> None:
        w = self._write_waiter
        if w is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await w
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending the request") from None

    def usable(self, now: float) -> bool:
        t = self.transport
        return not self.eof and not self.buf and t is not None and not t.is_closing() and now - self.idle_since < IDLE_EXPIRY

    def close(self) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """So `response.extensions["network_stream"]` answers like httpcore's (ssl_object, ...)."""
        return default if self.transport is None else self.transport.get_extra_info(name, default)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout("timed out reading the response"))


class ProbeTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio for httpx. One per (verify, keep-alive) setting, shared."""

    def __init__(self, *, verify: bool = True, keepalive: bool = False) -> None:
        self.verify = verify
        self.keepalive = keepalive
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[tuple[str, str, int, str], list[_Connection]] = {}
        self.opened = 0  # connections made (tests and benches look)

    @property
    def ssl(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_context(self.verify)
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await _request_body(request)
        return await self.send(request.url, request.method, self.head(request), body, request.extensions, request)

    def head(self, request: httpx.Request) -> bytes:
        """The request line and headers as this transport sends them (checked for injection)."""
        return _request_head(request, close=not self.keepalive)

    async def send(
        self, url: httpx.URL, method: str, head: bytes, body: bytes, ext: dict[str, Any],
        request: httpx.Request | None = None,
    ) -> httpx.Response:
        """Send a request already serialized by `head()`: what `handle_async_request` does
        once it has the bytes. The http kind keeps each check's head and calls this directly
        (building an httpx.Request per run cost ~10 us of the ~100 us a probe may spend over
        the bare sockets); `url` gives the address, `ext` the trace, timeouts and SNI."""
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"request URL has an unsupported scheme {scheme!r}")
        host = url.host
        port = url.port or (443 if scheme == "https" else 80)
        sni = ext.get("sni_hostname") or host
        key = (scheme, host, port, sni)
        loop = asyncio.get_running_loop()
        if self.keepalive:
            conn = self._take(key, loop.time())
            if conn is not None:
                try:
                    return await self._exchange(conn, key, method, ext, request, head, body, reused=True)
                except _StaleConnection:
                    pass  # the server closed it while idle: once more, on a fresh connection
        conn = await self._connect(loop, scheme, host, port, sni, ext)
        return await self._exchange(conn, key, method, ext, request, head, body, reused=False)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    # connections ---------------------------------------------------------------------------
    def _take(self, key: tuple[str, str, int, str], now: float) -> _Connection | None:
        conns = self._idle.get(key)
        while conns:
            conn = conns.pop()
            if conn.usable(now):
                return conn
            conn.close()
        return None

    def _put(self, key: tuple[str, str, int, str], conn: _Connection) -> None:
        conns = self._idle.setdefault(key, [])
        if len(conns) >= MAX_IDLE_PER_ORIGIN:
            conn.close()
            return
        conn.idle_since = conn.loop.time()
        conns.append(conn)

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, scheme: str, host: str, port: int, sni: str, ext: dict[str, Any]
    ) -> _Connection:
        trace: Trace | None = ext.get("trace")
        timeout = (ext.get("timeout") or {}).get("connect")
        conn = _Connection(loop)
        if trace is not None:
            await trace("connection.connect_tcp.started", {"host": host, "port": port})
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: conn, host, port)
        except TimeoutError:
            conn.abort()
            if trace is not None:
                await trace("connection.connect_tcp.failed", {})
            raise httpx.ConnectTimeout("timed out connecting") from None
        except OSError as exc:
            if trace is not None:
                await trace("connection.connect_tcp.failed", {})
            raise httpx.ConnectError(str(exc)) from exc
        except BaseException:
            conn.abort()
            raise
        self.opened += 1
        if trace is not None:
            await trace("connection.connect_tcp.complete", {})
        if scheme == "https":
            await self._start_tls(loop, conn, sni, timeout, trace)
        return conn

    async def _start_tls(
        self, loop: asyncio.AbstractEventLoop, conn: _Connection, sni: str, timeout: float | None, trace: Trace | None
    ) -> None:
        assert conn.transport is not None
        if trace is not None:
            await trace("connection.start_tls.started", {"server_hostname": sni})
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(conn.transport, conn, self.ssl, server_hostname=sni)
        except TimeoutError:
            conn.abort()
            if trace is not None:
                await trace("connection.start_tls.failed", {})
            raise httpx.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError) as exc:
            conn.abort()
            if trace is not None:
                await trace("connection.start_tls.failed", {})
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            conn.abort()
            raise
        if tls is None:  # the peer went away during the handshake
            conn.abort()
            if trace is not None:
                await trace("connection.start_tls.failed", {})
            raise httpx.ConnectError("connection closed during the TLS handshake")
        conn.transport = tls
        if trace is not None:
            await trace("connection.start_tls.complete", {})

    # one exchange ------------------------------------------------------------------------
    async def _exchange(
        self, conn: _Connection, key: tuple[str, str, int, str], method: str, ext: dict[str, Any],
        request: httpx.Request | None, head: bytes, body: bytes, *, reused: bool,
    ) -> httpx.Response:
        trace: Trace | None = ext.get("trace")
        timeouts = ext.get("timeout") or {}
        read_timeout = timeouts.get("read")
        try:
            if trace is not None:
                await trace("http11.send_request_headers.started", {})
            assert conn.transport is not None
            try:
                conn.transport.write(head + body if body else head)
            except (OSError, RuntimeError) as exc:
                if reused:
                    raise _StaleConnection from exc
                raise httpx.WriteError(str(exc)) from exc
            await conn.drain(timeouts.get("write"))
            try:
                status, reason, headers, version = await _read_head(conn, read_timeout)
            except _NothingReceived as exc:
                if reused:
                    raise _StaleConnection from exc.__cause__
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from exc.__cause__
            except BaseException:
                if trace is not None:
                    await trace("http11.receive_response_headers.failed", {})
                raise
            if trace is not None:
                await trace("http11.receive_response_headers.complete", {})
        except BaseException:
            conn.abort()
            raise
        mode, length = _framing(method, status, headers)
        reusable = self.keepalive and version == b"HTTP/1.1" and mode != "close" and not _says_close(headers)
        stream = _Body(self, conn, key, mode, length, read_timeout, reusable)
        return httpx.Response(
            status,
            headers=headers,
            stream=stream,
            request=request,
            extensions={"http_version": version, "reason_phrase": reason, "network_stream": conn},
        )


class _StaleConnection(Exception):
    """A reused connection turned out closed before any answer: retry on a fresh one."""


class _NothingReceived(Exception):
    """The peer closed before sending a single byte of a response."""


def _request_head(request: httpx.Request, *, close: bool) -> bytes:
    method = request.method.encode("ascii")
    if not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"invalid method {request.method!r}")
    target = request.url.raw_path
    if _BAD_VALUE.search(target) or b" " in target:
        raise httpx.LocalProtocolError("invalid characters in the request target")
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    names: list[bytes] = []
    values: list[bytes] = []
    for name, value in request.headers.raw:
        if close and len(name) == 10 and name.lower() == b"connection":
            continue  # this connection is closed after the answer, whatever a client default says
        names.append(name)
        values.append(value)
        parts += (name, b": ", value, b"\r\n")
    # One check for all names and one for all values (a name is empty or not a token, or a
    # value smuggles a line break): a probe's head is the same few headers every run.
    if (names and not _TOKEN.fullmatch(b"".join(names))) or not all(names) or _BAD_VALUE.search(b"".join(values)):
        bad = next((n for n, v in zip(names, values, strict=True) if not _TOKEN.fullmatch(n) or _BAD_VALUE.search(v)), b"?")
        raise httpx.LocalProtocolError(f"invalid header {bad.decode('ascii', 'replace')!r}")
    if close:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


async def _request_body(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        pass
    chunks = [bytes(c) async for c in request.stream]  # type: ignore[union-attr]
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        framed = [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c]
        return b"".join([*framed, b"0\r\n\r\n"])
    return b"".join(chunks)


async def _read_head(conn: _Connection, timeout: float | None) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
    """Status, reason, raw headers and version of the first final response (1xx skipped)."""
    while True:
        block = await _head_block(conn, timeout)
        lines = block.split(b"\n")
        status_line = lines[0].rstrip(b"\r")
        version, _, rest = status_line.partition(b" ")
        code, _, reason = rest.partition(b" ")
        if version[:7] != b"HTTP/1." or len(version) != 8 or len(code) != 3 or not code.isdigit():
            raise httpx.RemoteProtocolError(f"illegal status line: {status_line[:100]!r}")
        if len(lines) > MAX_HEADER_LINES:
            raise httpx.RemoteProtocolError(f"more than {MAX_HEADER_LINES} header lines")
        headers: list[tuple[bytes, bytes]] = []
        for raw in lines[1:]:
            name, colon, value = raw.partition(b":")
            if not colon or not name:
                if raw.rstrip(b"\r"):
                    raise httpx.RemoteProtocolError(f"illegal header line: {raw[:100]!r}")
                continue
            headers.append((name, value.strip(b" \t\r")))
        if headers and not _TOKEN.fullmatch(b"".join(n for n, _ in headers)):  # one check for every name
            bad = next(n for n, _ in headers if not _TOKEN.fullmatch(n))
            raise httpx.RemoteProtocolError(f"illegal header line: {bad[:100]!r}")
        status = int(code)
        if 100 <= status < 200 and status != 101:
            continue  # 100 Continue, 103 Early Hints: the real answer follows
        return status, reason, headers, version


async def _head_block(conn: _Connection, timeout: float | None) -> bytes:
    """The response head up to its blank line, taken out of the buffer."""
    start = 0
    buf = conn.buf
    while True:
        end = buf.find(b"\n\r\n", start)
        size = 3
        if end < 0:
            end = buf.find(b"\n\n", start)
            size = 2
        if end >= 0:
            block = bytes(buf[:end])
            del buf[: end + size]
            return block
        if len(buf) > MAX_HEAD:
            raise httpx.RemoteProtocolError(f"response head larger than {MAX_HEAD // 1024} KiB")
        if conn.eof:
            if not buf:
                raise _NothingReceived from _read_error(conn)
            raise httpx.RemoteProtocolError("Server disconnected in the middle of the response head") from conn.error
        start = max(len(buf) - 2, 0)
        await conn.wait(timeout)


def _read_error(conn: _Connection) -> BaseException | None:
    return conn.error if isinstance(conn.error, OSError) else None


def _framing(method: str, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[str, int]:
    """How the body ends: ("none"|"length"|"chunked"|"close", length)."""
    if method == "HEAD" or status in _NO_BODY_STATUS or 100 <= status < 200:
        return "none", 0
    length: int | None = None
    for name, value in headers:
        if len(name) == 17 and name.lower() == b"transfer-encoding":
            codings = [c.strip().lower() for c in value.split(b",")]
            return ("chunked", 0) if codings[-1] == b"chunked" else ("close", 0)
        if len(name) == 14 and name.lower() == b"content-length":
            if not value.isdigit() or (length is not None and int(value) != length):
                raise httpx.RemoteProtocolError(f"invalid Content-Length {bytes(value[:40])!r}")
            length = int(value)
    if length is None:
        return "close", 0
    return ("length", length) if length else ("none", 0)


def _says_close(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(len(n) == 10 and n.lower() == b"connection" and b"close" in v.lower() for n, v in headers)


class _Body(httpx.AsyncByteStream):
    """The response body as it arrives, undecoded. Back to the idle list when read to its end
    (and reusable); closed when the reader stops early."""

    def __init__(
        self, owner: ProbeTransport, conn: _Connection, key: tuple[str, str, int, str], mode: str, length: int,
        timeout: float | None, reusable: bool,
    ) -> None:
        self.owner = owner
        self.conn = conn
        self.key = key
        self.mode = mode
        self.length = length
        self.timeout = timeout
        self.reusable = reusable
        self.done = mode == "none"
        if self.done:
            self._release()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.done:
            return
        conn = self.conn
        try:
            if self.mode == "length" and len(conn.buf) == self.length:  # all here: the usual case
                chunk = bytes(conn.buf)
                conn.buf.clear()
                yield chunk
            elif self.mode == "length":
                async for chunk in self._counted(self.length):
                    yield chunk
            elif self.mode == "chunked":
                async for chunk in self._chunked():
                    yield chunk
            else:
                async for chunk in self._until_close():
                    yield chunk
        except BaseException:
            self.done = True
            self.conn.abort()
            raise
        self.done = True
        self._release()

    async def aclose(self) -> None:
        if not self.done:
            self.done = True
            self.conn.abort()

    def _release(self) -> None:
        if self.reusable and not self.conn.buf and not self.conn.eof:
            self.owner._put(self.key, self.conn)
        else:
            self.conn.close()

    async def _counted(self, left: int) -> AsyncIterator[bytes]:
        conn = self.conn
        while left > 0:
            buf = conn.buf
            if buf:
                if len(buf) <= left:
                    chunk = bytes(buf)
                    buf.clear()
                else:
                    chunk = bytes(buf[:left])
                    del buf[:left]
                left -= len(chunk)
                yield chunk
                continue
            if conn.eof:
                raise httpx.RemoteProtocolError(
                    f"peer closed connection without sending complete message body ({left} bytes missing)"
                ) from _read_error(conn)
            await conn.wait(self.timeout)

    async def _until_close(self) -> AsyncIterator[bytes]:
        conn = self.conn
        while True:
            if conn.buf:
                chunk = bytes(conn.buf)
                conn.buf.clear()
                yield chunk
                continue
            if conn.eof:
                if isinstance(conn.error, OSError):
                    raise httpx.ReadError(str(conn.error)) from conn.error
                return
            await conn.wait(self.timeout)

    async def _line(self) -> bytes:
        conn = self.conn
        start = 0
        while True:
            end = conn.buf.find(b"\n", start)
            if end >= 0:
                line = bytes(conn.buf[:end]).rstrip(b"\r")
                del conn.buf[: end + 1]
                return line
            if len(conn.buf) > MAX_LINE:
                raise httpx.RemoteProtocolError("chunk header line too long")
            if conn.eof:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body: incomplete chunked read"
                ) from _read_error(conn)
            start = len(conn.buf)
            await conn.wait(self.timeout)

    async def _chunked(self) -> AsyncIterator[bytes]:
        while True:
            size_text = (await self._line()).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise httpx.RemoteProtocolError(f"invalid chunk size {size_text[:20]!r}") from None
            if size < 0:
                raise httpx.RemoteProtocolError(f"invalid chunk size {size_text[:20]!r}")
            if size == 0:
                for _ in range(MAX_HEADER_LINES):  # trailers, up to the blank line
                    if not await self._line():
                        return
                raise httpx.RemoteProtocolError("too many trailer lines")
            async for chunk in self._counted(size):
                yield chunk
            if await self._line():
                raise httpx.RemoteProtocolError("chunk not followed by CRLF")
