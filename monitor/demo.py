"""`invoicewatch demo`: the whole product in about five minutes, without typing anything.

One process runs the real parts: the bundled platform simulator, the monitor on the given
config (config.example.yaml), the status page and its server, and the simulator's inbox (the
example's channels are json:// webhooks into it), whose messages are printed as they arrive:
exactly what on-call and staff would have received. A scripted story breaks the simulator
(the same faults `invoicewatch simulate fault set` injects) and mends it:

    STORY   login fails, then invoice queries slow down, then the invoice sync lags

and the terminal tells, minute by minute, what the monitor did: the on-call page, the staff
announcement, the status page change, the recovery. Ctrl-C stops everything.

So that the story fits in minutes, the demo shortens a few waits of the config it runs
(`DEMO_TIMING`, printed at start): the staff announcement delay and the quiet period before an
incident resolves, and the intervals of the query, sync and issuance-canary checks. Its data lives in its own
database and page folder (var/demo/), never mixed with `make run`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from monitor.config import Config
from monitor.core.aio import cancel
from monitor.runtime import Monitor
from monitor.store import pages

# (seconds after start, what happens, faults to clear, fault to set with its parameters)
# The first minute is quiet: the issuance canaries (every 3 and 5 minutes here) run first, all
# well; one caught by the logout would stay down until its next run, past the END. Each later
# step waits only for the page, the on-call message (and for login the staff announcement) of
# the one before; the last recovery is resolved at ~5:05 (README, "Five minutes with it").
Step = tuple[float, str, tuple[str, ...], tuple[str, dict[str, Any]] | None]
STORY: tuple[Step, ...] = (
    (60, "the tax bureau logs the platform out: logins fail (fault tax_logged_out)", (), ("tax_logged_out", {})),
    (130, "the tax bureau login works again", ("tax_logged_out",), None),
    (135, "invoice queries slow down to ~2 s (fault latency on list)", (),
     ("latency", {"seconds": 2.0, "endpoint": ["list"]})),
    (185, "queries are fast again; the invoice sync lags 10 minutes (fault sync_lag)", ("latency",),
     ("sync_lag", {"seconds": 600})),
    (235, "the sync catches up: every fault cleared", ("sync_lag",), None),
)
END = 315.0  # the story is told by then (the last message ~5:06); the monitor keeps running until Ctrl-C

DEMO_TIMING = {
    "announcements.delay": timedelta(seconds=30),
    "incidents.resolve_after": timedelta(seconds=30),
    "interval of 发票查询 (query) and 数据同步 (freshness)": timedelta(seconds=20),
    "interval of the issuance canaries (issuance, lifecycle)": timedelta(seconds=60),
}
_FAST_KINDS = ("query", "freshness")
_CANARY_KINDS = ("issuance", "lifecycle")


def demo_config(config: Config, folder: Path) -> Config:
    """The config with the demo's shorter waits (never longer ones), its own database and page
    folder."""
    fast = DEMO_TIMING["interval of 发票查询 (query) and 数据同步 (freshness)"]
    database = f"sqlite:///{folder / 'demo.db'}"
    checks = []
    for spec in config.checks:
        if spec.kind in _FAST_KINDS and spec.interval > fast:
            spec = spec.model_copy(update={"interval": fast, "cron": None, "timeout": min(spec.timeout, fast)})
        elif spec.kind in _CANARY_KINDS and spec.enabled:
            every = max(DEMO_TIMING["interval of the issuance canaries (issuance, lifecycle)"], spec.timeout)
            if spec.interval > every:
                spec = spec.model_copy(update={"interval": every, "cron": None})
        elif spec.kind == "sql" and getattr(spec, "url", None) == config.monitor.database:
            spec = spec.model_copy(update={"url": database})  # "the monitor's database" is the demo's now
        checks.append(spec)
    return config.model_copy(update={
        "monitor": config.monitor.model_copy(update={"database": database,
                                                     "state_dir": str(folder)}),
        "status_page": config.status_page.model_copy(update={"output_dir": str(folder / "status")}),
        "announcements": config.announcements.model_copy(
            update={"delay": min(config.announcements.delay, DEMO_TIMING["announcements.delay"])}),
        "incidents": config.incidents.model_copy(
            update={"resolve_after": min(config.incidents.resolve_after, DEMO_TIMING["incidents.resolve_after"])}),
        "checks": checks,
    })


@dataclass
class Teller:
    """Prints one line per thing that happened, with the time since the demo started."""

    out: TextIO
    t0: float

    def __call__(self, who: str, text: str) -> None:
        s = int(time.monotonic() - self.t0)
        print(f"[{s // 60:02d}:{s % 60:02d}] {who:<9} {text}", file=self.out, flush=True)


class Demo:
    def __init__(self, config: Config, folder: Path, out: TextIO, *, story: tuple[Step, ...] = STORY,
                 end: float = END) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("demo.db*"):
            old.unlink()  # every demo tells the story from the start
        self.config = demo_config(config, folder)
        self.folder = folder
        self.out = out
        self.story = story
        self.end = end
        self.monitor = Monitor(self.config)
        self.tell = Teller(out, time.monotonic())
        self._seen: set[int] = set()
        self._statuses: dict[str, str] = {}
        self.done = asyncio.Event()

    def banner(self) -> None:
        sp, sim = self.config.status_page, self.config.simulator
        web = getattr(self.monitor, "web", None)
        page = f"http://{sp.listen}:{(web.port if web is not None and web.port else sp.port)}/"
        sim_url = self.monitor.simulator.url or f"http://{sim.listen}:{sim.port}"
        c = self.config
        timing = {
            "announcements.delay": c.announcements.delay, "incidents.resolve_after": c.incidents.resolve_after,
        }
        lines = [
            "invoicewatch demo: the simulator, the monitor, the status page and an inbox, one process.",
            f"  status page        {page}          (English: {page}en/, IT detail: {page}internal/)",
            f"  simulator          {sim_url}/   (faults: invoicewatch simulate faults)",
            "  messages           printed below as 'on-call' and 'staff' (the example's channels post here)",
            f"  data               {self.folder}/ (its own database and page folder)",
            "  shortened for the demo: " + ", ".join(f"{k} {_secs(v)}" for k, v in timing.items())
            + ", the query and sync checks every 20 s at most, the issuance canaries as often as their timeout allows",
            "the story: " + "; ".join(f"{_clock(at)} {what}" for at, what, *_ in self.story),
            "Ctrl-C stops everything.",
            "",
        ]
        print("\n".join(lines), file=self.out, flush=True)

    async def run(self) -> None:
        await self.monitor.start()
        self.banner()  # after start: the ports are known (0 picks one)
        self.monitor.bus.subscribe("component_changed", self._component_changed)
        self.tell.t0 = time.monotonic()
        self.tell("monitor", f"running {len(self.monitor.specs)} checks")
        tasks = [asyncio.create_task(self._script(), name="demo-story"),
                 asyncio.create_task(self._watch_inbox(), name="demo-inbox")]
        try:
            await self.done.wait()
        finally:
            await cancel(*tasks)
            await self.monitor.stop()
            self.tell("demo", "stopped")

    async def _script(self) -> None:
        start = time.monotonic()
        for at, what, clears, fault in self.story:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            faults = self._simulator().faults
            for name in clears:
                with contextlib.suppress(KeyError):  # already cleared by hand
                    faults.clear(name)
            if fault is not None:
                faults.set(fault[0], dict(fault[1]))
            self.tell("story", what)
        await asyncio.sleep(max(0.0, start + self.end - time.monotonic()))
        self.tell("story", "that is the whole story; the monitor keeps running (look around, then Ctrl-C)")

    def _simulator(self) -> Any:
        sim = self.monitor.simulator.simulator
        if sim is None:
            raise RuntimeError("the simulator is not running (simulator.enabled: false in this config?)")
        return sim

    async def _watch_inbox(self) -> None:
        while True:
            inbox = self._simulator().inbox
            for box, messages in list(inbox.boxes.items()):
                for message in list(messages):
                    if id(message) not in self._seen:
                        self._seen.add(id(message))
                        self._print_message(box, message)
            await asyncio.sleep(0.5)

    def _print_message(self, box: str, message: dict[str, Any]) -> None:
        body = message.get("body")
        title, text = (body.get("title", ""), body.get("message", "")) if isinstance(body, dict) else ("", str(body))
        who = {"oncall": "on-call", "staff": "staff"}.get(box, box)
        self.tell(who, f"<- {title}".rstrip())
        for line in str(text).strip().splitlines()[:12]:
            print(f"{'':17}| {line}", file=self.out, flush=True)

    async def _component_changed(self, cid: Any) -> None:
        current = await asyncio.to_thread(self._current, str(cid))
        if current is None or self._statuses.get(str(cid)) == current.status:
            return
        before = self._statuses.get(str(cid))
        self._statuses[str(cid)] = current.status
        if before is not None or current.status != "operational":
            self.tell("page", f"{cid}: {before or 'no data'} -> {current.status}")


    def _current(self, cid: str) -> pages.CurrentStatus | None:
        with self.monitor.store.engine.connect() as conn:
            return pages.current_statuses(conn, pages.tables(conn)).get(cid)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:02d}:{s % 60:02d}"


def _secs(delta: timedelta) -> str:
    return f"{delta.total_seconds():g}s"


async def run(config: Config, folder: Path, out: TextIO, *, stop_after: float | None = None,
              on_ready: Callable[[Demo], None] | None = None) -> None:
    """Run the demo until Ctrl-C/SIGTERM (or `stop_after` seconds: the tests and the README's
    measurement)."""
    demo = Demo(config, folder, out)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, demo.done.set)
    if stop_after is not None:
        loop.call_later(stop_after, demo.done.set)
    if on_ready is not None:
        on_ready(demo)
    await demo.run()
