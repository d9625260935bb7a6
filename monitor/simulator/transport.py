"""Faults at the HTTP level: hangs, latency, error statuses, connection resets, flapping.

These hit a request before any API shape parses it, so they look the same in every mode:
a gateway that is slow, silent, answering 5xx, or cutting connections. Latency and hangs are
real wall time (they are network behaviour); everything else follows the simulator clock.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.core.aio import wait_event

if TYPE_CHECKING:
    from monitor.simulator.state import Simulator

log = logging.getLogger(__name__)

_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class Dropped(Exception):
    """The connection was closed (or reset) on purpose; there is nothing to answer."""


def error_page(status: int) -> web.Response:
    """What a gateway in front of a broken platform sends: a small HTML error page."""
    reason = _REASONS.get(status, "Error")
    body = f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
    return web.Response(status=status, text=body, content_type="text/html")


def drop(request: web.Request, *, reset: bool) -> Dropped:
    """Close the client's connection without an answer; with `reset`, send a TCP RST."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if reset and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort() if reset else transport.close()
    return Dropped()


async def gate(sim: Simulator, request: web.Request, op: str | None) -> web.Response | None:
    """Apply the HTTP-level faults aimed at `op`: an error response to send, or None to go on.

    Raises Dropped when the connection was closed or reset.
    """
    faults = sim.faults
    hang = faults.active("hang", op)
    if hang is not None and not hang.params["after"]:
        await _hold(sim, request, op)
    latency = faults.active("latency", op)
    if latency is not None:
        jitter = latency.params["jitter"]
        delay = latency.params["seconds"] + (faults.uniform(-jitter, jitter) if jitter else 0.0)
        await asyncio.sleep(max(0.0, delay))
    down = faults.active("token_down", op) if op == "token" else None
    if down is not None:
        if down.params["reset"]:
            raise drop(request, reset=True)
        return error_page(down.params["status"])
    flapping = faults.active("flapping", op)
    if flapping is not None:
        return error_page(flapping.params["status"])
    errors = faults.active("error_rate", op)
    if errors is not None and not (errors.params["after"] and errors.params["reset"]) and faults.chance(errors.params["rate"]):
        if errors.params["reset"]:
            raise drop(request, reset=True)
        return error_page(errors.params["status"])
    return None


async def after(sim: Simulator, request: web.Request, op: str | None) -> None:
    """The faults that strike once the operation is done: its answer is held or cut off.

    This is the case a caller cannot tell from "never happened": the invoice was submitted,
    the answer never arrived. Raises Dropped when the connection was closed or reset.
    """
    faults = sim.faults
    hang = faults.active("hang", op)
    if hang is not None and hang.params["after"]:
        await _hold(sim, request, op)
    errors = faults.active("error_rate", op)
    if errors is not None and errors.params["after"] and errors.params["reset"] and faults.chance(errors.params["rate"]):
        raise drop(request, reset=True)


async def _hold(sim: Simulator, request: web.Request, op: str | None) -> None:
    faults = sim.faults
    hang = faults.active("hang", op)
    assert hang is not None
    cap = sim.settings.hang_cap.total_seconds()
    hold = min(hang.params["seconds"] or cap, cap)
    faults.held += 1
    try:
        await wait_event(faults.release_event(), hold)
    finally:
        faults.held -= 1
    if faults.active("hang", op) is not None:  # still hanging: time is up, or shutting down
        raise drop(request, reset=False)


@web.middleware
async def dropped_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn Dropped into an empty response aiohttp will fail quietly to write."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except Dropped:
        return web.Response(status=499)
