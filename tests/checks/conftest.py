"""Real targets on 127.0.0.1 for the check kinds: hostile TCP servers, TLS with generated
certificates, a tiny DNS server built on dnspython's message module.

Servers may hang or trickle (bounded by the check's timeout); tests themselves never sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from checks.base import Context
from checks.client import HttpClientFactory
from monitor.core.clock import Clock, SystemClock
from monitor.core.secrets import Redactor
from monitor.runtime import close_context

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
async def make_ctx() -> AsyncIterator[Callable[..., Context]]:
    """Contexts for running checks (a real clock unless given one); closed afterwards."""
    made: list[Context] = []

    def make(clock: Clock | None = None, **kw: Any) -> Context:
        ctx = Context(clock=clock or SystemClock(), http=HttpClientFactory(**kw), redactor=Redactor())
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        await close_context(ctx)


@pytest.fixture
def ctx(make_ctx: Callable[..., Context]) -> Context:
    return make_ctx()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- raw TCP servers -----------------------------------------------------------------------------
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def tcp_server() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """Start a raw TCP server with a handler (optionally TLS); returns its port."""
    servers: list[asyncio.base_events.Server] = []
    tasks: set[asyncio.Task[Any]] = set()

    async def start(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> int:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            finally:
                tasks.discard(task)
                writer.close()

        server = await asyncio.start_server(guarded, "127.0.0.1", 0, ssl=ssl_context)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for t in list(tasks):
        t.cancel()
    for server in servers:
        server.close()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _first_bytes(reader: asyncio.StreamReader) -> bytes:
    with contextlib.suppress(OSError):
        return await reader.read(65536)
    return b""


async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:  # pragma: no cover
    raise AssertionError("never called: nothing listens")


async def accept_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.read(65536):
        pass
    await asyncio.Event().wait()  # hold the connection open until the test ends


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _first_bytes(reader)
    writer.write(random.Random(7).randbytes(4096))
    await writer.drain()
    await asyncio.Event().wait()


async def ten_mb_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _first_bytes(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % TEN_MB)
    chunk = b"x" * 65536
    for _ in range(TEN_MB // len(chunk)):
        writer.write(chunk)
        await writer.drain()


async def http_500(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _first_bytes(reader)
    writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\nerror")
    await writer.drain()


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Slowloris in reverse: a response that arrives one byte every 50 ms, forever."""
    await _first_bytes(reader)
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100_000
    for byte in head:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)


HOSTILE: dict[str, Handler] = {
    "refused": refuse,
    "accept_and_close": accept_and_close,
    "hang": hang,
    "garbage": garbage,
    "ten_mb_body": ten_mb_body,
    "http_500": http_500,
    "trickle": trickle,
}


@pytest.fixture
async def hostile(tcp_server: Callable[..., Awaitable[int]]) -> Callable[[str], Awaitable[int]]:
    """Port of a hostile target by name (see HOSTILE); 'refused' has no listener."""

    async def port(name: str) -> int:
        if name == "refused":
            return free_port()
        return await tcp_server(HOSTILE[name])

    return port


# -- certificates --------------------------------------------------------------------------------
@dataclass
class Cert:
    cert_file: Path
    key_file: Path
    not_after: dt.datetime

    def server_context(self, sni: list[str] | None = None, on_handshake: Callable[[], None] | None = None) -> ssl.SSLContext:
        """A server context; records each client's SNI into `sni` and calls on_handshake."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        if sni is not None or on_handshake is not None:

            def callback(_sock: Any, name: str | None, _ctx: Any) -> None:
                if sni is not None:
                    sni.append(name or "")
                if on_handshake is not None:
                    on_handshake()

            context.sni_callback = callback
        return context


@pytest.fixture
def make_cert(tmp_path: Path) -> Iterator[Callable[..., Cert]]:
    """Self-signed certificates for chosen names and validity (cryptography package)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    count = 0

    def make(names: tuple[str, ...] = ("localhost",), days: float = 90, not_before_days: float = 1) -> Cert:
        nonlocal count
        count += 1
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        not_after = now + dt.timedelta(days=days)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        alt: list[x509.GeneralName] = []
        for n in names:
            try:
                import ipaddress

                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=not_before_days))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_file = tmp_path / f"cert{count}.pem"
        key_file = tmp_path / f"key{count}.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return Cert(cert_file, key_file, not_after.replace(microsecond=0))

    yield make


# -- DNS -----------------------------------------------------------------------------------------
@dataclass
class DnsServer:
    """Answers from `zone` ({(name, type): [rdata text]}); unknown names get NXDOMAIN."""

    zone: dict[tuple[str, str], list[str]]
    port: int = 0
    queries: list[str] = field(default_factory=list)
    silent: bool = False  # receive and never answer
    on_query: Callable[[], None] | None = None
    rcode: int | None = None  # force this rcode (e.g. SERVFAIL)

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append(f"{name} {rdtype}")
        if self.on_query is not None:
            self.on_query()
        if self.silent:
            return None
        response = dns.message.make_response(query)
        if self.rcode is not None:
            response.set_rcode(self.rcode)
        elif any(n == name for n, _t in self.zone):
            values = self.zone.get((name, rdtype), [])
            if values:
                response.answer.append(dns.rrset.from_text_list(question.name, 300, "IN", rdtype, values))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


@pytest.fixture
async def dns_server(tcp_server: Callable[..., Awaitable[int]]) -> AsyncIterator[Callable[..., Awaitable[DnsServer]]]:
    """Start a DNS server on 127.0.0.1 answering over UDP and TCP on the same port."""
    transports: list[asyncio.DatagramTransport] = []

    class Udp(asyncio.DatagramProtocol):
        def __init__(self, server: DnsServer) -> None:
            self.server = server

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            reply = self.server.answer(data)
            if reply is not None:
                self.transport.sendto(reply, addr)

    async def start(zone: dict[tuple[str, str], list[str]] | None = None, **kw: Any) -> DnsServer:
        server = DnsServer(zone or {}, **kw)

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            size = int.from_bytes(await reader.readexactly(2), "big")
            reply = server.answer(await reader.readexactly(size))
            if reply is None:
                await asyncio.Event().wait()
            writer.write(len(reply).to_bytes(2, "big") + reply)
            await writer.drain()

        # TCP first on a free port, then UDP on the same number.
        for _ in range(20):
            port = await tcp_server(tcp)
            try:
                transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda: Udp(server), local_addr=("127.0.0.1", port)
                )
            except OSError:
                continue
            transports.append(transport)  # type: ignore[arg-type]
            server.port = port
            return server
        raise RuntimeError("no free port for the DNS server")

    yield start
    for t in transports:
        t.close()
