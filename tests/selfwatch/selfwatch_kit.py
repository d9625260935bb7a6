"""Real parts for the self-monitoring tests: systemd's notify socket (a unix datagram socket we
bind), an HTTP receiver for pings and webhooks, a monitor process, bounded waiting."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]


async def until(predicate: Callable[[], Any], seconds: float = 30.0, what: str = "condition") -> Any:
    """Poll `predicate` every 20 ms until it is truthy; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {seconds}s")
        await asyncio.sleep(0.02)


class NotifySocket:
    """Stands in for systemd's $NOTIFY_SOCKET: receives every datagram sent to it."""

    def __init__(self, address: str) -> None:
        self.address = address  # a path, or "@name" (abstract namespace)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        """Every datagram that arrived so far (kept in `messages` too)."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self.messages
            self.messages.append(data.decode())

    def lines(self) -> list[str]:
        """Every state line received, in order ("READY=1", "STATUS=...", ...)."""
        return [line for m in self.drain() for line in m.split("\n")]

    async def wait_line(self, line: str, count: int = 1, seconds: float = 20.0) -> None:
        await until(lambda: self.lines().count(line) >= count, seconds, f"{count} x {line!r} from the monitor")

    def close(self) -> None:
        self.sock.close()


@dataclass
class Hit:
    method: str
    path: str
    body: bytes
    at: float


@dataclass
class Receiver:
    """An HTTP receiver (self-heartbeat pings, json:// webhooks); `status` sets its answer."""

    base: str = ""
    hits: list[Hit] = field(default_factory=list)
    status: int = 200

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(request.method, request.path, await request.read(), time.monotonic()))
        return web.Response(status=self.status, text="OK" if self.status < 400 else "no")

    def at(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


async def start_monitor(config: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    """`invoicewatch -c CONFIG run ARGS` as a real process, stderr to `log`."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with log.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "-c", str(config), "run", *args,
            cwd=str(config.parent), env=full_env, stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )


async def stop_monitor(proc: asyncio.subprocess.Process, seconds: float = 20.0) -> int:
    """SIGTERM, wait (bounded), SIGKILL if it would not stop; the exit code."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), seconds)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode
