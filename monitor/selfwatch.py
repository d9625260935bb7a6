"""Monitoring the monitor: systemd's notify protocol and watchdog, the self heartbeat, and the
one definition of "healthy" that /healthz, the watchdog and the heartbeat share.

    SdNotify     the sd_notify datagram protocol over $NOTIFY_SOCKET (a path, or @name for the
                 abstract namespace), written here: it is four lines of socket code, not a
                 dependency. Without $NOTIFY_SOCKET every send is a no-op.
    Progress     did probing and result writing move lately? Judged from counters the
                 scheduler and the writer keep anyway, on the injected clock.
    SelfWatch    READY=1 after start-up, RELOADING=1 / READY=1 around a reload, STOPPING=1 at
                 stop; WATCHDOG=1 every half $WATCHDOG_USEC, sent from the event loop and only
                 while Progress finds no stall; the self heartbeat (monitor.self_heartbeat) to
                 an outside dead-man's switch while healthy; problems() for /healthz.

Why "progress" and not just "the loop runs": a loop that still turns while every probe is
wedged (the probe cap used up by hung probes) or while the result writer's thread hangs on a
lock watches nothing, yet would keep pinging. So a ping needs

* probing: some probe finished within `probe_window` (twice the shortest check period plus
  the longest timeout plus a margin), and
* writing: no results pending, or a write attempt finished (written, refused or failed)
  within `write_window`. A write that *fails* is not a stall: the writer keeps its batch and
  retries, /healthz and the self-problem alert report it, and a restart would only lose the
  buffer. A write that never returns is a stall, and a restart is the cure.

A hung event loop stops the pings by itself: they are sent from it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from monitor.core import cron
from monitor.core.aio import wait_event
from monitor.core.clock import Clock
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec
from notifiers.sender import url_secrets

if TYPE_CHECKING:
    from checks.client import HttpClientFactory
    from monitor.config import Config
    from monitor.core.bus import Health
    from monitor.scheduler import ProbeScheduler
    from monitor.store import ResultWriter

log = logging.getLogger(__name__)

WRITER_FAILING_AFTER = 3  # failed result batches in a row before /healthz says 503
PROBE_MARGIN = 30.0  # seconds added to every probe window (scheduling jitter, a slow start-up)
WRITE_WINDOW_MIN = 90.0  # > writer backoff cap (30 s) + SQLite busy timeout (30 s) + slack


# sd_notify --------------------------------------------------------------------------------
def notify_address(raw: str | None) -> str | None:
    """The socket address in $NOTIFY_SOCKET: a path, or "@name" for the abstract namespace
    (sent as a leading NUL byte). vsock addresses (systemd 253+ in VMs) are not supported."""
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    log.warning("NOTIFY_SOCKET=%r is neither a path nor @abstract; not notifying systemd", raw)
    return None


def watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """$WATCHDOG_USEC in seconds when the watchdog is meant for this process ($WATCHDOG_PID)."""
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    try:
        if not usec or int(usec) <= 0 or (pid and int(pid) != os.getpid()):
            return None
        return int(usec) / 1_000_000
    except ValueError:
        log.warning("WATCHDOG_USEC=%r / WATCHDOG_PID=%r are not numbers; watchdog off", usec, pid)
        return None


class SdNotify:
    """Send sd_notify state lines ("READY=1", "WATCHDOG=1", ...) to systemd.

    One non-blocking datagram per message: a full queue drops the message (systemd reads its
    socket at once; a ping lost that way is followed by the next) rather than stall the loop.
    """

    def __init__(self, raw_address: str | None) -> None:
        self.address = notify_address(raw_address)
        self._sock: socket.socket | None = None
        self.sent = 0
        self._failing = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            if not self._failing:
                log.warning("cannot notify systemd at %s: %s", self.address.replace("\0", "@"), exc)
            self._failing = True
            self.close()
            return False
        self._failing = False
        self.sent += 1
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# progress ---------------------------------------------------------------------------------
def period_seconds(spec: CheckSpec, zone: Any, now: datetime) -> float:
    """How often a check runs: its interval, or the gap between its next two cron times."""
    if spec.cron is None:
        return spec.interval.total_seconds()
    times = list(cron.starts_between(spec.cron, zone, now, now + timedelta(days=32), limit=2))
    if len(times) < 2:
        return 32 * 86400.0
    return (times[1] - times[0]).total_seconds()


def probe_window(specs: list[CheckSpec], zone: Any, now: datetime) -> float | None:
    """Seconds without any finished probe that mean probing has stalled (None: no checks)."""
    if not specs:
        return None
    shortest = min(period_seconds(s, zone, now) for s in specs)
    longest_timeout = max(s.timeout.total_seconds() for s in specs)
    # First runs are staggered by less than one period, so two periods cover start-up too.
    return 2 * shortest + longest_timeout + PROBE_MARGIN


@dataclass
class _Moved:
    value: int
    at: float


class Progress:
    """Remembers when each counter last moved (on the injected clock's monotonic time)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._probes: _Moved | None = None
        self._writes: _Moved | None = None

    def stalls(
        self, *, probes: int, window: float | None, pending: int, attempts: int, write_window: float
    ) -> list[str]:
        now = self.clock.monotonic()
        out: list[str] = []
        if self._probes is None or probes != self._probes.value or window is None:
            self._probes = _Moved(probes, now)
        elif now - self._probes.at > window:
            out.append(f"probing stalled: no probe finished in {now - self._probes.at:.0f}s")
        if self._writes is None or attempts != self._writes.value or pending == 0:
            self._writes = _Moved(attempts, now)
        elif now - self._writes.at > write_window:
            out.append(
                f"result writing stalled: {pending} results waiting, no write finished in {now - self._writes.at:.0f}s"
            )
        return out


# the watch --------------------------------------------------------------------------------
class Monitor(Protocol):
    """What the watch reads of the running monitor (monitor.runtime.Monitor)."""

    config: Config
    clock: Clock
    health: Health
    writer: ResultWriter
    scheduler: ProbeScheduler
    http: HttpClientFactory
    redactor: Redactor

    @property
    def specs(self) -> list[CheckSpec]: ...


class SelfWatch:
    """Owned by the Monitor; see the module docstring for what it sends and when."""

    def __init__(self, monitor: Monitor, *, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.monitor = monitor
        self.notify = SdNotify(env.get("NOTIFY_SOCKET"))
        self.watchdog_interval = watchdog_seconds(env)
        self.progress = Progress(monitor.clock)
        self._window_for: tuple[int, float | None] | None = None  # (id of config, window)
        writer = monitor.writer
        self._failures_at_success = writer.failures
        writer.on_written.append(self._written)
        self._tasks: list[asyncio.Task[None]] = []
        self._reloaded = asyncio.Event()
        self._stall_logged = False
        self.watchdog_pings = 0
        self.watchdog_withheld = 0
        # reloads, for /metrics
        self.reloads = 0
        self.reload_failures = 0
        self.last_reload_at: float | None = None  # unix time of the last reload attempt
        # self heartbeat, for /metrics and tests
        self.heartbeats = 0
        self.heartbeat_failures = 0
        self._heartbeat_state: str = "ok"  # ok | failing | withheld: log once per streak

    def _written(self, _batch: Any) -> None:
        self._failures_at_success = self.monitor.writer.failures

    # lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """The monitor is up (store migrated, services started, checks scheduled)."""
        self.last_reload_at = self.monitor.clock.now().timestamp()  # the start-up load counts
        self.notify.send("READY=1", f"STATUS=monitoring {len(self.monitor.specs)} checks")
        if self.notify.enabled and self.watchdog_interval:
            self._tasks.append(asyncio.create_task(self._watchdog_loop(), name="sd-watchdog"))
            log.info("systemd watchdog: pinging every %.1fs while probing and writing progress",
                     self.watchdog_interval / 2)
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="self-heartbeat"))

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd (Type=notify-reload, 253+) match this to its own reload.
        self.notify.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def reloaded(self, ok: bool) -> None:
        self.reloads += 1
        self.reload_failures += 0 if ok else 1
        self.last_reload_at = self.monitor.clock.now().timestamp()
        status = "config reloaded" if ok else "config reload failed; running on the previous config"
        self.notify.send("READY=1", f"STATUS={status}")
        self._reloaded.set()

    async def stop(self) -> None:
        self.notify.send("STOPPING=1", "STATUS=stopping")
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.notify.close()

    # health --------------------------------------------------------------------------------
    def writer_failing(self) -> int:
        """Failed result batches since the last successful one."""
        return max(0, self.monitor.writer.failures - self._failures_at_success)

    def stalls(self) -> list[str]:
        m = self.monitor
        config = m.config
        if self._window_for is None or self._window_for[0] != id(config):
            self._window_for = (id(config), probe_window(m.specs, config.monitor.tz, m.clock.now()))
        w = m.writer
        return self.progress.stalls(
            probes=m.scheduler.runs,
            window=self._window_for[1] if m.health.started else None,
            pending=w.pending,
            attempts=w.written + w.failures + w.rejected,
            write_window=max(3 * config.monitor.write_interval.total_seconds(), WRITE_WINDOW_MIN),
        )

    def problems(self) -> list[str]:
        """Everything that makes the monitor unhealthy now (/healthz, the self heartbeat).
        Plain sentences without raw error text: /healthz may be on a public port."""
        out = self.stalls()
        failing = self.writer_failing()
        if failing >= WRITER_FAILING_AFTER:
            out.append(f"result writer: {failing} failed writes in a row")
        if not self.monitor.health.last_reload_ok:
            out.append("last config reload failed; running on the previous config")
        return out

    # watchdog ------------------------------------------------------------------------------
    def watchdog_tick(self) -> bool:
        """Ping systemd's watchdog unless probing or writing has stalled. True if pinged."""
        stalls = self.stalls()
        if stalls:
            self.watchdog_withheld += 1
            if not self._stall_logged:
                log.error("withholding the systemd watchdog ping (systemd will restart the monitor): %s",
                          "; ".join(stalls), extra={"event": "watchdog.withheld", "fields": {"stalls": stalls}})
                self._stall_logged = True
            self.notify.send(f"STATUS=stalled: {'; '.join(stalls)}")
            return False
        if self._stall_logged:
            log.warning("probing and writing progress again; watchdog pings resume")
            self._stall_logged = False
        if self.notify.send("WATCHDOG=1"):
            self.watchdog_pings += 1
            return True
        return False

    async def _watchdog_loop(self) -> None:
        assert self.watchdog_interval is not None
        every = self.watchdog_interval / 2  # systemd's advice: ping at half the timeout
        while True:
            try:
                self.watchdog_tick()
            except Exception:  # the watchdog loop must outlive a bug in one judgement
                log.exception("watchdog tick failed")
            await asyncio.sleep(every)

    # self heartbeat --------------------------------------------------------------------------
    async def beat(self) -> bool:
        """One self-heartbeat ping, if configured and healthy. True if the receiver took it."""
        section = self.monitor.config.monitor.self_heartbeat
        if section is None:
            return False
        where = _where(section.url)
        problems = self.problems()
        if problems:
            if self._heartbeat_state != "withheld":
                log.warning("self heartbeat to %s withheld while unhealthy: %s", where, "; ".join(problems),
                            extra={"event": "heartbeat.withheld", "fields": {"problems": problems}})
            self._heartbeat_state = "withheld"
            return False
        error = await self._ping(section.url, section.timeout.total_seconds())
        if error is None:
            self.heartbeats += 1
            if self._heartbeat_state != "ok":
                log.info("self heartbeat to %s delivered again", where, extra={"event": "heartbeat.ok"})
            self._heartbeat_state = "ok"
            return True
        self.heartbeat_failures += 1
        if self._heartbeat_state != "failing":
            log.warning("self heartbeat to %s failed: %s", where, error,
                        extra={"event": "heartbeat.failed", "fields": {"error": error}})
        self._heartbeat_state = "failing"
        return False

    async def _ping(self, url: str, timeout: float) -> str | None:
        """GET the URL within `timeout` (a hard deadline); None when it answered below 400."""
        client = self.monitor.http.client()
        try:
            async with asyncio.timeout(timeout), client.stream("GET", url, timeout=timeout) as response:
                if response.status_code < 400:
                    return None
                return f"HTTP {response.status_code}"
        except TimeoutError:
            return f"no answer within {timeout:g}s"
        except Exception as exc:
            text = Redactor(url_secrets(url)).redact(f"{type(exc).__name__}: {exc}")
            return self.monitor.redactor.redact(text)

    async def _heartbeat_loop(self) -> None:
        while True:
            section = self.monitor.config.monitor.self_heartbeat
            if section is None:  # not configured: wait for a reload that may configure it
                self._reloaded.clear()
                await self._reloaded.wait()
                continue
            try:
                await self.beat()
            except Exception:
                log.exception("self heartbeat failed unexpectedly")
            await wait_event(self._reloaded, section.interval.total_seconds())
            self._reloaded.clear()


def _where(url: str) -> str:
    """scheme://host[:port] of a URL, for messages: the path of a ping URL is its secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<unparseable URL>"
