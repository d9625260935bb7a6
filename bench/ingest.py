"""Results into PostgreSQL from several probe nodes, and how soon the controller decides on
one of them. Not a test: prints figures.

    python bench/ingest.py [--procs 4] [--seconds 5] [--batch 500] [--runs 5]
                           [--samples 100] [--peer-samples 30] [--load 500] [--pg-url URL]

Ingest. `--procs` processes, each a probe node writing batches of `--batch` realistic results
through the store's write path for `--seconds`, all at once and as fast as they can; the
figure is the rows/s committed by all of them together, median of `--runs` (the two kinds
interleaved, so a busy machine weighs on both alike; the processes are started once and
start each run together when all are connected): (a) as probe nodes write, numbered in
each node's own sequence with one NOTIFY per batch, beside (b) the same batches written
without a node (a plain insert, as the single node of the first releases wrote): what the
sequence and the notification cost.

Detection delay. A probe node (a process of its own) writes one failing result of a check
with `failure_threshold: 1`, as its writer does for a failure (at once, not at the next
write interval); the controller (this process: the IncidentService reading the nodes'
results from the store, woken by LISTEN) commits the state change. The delay runs from just
before the probe's write to the controller's commit, on CLOCK_MONOTONIC (one clock for every
process on Linux); p50 and p99 over `--samples`, idle and while `--procs - 1` other probe
nodes write `--load` results/s each (in batches every 200 ms). Beside it, the peer: the
same controller without LISTEN, which finds the result at its periodic sweep
(`evaluation.sweep_interval`, 2 s), as the polling cursor of earlier releases did; its samples
are written at random moments (0 to a quarter of a sweep period apart, so they land at every phase
of it; else each would land just after a sweep), each without waiting for the one before to
be decided (a period each, most of the script's time when they took turns).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.store_write import PG_BASE, pg_schema, postgres_unreachable, results
from monitor.config import Config, load_config
from monitor.core.bus import Bus
from monitor.core.clock import SystemClock
from monitor.core.results import Result, Status
from monitor.incidents.service import IncidentService
from monitor.store import Store
from monitor.store.intake import Listener

LOCATION = "bench"


# the probe nodes (each its own process) ---------------------------------------------------------
def _ingest(node: str, batch: int, orders: Any, ready: Any, out: Any) -> None:
    """One probe node for every run: per order (url, seconds, numbered) it connects, waits at
    `ready` until every node has (the clock starts for all at once), then writes batches."""
    rows = [_at(r, LOCATION) for r in results(batch * 20, 1000)]
    batches = [rows[i:i + batch] for i in range(0, len(rows), batch)]
    while (order := orders.get()) is not None:
        url, seconds, numbered = order
        store = Store(url, name=node)
        with store.engine.connect():  # the connection the writes will use, opened before the clock
            pass
        ready.wait()
        written, i = 0, 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            store.write_results(batches[i % len(batches)], node=node if numbered else None)
            written, i = written + batch, i + 1
        out.put(written / (time.monotonic() - start))
        store.close()


def _steady(url: str, node: str, per_second: int, stop: Any) -> None:
    """A probe node at a steady rate: what its writer flushes every 200 ms."""
    store = Store(url, name=node)
    chunk = max(1, per_second // 5)
    rows = [_at(r, LOCATION) for r in results(chunk * 50, 1000)]
    i = 0
    while not stop.is_set():
        t = time.monotonic()
        store.write_results(rows[(i % 50) * chunk:(i % 50 + 1) * chunk], node=node)
        i += 1
        stop.wait(max(0.0, 0.2 - (time.monotonic() - t)))
    store.close()


def _sampler(url: str, orders: Any, out: Any) -> None:
    """Writes one failing result per order, as a probe node's writer does for a failure."""
    store = Store(url, name="sampler")
    while (name := orders.get()) is not None:
        result = Result(name, Status.DOWN, datetime.now(UTC), 5.0, "HTTP 503", location=LOCATION)
        t0 = time.monotonic()
        store.write_results([result], node="sampler")
        out.put((name, t0))
    store.close()


def _at(result: Result, location: str) -> Result:
    result.location = location
    return result


# ingest -------------------------------------------------------------------------------------------
class Nodes:
    """`procs` probe-node processes started once (imports, rows built) and given one order
    per run; the runs start when every node is connected (a barrier, not a guessed sleep)."""

    def __init__(self, procs: int, batch: int) -> None:
        ctx = mp.get_context("spawn")
        self.ready, self.out = ctx.Barrier(procs + 1), ctx.Queue()
        self.orders = [ctx.Queue() for _ in range(procs)]
        self.procs = [ctx.Process(target=_ingest, args=(f"probe-{k}", batch, q, self.ready, self.out))
                      for k, q in enumerate(self.orders)]
        for p in self.procs:
            p.start()

    def run(self, url: str, seconds: float, numbered: bool) -> float:
        """Rows/s committed by all the nodes together, writing for `seconds` at once."""
        for q in self.orders:
            q.put((url, seconds, numbered))
        self.ready.wait(timeout=180)
        return float(sum(self.out.get(timeout=seconds + 120) for _ in self.procs))

    def close(self) -> None:
        for q in self.orders:
            q.put(None)
        for p in self.procs:
            p.join(30)


