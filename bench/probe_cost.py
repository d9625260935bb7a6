"""CPU per HTTP probe with a fresh connection, against blackbox_exporter in the same run.

    python bench/probe_cost.py [--rounds 5] [--probes 2000] [--concurrency 10]

One local nginx (Debian's, on a free 127.0.0.1 port) is the target of every probe. Each round
measures, in an order that alternates from round to round (interleaved pairs):

  blackbox   Debian's prometheus-blackbox-exporter driven through its /probe endpoint (module:
             GET, status 200, body matches E0000); the exporter process's own CPU from
             /proc/PID/stat, not the driver's
  raw        the floor: asyncio streams, connect, write a GET, read to EOF, look at the status
             and the body, close
  bare       `checks.http.run` on a spec with the same two conditions ([STATUS] == 200,
             [BODY].code == E0000), through ctx.http; this process's CPU
  full       the whole path: ProbeScheduler (APScheduler jobs) -> run_check -> conditions ->
             ResultWriter -> SQLite file; this process's CPU (all threads) from the first job to
             the last row committed, divided by the results stored

Prints each round and the medians, then both ratios of issue 11 target 1: full / blackbox
(target <= 1.0) and bare / raw (target <= 2.0). `--only KIND` runs one measurement (for a
profiler: `py-spy record -o out.svg -- python bench/probe_cost.py --only bare`).
`--table FILE` appends the summary rows as JSON for bench/support/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support.peers import Peer, blackbox, cpu_seconds, nginx

from checks import KINDS
from checks.base import Context
from checks.client import HttpClientFactory
from monitor.core.clock import SystemClock
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec
from monitor.scheduler import ProbeScheduler
from monitor.store import ResultWriter, Store

CONDITIONS = ["[STATUS] == 200", "[BODY].code == E0000"]


async def closed_loop(n: int, concurrency: int, probe: Any) -> None:
    """Run `probe()` n times with `concurrency` in flight."""
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await probe()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# -- blackbox ---------------------------------------------------------------------------------
async def read_response(reader: asyncio.StreamReader) -> bytes:
    """The body of one keep-alive HTTP/1.1 response (Content-Length or chunked)."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    if b"content-length:" in head:
        return await reader.readexactly(int(head.split(b"content-length:")[1].split(b"\r\n")[0]))
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append((await reader.readexactly(size + 2))[:-2])
        if size == 0:
            return b"".join(parts)


async def blackbox_round(exporter: Peer, target: int, n: int, concurrency: int) -> float:
    """CPU seconds of the exporter per probe. The driver keeps one connection per worker."""
    path = f"/probe?module=http_probe&target=http://127.0.0.1:{target}/".encode()
    request = b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    failures = 0

    async def worker(count: int) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
        for _ in range(count):
            writer.write(request)
            body = await read_response(reader)
            if b"probe_success 1" not in body:
                failures += 1
        writer.close()
        await writer.wait_closed()

    per = n // concurrency
    before = cpu_seconds(exporter.pid)
    await asyncio.gather(*(worker(per) for _ in range(concurrency)))
    after = cpu_seconds(exporter.pid)
    if failures:
        raise RuntimeError(f"blackbox: {failures} of {per * concurrency} probes failed")
    return (after - before) / (per * concurrency)


# -- raw asyncio --------------------------------------------------------------------------------
async def raw_round(target: int, n: int, concurrency: int) -> float:
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{target}\r\nUser-Agent: raw\r\nConnection: close\r\n\r\n".encode()
    failures = 0

    async def probe() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", target)
        writer.write(request)
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        if not (data.startswith(b"HTTP/1.1 200") and b'"code":"E0000"' in data):
            failures += 1

    t = time.process_time()
    await closed_loop(n, concurrency, probe)
    cpu = time.process_time() - t
    if failures:
        raise RuntimeError(f"raw: {failures} probes failed")
    return cpu / n


# -- checks.http.run -----------------------------------------------------------------------------
def http_spec(name: str, target: int, **kw: Any) -> CheckSpec:
    spec: CheckSpec = KINDS["http"].Spec.model_validate(
        {"name": name, "kind": "http", "url": f"http://127.0.0.1:{target}/health", "conditions": CONDITIONS, **kw}
    )
    return spec


async def bare_round(ctx: Context, target: int, n: int, concurrency: int) -> float:
    spec = http_spec("bare", target)
    run = KINDS["http"].run
    failures: list[str] = []

    async def probe() -> None:
        result = await run(spec, ctx)
        if not result.ok:
            failures.append(result.message)

    t = time.process_time()
    await closed_loop(n, concurrency, probe)
    cpu = time.process_time() - t
    if failures:
        raise RuntimeError(f"bare: {len(failures)} probes failed, e.g. {failures[0]}")
    return cpu / n


