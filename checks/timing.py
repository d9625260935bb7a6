"""Phase timing shared by the kinds: how long each phase took, and which one was running.

Why a kind keeps its own deadline: `run_check` enforces `spec.timeout` bluntly (it cancels
the probe and can only say "timed out"). A kind that stops itself a moment earlier can say
*where* it was stuck ("timed out after 2s waiting for the response"), which is the first
thing on-call wants to know. `deadline(spec)` is that moment, in seconds from now.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from monitor.core.clock import Clock
from monitor.core.results import Result, Status
from monitor.core.spec import CheckSpec

# What each phase is doing, for messages: "timed out after 2s <while ...>".
DOING = {
    "dns": "resolving the name",
    "connect": "connecting",
    "tls": "in the TLS handshake",
    "send": "sending the request",
    "ttfb": "waiting for the response",
    "transfer": "reading the body",
    "query": "running the query",
    "banner": "waiting for the banner",
}

def deadline(spec: CheckSpec) -> float:
    """Seconds the kind may use: a little under spec.timeout, so it reports before run_check.

    The margin (20% of the timeout, at most 250 ms) must outlast one slow turn of a busy
    event loop: if both deadlines fall due in the same turn, run_check's blunt one wins.
    """
    timeout = spec.timeout.total_seconds()
    return timeout - min(0.25, timeout * 0.2)


def down(spec: CheckSpec, started: datetime, phases: Phases, message: str, values: dict[str, Any] | None = None) -> Result:
    """A down Result for a target that failed, with the phases so far and the failed phase."""
    values = dict(values or {})
    values["failed_phase"] = phases.failed or phases.current or ""
    return Result(spec.name, Status.DOWN, started, phases.elapsed_ms(), message, phases.total(), values=values)


class Phases:
    """Accumulates milliseconds per phase and remembers the phase in progress.

    Also an httpcore trace callback (`extensions={"trace": phases.trace}`): connect, tls,
    send, ttfb (request sent -> response headers) and transfer come from httpcore's events.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.t0 = clock.monotonic()
        self.ms: dict[str, float] = {}
        self.current: str | None = None
        self.failed: str | None = None  # the phase an error happened in
        self._started: dict[str, float] = {}

    def start(self, name: str) -> None:
        self.current = name
        self._started[name] = self.clock.monotonic()

    def end(self, name: str, *, failed: bool = False) -> float:
        began = self._started.pop(name, None)
        elapsed = 0.0 if began is None else (self.clock.monotonic() - began) * 1000
        self.ms[name] = self.ms.get(name, 0.0) + elapsed
        if failed:
            self.failed = name
        if self.current == name:
            self.current = None
        return elapsed

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.start(name)
        try:
            yield
        except BaseException:
            self.end(name, failed=True)
            self.current = name
            raise
        self.end(name)

    def elapsed_ms(self) -> float:
        return (self.clock.monotonic() - self.t0) * 1000

    def total(self) -> dict[str, float]:
        """Phases in milliseconds (rounded to 0.01) with `total` measured from creation."""
        out = {k: round(v, 2) for k, v in self.ms.items()}
        out["total"] = round(self.elapsed_ms(), 2)
        return out

    def where(self) -> str:
        """The phase that failed or was running, in words ("" if none)."""
        name = self.failed or self.current
        return DOING.get(name or "", name or "")

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore trace callback. Events are `<module>.<step>.started|complete|failed`;
        ttfb runs from the first request byte sent to the response headers received."""
        action = _TRACE.get(event)
        if action is None:
            return
        what, name = action
        if what == "start":
            self.start(name)
        elif what == "end":
            self.end(name)
        elif what == "fail":
            self.end(name, failed=True)
        else:  # the request could not be sent: ttfb never began, the send failed
            self.end("ttfb", failed=True)
            self.failed = "send"


# event -> (what to do, phase): one dict lookup per event (a probe sees four to six).
_TRACE: dict[str, tuple[str, str]] = {
    "connection.connect_tcp.started": ("start", "connect"),
    "connection.connect_tcp.complete": ("end", "connect"),
    "connection.connect_tcp.failed": ("fail", "connect"),
    "connection.start_tls.started": ("start", "tls"),
    "connection.start_tls.complete": ("end", "tls"),
    "connection.start_tls.failed": ("fail", "tls"),
    "http11.send_request_headers.started": ("start", "ttfb"),
    "http11.send_request_headers.failed": ("send", "ttfb"),
    "http11.send_request_body.failed": ("send", "ttfb"),
    "http11.receive_response_headers.complete": ("end", "ttfb"),
    "http11.receive_response_headers.failed": ("fail", "ttfb"),
}
