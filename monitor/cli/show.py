"""Showing one run of one check to a person (`invoicewatch check`): what it talks to, each
request and step live as it happens, then the verdict with the figure that matters.

    target(spec, config)   the request line: method and URL (or host:port, query, platform),
                           secrets masked
    Watcher                the checks.base.Progress of a run: a spinner naming the request in
                           flight (on a terminal), one block per finished step
    verdict(...)           conditions, phases, the values not already shown, the status line
                           and the latency of the step that matters
    hint(...)              what to do when nothing answered (the simulator or the monitor is
                           not running)

Steps that report on earlier runs (canaries left over by a previous attempt) are shown apart
from this run's steps, with the status this run would have had without them.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rich.console import Console, ConsoleOptions, RenderResult
from rich.status import Status as Spinner
from rich.table import Table
from rich.text import Text

from monitor.cli.output import STYLES, Trimmed, span

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.core.results import Result, StepResult
    from monitor.core.secrets import Redactor
    from monitor.core.spec import CheckSpec

EARLIER_RUNS = "leftover_found"  # a step value only the leftover-canary sweep reports
SHOWN_ELSEWHERE = frozenset({"operation", "latency_ms"})  # a step's own line already says these


def result_json(result: Result) -> dict[str, Any]:
    return dataclasses.asdict(result)


def format_result(result: Result, width: int = 100) -> str:
    """The whole of a run as `check` prints it after the fact (every step, the verdict), as
    plain text: for tests, logs and other commands that show a stored result."""
    out = Console(file=io.StringIO(), width=width, color_system=None, markup=False, highlight=False, emoji=False)
    for part in verdict(result, None, (result.latency_ms or 0) / 1000):
        out.print(part, overflow="fold")
    text: str = out.file.getvalue()  # type: ignore[attr-defined]
    return text


# -- what it talks to ----------------------------------------------------------------------------


def target(spec: CheckSpec, config: Config, redactor: Redactor) -> str:
    """The request line: what this check sends where, with every secret masked."""
    kind = spec.kind

    def get(key: str) -> Any:  # kinds differ in their keys
        return getattr(spec, key, None)
    if get("url") and kind == "http":
        line = f"{get('method') or 'GET'} {get('url')}"
    elif kind == "sql":
        from monitor.core.secrets import safe_url  # lazy: CLI start time

        line = f"SQL {safe_url(str(get('url')))}: {get('query')}"
    elif kind == "dns":
        line = f"DNS {get('record_type')} {get('domain')}" + (f" @ {get('nameserver')}" if get("nameserver") else "")
    elif get("host") is not None and get("port") is not None:
        line = f"{kind.upper()} {get('host')}:{get('port')}"
    elif get("platform"):
        profile = config.platforms.get(str(get("platform")))
        where = f" at {profile.base_url}" if profile is not None else ""
        line = f"platform {get('platform')}{where}" + (f" as {get('user')}" if get("user") else "")
    elif get("base_url"):
        line = str(get("base_url"))
    else:
        line = kind
    return redactor.redact(line)


def base_url(spec: CheckSpec, config: Config) -> str:
    """The platform's base URL a platform check's requests go under ("" for other kinds)."""
    platform = getattr(spec, "platform", None)
    profile = config.platforms.get(str(platform)) if platform else None
    return str(profile.base_url) if profile is not None else ""


def address_of(spec: CheckSpec, config: Config) -> tuple[str, int] | None:
    """(host, port) this check connects to, when there is one address."""
    url = getattr(spec, "url", None) if spec.kind in ("http", "flow") else None
    platform = getattr(spec, "platform", None)
    if platform and platform in config.platforms:
        url = config.platforms[platform].base_url
    if url:
        try:
            parts = urlsplit(str(url))
            return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
    host, port = getattr(spec, "host", None), getattr(spec, "port", None)
    return (str(host), int(port)) if host is not None and port is not None else None


def hint(result: Result, spec: CheckSpec, config: Config) -> str:
    """What to do when the target did not answer at all, naming the address tried."""
    words = " ".join([result.message, *(s.message for s in result.steps)]).lower()
    if not any(w in words for w in ("cannot connect", "connection refused", "connect to", "all connection attempts")):
        return ""
    addr = address_of(spec, config)
    if addr is None:
        return ""
    host, port = addr
    local = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
    here = f"http://{host}:{port}"
    sim, page = config.simulator, config.status_page
    if port == sim.port and ((host in local and sim.listen in local) or host == sim.listen):
        return (f"nothing answers at {here}, the bundled simulator's address: start the monitor, which runs it "
                f"(invoicewatch -c {config.file} run), or the simulator alone (invoicewatch -c {config.file} simulate serve)")
    if port == page.port and ((host in local and page.listen in local) or host == page.listen):
        return (f"nothing answers at {host}:{port}, this monitor's own status page: start the monitor "
                f"(invoicewatch -c {config.file} run)")
    return f"nothing answers at {host}:{port}: is the service running, and is that the right address?"


# -- live ------------------------------------------------------------------------------------------


class _InFlight:
    """The spinner's text, rendered each frame so the elapsed time moves."""

    def __init__(self) -> None:
        self.what = "starting"
        self.since = time.monotonic()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(f"{self.what}  {time.monotonic() - self.since:.1f} s", style="dim", no_wrap=True, overflow="ellipsis")