# detection ----------------------------------------------------------------------------------------
def controller_config(tmp: Path, url: str, names: list[str]) -> Config:
    checks = "\n".join(
        f"  - {{name: {n}, kind: tcp, host: 127.0.0.1, port: 9, component: api, interval: 1h, timeout: 2s, "
        f"failure_threshold: 1, locations: [{LOCATION}]}}" for n in names
    )
    path = tmp / "controller.yaml"
    path.write_text(f'monitor: {{database: "{url}", location: dc, node: ctl}}\n'
                    f"components:\n  - {{id: api, name: API}}\nchecks:\n{checks}\n", encoding="utf-8")
    return load_config(path)


async def detect(url: str, config: Config, names: list[str], *, listen: bool, load: int, procs: int) -> list[float]:
    """Delays (seconds) from a probe's write to the controller's committed decision."""
    store = Store(url, name="ctl")
    bus = Bus()
    decided: dict[str, float] = {}
    arrived = asyncio.Event()

    def on_change(name: str) -> None:
        decided.setdefault(name, time.monotonic())
        arrived.set()

    async def until_decided(wanted: list[str]) -> None:
        while True:
            arrived.clear()
            if all(name in decided for name in wanted):
                return
            await asyncio.wait_for(arrived.wait(), 30)

    bus.subscribe("state_changed", on_change)
    svc = IncidentService(store, config, clock=SystemClock(), bus=bus, recheck=lambda *_: None, node="ctl",
                          fold_own=False)
    await svc.start()
    listener = Listener(url, svc.wake) if listen else None
    if listener is not None:
        await listener.start()
    ctx = mp.get_context("spawn")
    stop, orders, out = ctx.Event(), ctx.Queue(), ctx.Queue()
    loaders = [ctx.Process(target=_steady, args=(url, f"load-{k}", load, stop)) for k in range(procs - 1 if load else 0)]
    sampler = ctx.Process(target=_sampler, args=(url, orders, out))
    for p in [*loaders, sampler]:
        p.start()
    delays: list[float] = []
    try:
        orders.put("warm-up")  # not a configured check: imports, connections, first reads
        await asyncio.to_thread(out.get, True, 120)
        await asyncio.sleep(1.0)
        rng = random.Random(7)
        if listen:  # one at a time: each is decided in a fraction of a second
            for name in names:
                orders.put(name)
                _, t0 = await asyncio.to_thread(out.get, True, 60)
                await until_decided([name])
                delays.append(decided[name] - t0)
        else:
            # The sweep finds a result up to a period after it lands: the samples are written at
            # random moments (gaps of 0 to a quarter period, so they fall at every phase of it)
            # without waiting for the one before to be decided, which took a period each.
            sweep = config.evaluation.sweep_interval.total_seconds()
            for name in names:
                await asyncio.sleep(rng.uniform(0, sweep / 4))
                orders.put(name)
            written = dict([await asyncio.to_thread(out.get, True, 60) for _ in names])
            await until_decided(names)
            delays = [decided[name] - written[name] for name in names]
    finally:
        orders.put(None)
        stop.set()
        for p in [*loaders, sampler]:
            await asyncio.to_thread(functools.partial(p.join, 30))
        if listener is not None:
            await listener.stop()
        await svc.stop()
        store.close()
    return delays


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--peer-samples", type=int, default=30)
    parser.add_argument("--load", type=int, default=500, help="results/s of each loading probe node")
    parser.add_argument("--pg-url", default=PG_BASE)
    args = parser.parse_args()
    logging.getLogger("monitor").setLevel(logging.ERROR)  # the controller's "check is down" lines
    if (why := postgres_unreachable(args.pg_url)) is not None:
        print(f"ingest.py: PostgreSQL skipped: {why}")
        return

    print(f"ingest: {args.procs} probe processes, batches of {args.batch}, {args.seconds:g} s each, "
          f"median of {args.runs} runs (rows/s committed, all processes together)")
    kinds = ((True, "numbered + NOTIFY (probe nodes)"), (False, "plain insert (peer: no node)"))
    rates: dict[bool, list[float]] = {True: [], False: []}
    nodes = Nodes(args.procs, args.batch)
    try:
        for _ in range(args.runs):
            for numbered, _label in kinds:
                with pg_schema(args.pg_url) as url:
                    Store(url).migrate()
                    rates[numbered].append(nodes.run(url, args.seconds, numbered))
    finally:
        nodes.close()
    for numbered, label in kinds:
        runs = rates[numbered]
        print(f"  {label:<34} {statistics.median(runs):>9,.0f} rows/s   runs: {', '.join(f'{r:,.0f}' for r in runs)}")

    print(f"detection delay: probe write -> controller decision committed (p50 / p99 / max, ms); "
          f"load = {args.procs - 1} probe nodes x {args.load} results/s")
    for listen, label, n in ((True, "LISTEN + per-node cursor", args.samples),
                             (False, "peer: sweep only (2 s)", args.peer_samples)):
        for load in (0, args.load):
            with pg_schema(args.pg_url) as url, tempfile.TemporaryDirectory() as tmp:
                names = [f"d{i:04d}" for i in range(n)]
                Store(url).migrate()
                config = controller_config(Path(tmp), url, names)
                delays = asyncio.run(detect(url, config, names, listen=listen, load=load, procs=args.procs))
            ms = [d * 1000 for d in delays]
            print(f"  {label:<26} {'loaded' if load else 'idle':<7} p50 {quantile(ms, 0.5):7.1f}   "
                  f"p99 {quantile(ms, 0.99):7.1f}   max {max(ms):7.1f}   ({len(ms)} samples)")


if __name__ == "__main__":
    main()
