"""`tcp`: can we open a TCP connection to host:port, and (optionally) does it answer right?

With `send`, the text is written after connecting; with `expect`, the reply must contain
that text (read until it appears, the peer closes, or `max_bytes` arrive). Without `expect`,
whatever arrives first is the banner. Conditions may read [CONNECTED], [RESPONSE_TIME],
[IP] and [BODY] (the banner text).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from pydantic import Field

from checks.base import Context
from checks.conditions import Document, condition_list, evaluate, failure_message, vocabulary
from checks.net import hostport, reason, resolve
from checks.timing import Phases, deadline, down
from monitor.core.addresses import Host
from monitor.core.errors import ProbeFailure
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec

PLACEHOLDERS = vocabulary("a tcp check", "CONNECTED", "RESPONSE_TIME", "IP", "BODY")


class Spec(CheckSpec):
    kind: Literal["tcp"]
    host: Host = Field(description="name or IP address")
    port: int = Field(ge=1, le=65535)
    send: str | None = Field(None, max_length=65536, description="text to send after connecting")
    expect: str | None = Field(None, min_length=1, max_length=4096, description="text the reply must contain")
    max_bytes: int = Field(65536, ge=1, le=1024 * 1024, description="bytes of reply read at most")
    conditions: condition_list(PLACEHOLDERS) = Field(default_factory=list)  # type: ignore[valid-type]


async def run(spec: Spec, ctx: Context) -> Result:
    started = ctx.clock.now()
    phases = Phases(ctx.clock)
    target = f"{spec.host}:{spec.port}"
    values: dict[str, Any] = {}
    received = bytearray()  # kept outside the timeout, so a timeout can say what did arrive
    try:
        async with asyncio.timeout(deadline(spec)):
            ip = await resolve(spec.host, spec.port, phases)
            target = hostport(ip, spec.port)
            values["ip"] = ip
            with phases.phase("connect"):
                reader, writer = await asyncio.open_connection(ip, spec.port)
            try:
                if _reads(spec):
                    await _converse(spec, reader, writer, phases, received)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        message = f"timed out after {spec.timeout.total_seconds():g}s {phases.where()} ({target})"
        if spec.expect is not None and phases.failed == "banner":
            message += f"; received {_shown(received)} without {spec.expect!r}"
        return down(spec, started, phases, message, values)
    except ProbeFailure as exc:
        return down(spec, started, phases, str(exc), values)
    except OSError as exc:
        what = "connect to" if phases.failed == "connect" else "talking to"
        return down(spec, started, phases, f"{what} {target} failed: {reason(exc)}", values)
    total = phases.total()
    banner = bytes(received)
    text = banner.decode("utf-8", "replace")
    if spec.expect is not None and spec.expect not in text:
        return down(spec, started, phases, f"reply from {target} does not contain {spec.expect!r} (got {_shown(banner)})", values)
    results = evaluate(
        spec.conditions,
        {"CONNECTED": True, "RESPONSE_TIME": total["total"], "IP": values.get("ip"), "BODY": Document(banner)},
    )
    ok = all(r.ok for r in results)
    message = f"connected to {target} in {total.get('connect', 0):.1f} ms" if ok else failure_message(results)
    if banner:
        values["banner"] = text[:200]
    return Result(spec.name, Status.UP if ok else Status.DOWN, started, total["total"], message, total, results, values=values)


def _reads(spec: Spec) -> bool:
    return spec.send is not None or spec.expect is not None or any("BODY" in c.placeholders for c in spec.conditions)


async def _converse(
    spec: Spec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, phases: Phases, data: bytearray
) -> None:
    """Send `send`, then read the reply into `data`: until `expect` appears, EOF, or max_bytes."""
    if spec.send is not None:
        with phases.phase("send"):
            writer.write(spec.send.encode())
            await writer.drain()
    want = spec.expect.encode() if spec.expect is not None else None
    with phases.phase("banner"):
        while len(data) < spec.max_bytes:
            chunk = await reader.read(spec.max_bytes - len(data))
            if not chunk:
                break
            # Only the tail can complete a match: never rescan the whole buffer.
            tail = len(data) - (len(want) - 1 if want else 0)
            data += chunk
            if want is None or data.find(want, max(tail, 0)) != -1:
                break


def _shown(data: bytes | bytearray) -> str:
    text = bytes(data[:200]).decode("utf-8", "replace")
    return repr(text[:80] + ("…" if len(text) > 80 else ""))

