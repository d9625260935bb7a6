"""Network pieces the socket-level kinds share: timed name resolution and errors in words."""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import socket
import ssl

from checks.timing import Phases
from monitor.core.errors import ProbeFailure


@functools.lru_cache(maxsize=4096)
def is_ip(host: str) -> bool:
    """Whether host is an IP literal (cached: a probe asks on every run, for the same hosts)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve_literal(host: str, phases: Phases) -> str | None:
    """The address of an IP literal host (dns phase 0), without a coroutine; None for a name."""
    bare = host.strip("[]")
    if is_ip(bare):
        phases.ms.setdefault("dns", 0.0)
        return bare
    return None


async def resolve(host: str, port: int, phases: Phases) -> str:
    """The first address for host (timed as the `dns` phase; 0 for an IP literal)."""
    literal = resolve_literal(host, phases)
    if literal is not None:
        return literal
    bare = host.strip("[]")
    with phases.phase("dns"):
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(bare, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ProbeFailure(f"DNS lookup of {bare} failed: {reason(exc)}") from None
    if not infos:
        raise ProbeFailure(f"DNS lookup of {bare} returned no addresses")
    return str(infos[0][4][0])


def hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def reason(exc: BaseException) -> str:
    """The most telling message in an exception chain: the TLS or OS error, if any."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {cur.verify_message}"
        if isinstance(cur, ssl.SSLError):
            return str(cur.reason or cur).replace("_", " ").lower()
        if isinstance(cur, socket.gaierror):
            return cur.strerror or str(cur)
        if isinstance(cur, ConnectionResetError | BrokenPipeError):
            return "connection reset by peer"
        if isinstance(cur, OSError) and cur.errno is not None and cur.errno in errno.errorcode:
            return os.strerror(cur.errno)
        if isinstance(cur, asyncio.IncompleteReadError | EOFError):
            return "connection closed by peer"
        cur = cur.__cause__ or cur.__context__
    text = str(exc) or type(exc).__name__
    return text[:300]