class Watcher:
    """checks.base.Progress for `invoicewatch check`: the request in flight on a spinner (a
    terminal only), each finished step as a block, with the requests it made."""

    def __init__(self, out: Console, base: str = "") -> None:
        self.out = out
        self.base = base.rstrip("/")  # requests under it are shown by path (the header names it)
        self.started = time.monotonic()
        self.last = self.started
        self.requests: list[tuple[str, str]] = []
        self.durations: list[float] = []  # seconds each step took, measured here, in order
        self.count = 0
        self.flight = _InFlight()
        self.spinner: Spinner | None = None

    def __enter__(self) -> Watcher:
        if self.out.is_terminal:
            self.spinner = Spinner(self.flight, console=self.out, spinner="dots")
            self.spinner.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.spinner is not None:
            self.spinner.stop()

    # checks.base.Progress
    def request(self, method: str, url: str) -> None:
        if self.base and url.startswith(self.base + "/"):
            url = url[len(self.base):]
        self.requests.append((method, url))
        self.flight.what = f"{method} {url}"
        self.flight.since = time.monotonic()

    def step(self, step: StepResult) -> None:
        now = time.monotonic()
        self.durations.append(now - self.last)
        self.last = now
        self.count += 1
        self.out.print(Trimmed(step_block(step, self.durations[-1], self.requests)))
        self.requests = []
        self.flight.what = "next step"
        self.flight.since = now

    def measured(self, index: int) -> float | None:
        """Seconds step `index` of the run took, as seen live (None: not seen)."""
        return self.durations[index] if 0 <= index < len(self.durations) else None


