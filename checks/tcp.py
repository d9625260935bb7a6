"""`tcp`: can we open a TCP connection to host:port within the timeout?"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from checks.base import CheckSpec, Context, Result, Status


class Spec(CheckSpec):
    kind: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)


async def run(spec: Spec, ctx: Context) -> Result:
    started = ctx.clock.now()
    t0 = ctx.clock.monotonic()
    try:
        _reader, writer = await asyncio.open_connection(spec.host, spec.port)
    except OSError as exc:
        elapsed = (ctx.clock.monotonic() - t0) * 1000
        return Result(spec.name, Status.DOWN, started, elapsed, f"connect to {spec.host}:{spec.port} failed: {exc.strerror or exc}")
    elapsed = (ctx.clock.monotonic() - t0) * 1000
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return Result(spec.name, Status.UP, started, elapsed, f"connected to {spec.host}:{spec.port}", phases={"connect": elapsed, "total": elapsed})