# -- the full path ---------------------------------------------------------------------------
async def full_round(target: int, n: int, rate: int) -> float:
    """`rate` checks at a 1 s interval until n results are stored; CPU per stored result."""
    specs = [http_spec(f"full-{i:05d}", target, interval="1s", timeout="1s") for i in range(rate)]
    with tempfile.TemporaryDirectory(prefix="bench-probe-cost-") as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.migrate()
        write_cpu = measure_writes(store)
        writer = ResultWriter(store, batch_size=500, interval=1.0)
        writer.start()
        ctx = Context(clock=SystemClock(), http=HttpClientFactory(), redactor=Redactor())
        done = asyncio.Event()
        failures: list[str] = []

        def on_result(_spec: CheckSpec, result: Any) -> None:
            writer.add(result)
            if not result.ok:
                failures.append(result.message)
            if scheduler.runs >= n:
                done.set()

        scheduler = ProbeScheduler(ctx, on_result, timezone="UTC", max_concurrent=200)
        scheduler.start(specs)
        t = time.process_time()  # jobs are added: from here on it is running them
        await asyncio.wait_for(done.wait(), timeout=n / rate * 3 + 10)
        await scheduler.shutdown(grace=5)
        await writer.close()
        cpu = time.process_time() - t
        stored = store.count_results()
        await ctx.http.aclose()
        store.close()
    if failures:
        raise RuntimeError(f"full: {len(failures)} probes failed, e.g. {failures[0]}")
    STORE_SHARE.append(write_cpu[0] / cpu)
    return cpu / stored


STORE_SHARE: list[float] = []


def measure_writes(store: Store) -> list[float]:
    """Thread CPU seconds spent in store.write_results (rows built, JSON encoded, inserted,
    committed), summed into the returned one-item list. A bench-only wrapper of this instance."""
    total = [0.0]
    write = store.write_results

    def timed(results: Any, **kwargs: Any) -> Any:
        t = time.thread_time()
        try:
            return write(results, **kwargs)
        finally:
            total[0] += time.thread_time() - t

    store.write_results = timed  # type: ignore[method-assign]
    return total


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def main_async(args: argparse.Namespace) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"blackbox": [], "raw": [], "bare": [], "full": []}
    kinds = [args.only] if args.only else list(figures)
    with nginx() as target, blackbox() as exporter:
        ctx = Context(clock=SystemClock(), http=HttpClientFactory(), redactor=Redactor())
        # Warm up: imports, first connections, the exporter's first probe.
        await raw_round(target.port, 100, args.concurrency)
        await bare_round(ctx, target.port, 100, args.concurrency)
        urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/probe?module=http_probe&target=http://127.0.0.1:{target.port}/").read()
        for r in range(args.rounds):
            order = kinds if r % 2 == 0 else list(reversed(kinds))
            row: dict[str, float] = {}
            for kind in order:
                if kind == "blackbox":
                    row[kind] = await blackbox_round(exporter, target.port, args.probes, args.concurrency)
                elif kind == "raw":
                    row[kind] = await raw_round(target.port, args.probes, args.concurrency)
                elif kind == "bare":
                    row[kind] = await bare_round(ctx, target.port, args.probes, args.concurrency)
                else:
                    row[kind] = await full_round(target.port, args.probes, args.rate)
                figures[kind].append(row[kind])
            print(f"round {r + 1}: " + "  ".join(f"{k} {row[k] * 1e6:7.0f} us" for k in kinds), flush=True)
        await ctx.http.aclose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--probes", type=int, default=2000, help="probes per measurement")
    parser.add_argument("--concurrency", type=int, default=10, help="in flight (blackbox, raw, bare)")
    parser.add_argument("--rate", type=int, default=500, help="checks at 1 s for the full path")
    parser.add_argument("--only", choices=["blackbox", "raw", "bare", "full"])
    parser.add_argument("--table", help="append the summary rows (JSON lines) to this file")
    args = parser.parse_args()
    figures = asyncio.run(main_async(args))
    med = {k: median(v) * 1e6 for k, v in figures.items() if v}
    print(f"CPU per probe, fresh connection, median of {args.rounds} rounds x {args.probes} probes "
          f"(concurrency {args.concurrency}; full path at {args.rate}/s):")
    for k, v in med.items():
        print(f"  {k:<9} {v:8.0f} us")
    rows = []
    if STORE_SHARE:
        share = median(STORE_SHARE)
        print(f"  storing (ResultWriter -> SQLite, writer thread CPU) = {share:.1%} of the full path's CPU")
    if "full" in med and "blackbox" in med:
        ratio = med["full"] / med["blackbox"]
        print(f"  full path / blackbox_exporter = {ratio:.2f}   (target <= 1.0)")
        rows.append({"target": "CPU/probe full path <= blackbox_exporter", "measured": f"{med['full']:.0f} us",
                     "peer": f"blackbox {med['blackbox']:.0f} us", "ratio": f"{ratio:.2f} (<= 1.0)"})
    if "bare" in med and "raw" in med:
        ratio = med["bare"] / med["raw"]
        print(f"  bare check / raw asyncio      = {ratio:.2f}   (target <= 2.0)")
        rows.append({"target": "CPU/probe bare check <= 2x raw asyncio", "measured": f"{med['bare']:.0f} us",
                     "peer": f"raw asyncio {med['raw']:.0f} us", "ratio": f"{ratio:.2f} (<= 2.0)"})
    if args.table:
        with open(args.table, "a") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