def step_block(step: StepResult, measured: float | None, requests: list[tuple[str, str]]) -> Table:
    """One finished step: status word, name, its time, the request it made; then what it
    found (message, conditions, phases, values), wrapped under it."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=10, no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    head = Text(step.name, style="bold")
    took = _took(step.latency_ms, measured)
    if took:
        head.append(f"  {took}")
    if requests:
        method, url = requests[-1]
        more = f" (x{len(requests)})" if len(requests) > 1 else ""
        head.append(f"  {method} {url}{more}", style="dim")
    grid.add_row(Text("  " + str(step.status), style=STYLES.get(str(step.status), "")), head)
    for line in _details(step.message, step.conditions, step.phases, step.values):
        grid.add_row("", line)
    return grid


def _took(latency_ms: float | None, measured: float | None) -> str:
    if latency_ms is not None:
        return _ms(latency_ms)
    return _ms(measured * 1000) if measured is not None and measured >= 0.05 else ""


def _ms(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def _details(message: str, conditions: Iterable[Any], phases: Mapping[str, float], values: Mapping[str, Any]) -> list[Text]:
    lines = [Text(message)] if message else []
    for c in conditions:
        mark = Text("ok   ", style="green") if c.ok else Text("FAIL ", style="bold red")
        seen = f"error: {c.error}" if c.error is not None else f"saw {_value(c.actual)}"
        lines.append(mark + Text(f"{c.condition}  ({seen})"))
    if phases:
        lines.append(Text("phases: " + " · ".join(f"{k} {v:.1f} ms" for k, v in phases.items()), style="dim"))
    shown = {k: v for k, v in values.items() if k not in SHOWN_ELSEWHERE}
    if shown:
        lines.append(Text(" · ".join(f"{k} {_value(v)}" for k, v in shown.items()), style="dim"))
    return lines


def _value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ", ".join(_value(x) for x in v) or "[]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return "null" if v is None else str(v)


# -- the verdict -------------------------------------------------------------------------------------


def earlier(steps: Iterable[StepResult]) -> list[StepResult]:
    """Steps about earlier runs (leftover canaries), not about this one."""
    return [s for s in steps if EARLIER_RUNS in s.values]


def verdict(result: Result, watcher: Watcher | None, elapsed: float) -> list[Text | Table | Trimmed]:
    """What follows the steps: the run's own conditions and phases, values not shown yet,
    earlier runs apart, and the status line with the step that matters."""
    from monitor.core.results import Status, worst  # lazy: CLI start time

    out: list[Text | Table | Trimmed] = []
    if watcher is None or watcher.count < len(result.steps):  # steps not seen live (no watcher)
        for i, s in enumerate(result.steps):
            out.append(Trimmed(step_block(s, watcher.measured(i) if watcher else None, [])))
    stepped = {(k, repr(v)) for s in result.steps for k, v in s.values.items()}
    names = {s.name for s in result.steps}
    values = {k: v for k, v in result.values.items()
              if (k, repr(v)) not in stepped and not (k == "step" and v in names)}  # values once
    out.extend(_details("", result.conditions, result.phases, values))
    before = earlier(result.steps)
    own = [s for s in result.steps if s not in before]
    this_run = worst(*(s.status for s in own), *(Status.UP if c.ok else Status.DOWN for c in result.conditions)) if own else result.status
    word = str(result.status)
    line = Text(word.upper(), style=STYLES.get(word, "")) + Text(f"  in {_ms(elapsed * 1000)}")
    if result.message:
        line.append(f"  {result.message}")
    out.append(line)
    if before:
        for s in before:
            out.append(Text(f"earlier runs (not this run's result): {s.name} {s.status}: {s.message}", style="yellow"))
        if this_run is not result.status:
            out.append(Text(f"this run alone: {this_run}; recorded as {word} because of the earlier runs above", style="yellow"))
    key = _key_step(own, result, watcher)
    if key is not None:
        out.append(Text(key, style="dim"))
    return out


def _key_step(steps: list[StepResult], result: Result, watcher: Watcher | None) -> str | None:
    """The latency that matters: the failing step's, else the slowest step's."""
    from monitor.core.results import Status  # lazy: CLI start time

    if len(steps) < 2:
        return None

    def seconds(s: StepResult) -> float:
        if s.latency_ms is not None:
            return s.latency_ms / 1000
        measured = watcher.measured(result.steps.index(s)) if watcher else None
        return measured or 0.0

    failing = [s for s in steps if s.status is not Status.UP]
    if failing and result.status is not Status.UP:
        s = failing[0]
        return f"failed step: {s.name}" + (f", {span_s(seconds(s))}" if seconds(s) else "")
    s = max(steps, key=seconds)
    return f"slowest step: {s.name}, {span_s(seconds(s))}" if seconds(s) else None


def span_s(seconds: float) -> str:
    return _ms(seconds * 1000) if seconds < 60 else span(timedelta(seconds=seconds))
