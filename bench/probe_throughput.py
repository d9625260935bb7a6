"""How many http probes can one monitor process carry? Prints figures; never a pass/fail test.

Starts local aiohttp servers in subprocesses (so serving does not eat the monitor's CPU),
then runs N http checks through the real path (ProbeScheduler -> run_check -> checks.http ->
ResultWriter -> SQLite file) for a bounded time, and prints:

    probes/s, schedule lateness p50/p99 (ProbeScheduler.lateness), probe latency p50/p99,
    CPU seconds per probe (getrusage of this process: probing, scheduling and writing),
    peak RSS, results written, statuses.

    python bench/probe_throughput.py --checks 1000 --interval 10 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checks import KINDS
from checks.base import Context
from checks.client import HttpClientFactory
from monitor.core.clock import SystemClock
from monitor.core.results import Result
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec
from monitor.scheduler import ProbeScheduler
from monitor.store import ResultWriter, Store


def serve() -> None:
    """Subprocess mode: one aiohttp server on a free port; prints the port, runs until stdin closes."""
    from aiohttp import web

    body = b'{"code":"E0000","describe":"ok","result":{"list":[{"invoiceNo":"044001900111"}]}}'

    async def health(_r: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/health", health)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it
        await runner.cleanup()

    asyncio.run(main())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(args: argparse.Namespace, ports: list[int]) -> dict[str, Any]:
    spec_cls = KINDS["http"].Spec
    specs: list[CheckSpec] = [
        spec_cls.model_validate(
            {
                "name": f"probe-{i:05d}",
                "kind": "http",
                "url": f"http://127.0.0.1:{ports[i % len(ports)]}/health?i={i}",
                "interval": f"{args.interval}s",
                "timeout": f"{min(args.interval, 5)}s",
                "conditions": [] if args.no_conditions else ["[STATUS] == 200", "[BODY].code == E0000"],
            }
        )
        for i in range(args.checks)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.migrate()
        writer = ResultWriter(store, batch_size=500, interval=1.0)
        writer.start()
        http = HttpClientFactory()
        ctx = Context(clock=SystemClock(), http=http, redactor=Redactor())
        latencies: list[float] = []
        phase_ms: dict[str, list[float]] = {}
        statuses: Counter[str] = Counter()
        messages: Counter[str] = Counter()

        def on_result(_spec: CheckSpec, result: Result) -> None:
            writer.add(result)
            statuses[str(result.status)] += 1
            if result.latency_ms is not None:
                latencies.append(result.latency_ms)
            for name, ms in result.phases.items():
                phase_ms.setdefault(name, []).append(ms)
            if not result.ok:
                messages[result.message[:80]] += 1

        scheduler = ProbeScheduler(ctx, on_result, timezone="UTC", max_concurrent=args.max_concurrent)
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        scheduler.start(specs)
        await asyncio.sleep(args.duration)  # the bench runs for a bounded wall time, by design
        await scheduler.shutdown(grace=5)
        wall = time.perf_counter() - t0
        await writer.close()
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        await http.aclose()
        stored = store.count_results()
        store.close()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    runs = scheduler.runs
    lateness = list(scheduler.lateness)
    return {
        "checks": args.checks,
        "interval_s": args.interval,
        "duration_s": round(wall, 1),
        "probes": runs,
        "probes_per_s": round(runs / wall, 1),
        "expected_per_s": round(args.checks / args.interval, 1),
        "lateness_p50_ms": round(percentile(lateness, 0.50) * 1000, 1),
        "lateness_p99_ms": round(percentile(lateness, 0.99) * 1000, 1),
        "latency_p50_ms": round(percentile(latencies, 0.50), 2),
        "latency_p99_ms": round(percentile(latencies, 0.99), 2),
        "phase_p50_ms": {k: round(percentile(v, 0.5), 2) for k, v in phase_ms.items()},
        "phase_p99_ms": {k: round(percentile(v, 0.99), 2) for k, v in phase_ms.items()},
        "cpu_ms_per_probe": round(cpu / max(runs, 1) * 1000, 3),
        "cpu_share": round(cpu / wall, 3),
        "peak_rss_mb": round(usage1.ru_maxrss / 1024, 1),
        "results_written": writer.written,
        "results_stored": stored,
        "statuses": dict(statuses),
        "failures": dict(messages.most_common(3)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between runs of each check")
    parser.add_argument("--duration", type=float, default=None, help="seconds to run (default: 3 intervals)")
    parser.add_argument("--servers", type=int, default=1, help="server subprocesses (one port each)")
    parser.add_argument("--max-concurrent", type=int, default=200)
    parser.add_argument("--no-conditions", action="store_true", help="default condition only")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.duration is None:
        args.duration = 3 * args.interval
    procs = [
        subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(args.servers)
    ]
    try:
        ports = [int(p.stdout.readline()) for p in procs]  # type: ignore[union-attr]
        figures = asyncio.run(bench(args, ports))
    finally:
        for p in procs:
            p.stdin.close()  # type: ignore[union-attr]
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.terminate()
                p.wait(timeout=5)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
