"""Capacity: how many checks one monitor process carries, up to 1,000 probes/s (issue 11, target 2).

    python bench/capacity.py [--scales 1000,10000,60000] [--interval 60] [--duration 70]
        [--short-duration S] [--hog SHARE] [--max-concurrent N] [--before TREE] [--table FILE]

For each scale, a fresh process runs N http checks (interval 60 s, staggered as in
production, two conditions each) through the real path: ProbeScheduler -> run_check ->
checks.http -> ResultWriter -> a SQLite file, against a local nginx on 4 ports. It prints,
per scale: probes/s (asked and done), lateness p50/p99 (from each check's slot to the
moment its probe starts), skipped runs, CPU per probe (this process, all threads, over the
window), storing's share of that CPU (writer thread in write_results), RSS once the checks
are loaded (`rss_mb_with_specs`) and at its peak, the most asyncio tasks alive at once (sampled
every 0.5 s) and whether every result was stored. The window is `--duration` seconds from the
start, so at 60 s every check has run once and the first ones a second time; `--short-duration`
gives the scales below the largest a window of their own (the rate, lateness and CPU per probe
are there after a few hundred probes; `make bench` passes 15 s: 250 probes at 1,000 checks).

Overload on purpose, whatever the box: `--hog SHARE` keeps the event loop busy (a busy-wait in
a loop callback) for SHARE of every 10 ms, as other work on the loop would, so at 60,000 checks
`--hog 0.8` leaves the probes too little of the loop for 1,000 probes/s on any box of today;
`--max-concurrent N` sets the scheduler's cap (200, the default of max_concurrent_probes).
`--before TREE` runs each scale over another checkout's monitor package first (this script,
the same nginx), so the two trees are measured side by side, alternately.

Targets at 60,000 checks: 1,000 probes/s, lateness p99 < 1 s, 0 skipped, RSS < 300 MB,
every result stored. `--table FILE` appends the 60k row for bench/support/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The child of `--before TREE` imports the monitor from TREE (`--tree`, read before the imports).
sys.path.insert(0, sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv else str(Path(__file__).resolve().parent.parent))

from checks import KINDS
from checks.base import Context
from checks.client import HttpClientFactory
from monitor.core.clock import SystemClock
from monitor.core.results import Result
from monitor.core.secrets import Redactor
from monitor.core.spec import CheckSpec
from monitor.scheduler import ProbeScheduler
from monitor.store import ResultWriter, Store

# isort: split
# After the monitor's packages: probe_cost puts this tree first on sys.path, and with the
# packages already imported from TREE their modules keep coming from there.
from probe_cost import CONDITIONS, measure_writes
from support.peers import nginx, status_kb, tree_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
TREE = Path(sys.modules["monitor"].__file__ or ".").resolve().parent.parent  # where the monitor came from
DEFAULT_GC = "--default-gc" in sys.argv  # measure without ProbeScheduler's GC settings


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def hog(share: float, period: float = 0.01) -> None:
    """Keep the running loop busy for `share` of every `period` seconds (0: not at all)."""
    if share <= 0:
        return
    loop = asyncio.get_running_loop()
    busy = share * period

    def tick() -> None:
        end = time.perf_counter() + busy
        while time.perf_counter() < end:
            pass
        loop.call_later(period - busy, tick)

    loop.call_soon(tick)


async def most_tasks(seen: list[int]) -> None:
    """Sample the number of asyncio tasks alive every 0.5 s (probe tasks, waiting or running)."""
    while True:
        seen.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0.5)


async def one_scale(n: int, ports: list[int], interval: float, duration: float, *, share: float = 0.0,
                    max_concurrent: int = 200) -> dict[str, Any]:
    spec_cls = KINDS["http"].Spec
    specs: list[CheckSpec] = [
        spec_cls.model_validate({
            "name": f"check-{i:05d}", "kind": "http", "url": f"http://127.0.0.1:{ports[i % len(ports)]}/health?c={i}",
            "interval": f"{interval:g}s", "timeout": "5s", "conditions": CONDITIONS,
        })
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
        store = Store(f"sqlite:///{tmp}/capacity.db")
        store.migrate()
        write_cpu = measure_writes(store)
        writer = ResultWriter(store, batch_size=500, interval=1.0)
        writer.start()
        ctx = Context(clock=SystemClock(), http=HttpClientFactory(), redactor=Redactor())
        down: list[str] = []

        def on_result(_spec: CheckSpec, result: Result) -> None:
            writer.add(result)
            if not result.ok:
                down.append(result.message)

        scheduler = ProbeScheduler(ctx, on_result, timezone="UTC", max_concurrent=max_concurrent,
                                   lateness_samples=10_000_000, tune_gc=not DEFAULT_GC)
        rss_specs = status_kb("VmRSS") / 1024
        t_start = time.perf_counter()
        scheduler.start(specs)  # prepares every spec (plans), then plans the slots from now
        start_s = time.perf_counter() - t_start
        tasks: list[int] = []
        sampler = asyncio.create_task(most_tasks(tasks))
        hog(share)
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.sleep(duration)  # a bounded wall-clock window, by design
        waiting_at_end = scheduler.waiting
        sampler.cancel()
        await scheduler.shutdown(grace=5)
        wall = time.perf_counter() - t0
        await writer.close()
        cpu = time.process_time() - c0
        stored = store.count_results()
        await ctx.http.aclose()
        store.close()
    runs = scheduler.runs
    lateness = list(scheduler.lateness)
    chunk = max(len(lateness) // 10, 1)  # starts come at an even rate: tenths of the window
    tenths = [round(percentile(lateness[i : i + chunk], 0.99) * 1000) for i in range(0, len(lateness), chunk)][:10]
    return {
        "tree": str(TREE),
        "checks": n,
        "window_s": round(wall, 1),
        "asked_per_s": round(n / interval, 1),
        "start_s": round(start_s, 2),
        "probes_per_s": round(runs / wall, 1),
        "lateness_p50_ms": round(percentile(lateness, 0.50) * 1000, 1),
        "lateness_p99_ms": round(percentile(lateness, 0.99) * 1000, 1),
        "skipped": scheduler.skipped_runs,
        "cpu_us_per_probe": round(cpu / max(runs, 1) * 1e6),
        "cpu_share_of_core": round(cpu / wall, 2),
        "store_share": round(write_cpu[0] / cpu, 3) if cpu else 0.0,
        "rss_mb_with_specs": round(rss_specs, 1),
        "peak_rss_mb": round(status_kb("VmHWM") / 1024, 1),
        "most_tasks": max(tasks, default=0),
        "waiting_at_end": waiting_at_end,
        "probes": runs,
        "stored": stored,
        "all_stored": stored == runs,
        "down": len(down),
        "down_example": down[0][:80] if down else "",
        "lateness_p99_ms_by_tenth": tenths,
    }


def run_child(args: argparse.Namespace, n: int, ports: list[int], tree: Path, duration: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(n), "--ports", ",".join(map(str, ports)),
           "--interval", str(args.interval), "--duration", str(duration), "--tree", str(tree),
           "--hog", str(args.hog), "--max-concurrent", str(args.max_concurrent)]
    cmd += ["--default-gc"] if args.default_gc else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=duration + 300)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1000,10000,60000")
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--duration", type=float, default=70.0, help="seconds of probing per scale")
    parser.add_argument("--short-duration", type=float,
                        help="seconds of probing at the scales below the largest (default: --duration)")
    parser.add_argument("--table", help="append the largest scale's rows (JSON lines) to this file")
    parser.add_argument("--default-gc", action="store_true", help="without the scheduler's GC settings (settle_gc)")
    parser.add_argument("--hog", type=float, default=0.0, help="keep the event loop busy this share of the time (0-0.95)")
    parser.add_argument("--max-concurrent", type=int, default=200, help="the scheduler's cap on probes in flight")
    parser.add_argument("--before", type=Path, help="another checkout to measure alternately with this one")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 <= args.hog <= 0.95:
        parser.error("--hog is a share of the loop's time, 0 to 0.95")
    if args.child:
        ports = [int(p) for p in args.ports.split(",")]
        print(json.dumps(asyncio.run(one_scale(args.child, ports, args.interval, args.duration, share=args.hog,
                                                max_concurrent=args.max_concurrent))))
        return
    rows = []
    trees = ([args.before.resolve()] if args.before else []) + [ROOT]
    scales = [int(x) for x in args.scales.split(",")]
    with nginx(ports=4) as target:
        for n in scales:
            duration = args.duration if n == max(scales) or args.short_duration is None else args.short_duration
            for tree in trees:
                before = tree_cpu_seconds(target.pid)
                row = run_child(args, n, target.ports, tree, duration)
                row["nginx_us_per_probe"] = round((tree_cpu_seconds(target.pid) - before) / max(row["probes"], 1) * 1e6)
                rows.append(row)
                print(json.dumps(row), flush=True)
    keys = ["checks", "window_s", "asked_per_s", "probes_per_s", "lateness_p50_ms", "lateness_p99_ms", "skipped", "cpu_us_per_probe",
            "cpu_share_of_core", "store_share", "rss_mb_with_specs", "peak_rss_mb", "most_tasks", "all_stored", "down",
            "nginx_us_per_probe"]
    if args.before:
        keys.insert(0, "tree")
    print("  ".join(f"{k:>10}" if i else k for i, k in enumerate(keys)))
    for row in rows:
        print("  ".join(f"{row[k]!s:>10}" if i else f"{row[k]!s:<6}" for i, k in enumerate(keys)))
    mine = [r for r in rows if r["tree"] == str(ROOT)]
    if args.table and mine:
        big = mine[-1]
        n = big["checks"]
        table = [
            {"target": f"probes/s at {n:,} checks / {args.interval:g}s", "measured": f"{big['probes_per_s']}",
             "peer": f"asked {big['asked_per_s']}", "ratio": f"{big['probes_per_s'] / big['asked_per_s']:.2f} (>= 1.0)"},
            {"target": "lateness p99 < 1 s (slot -> probe start)", "measured": f"{big['lateness_p99_ms']} ms",
             "peer": f"p50 {big['lateness_p50_ms']} ms", "ratio": f"{big['lateness_p99_ms'] / 1000:.2f} (< 1.0)"},
            {"target": "skipped runs = 0", "measured": str(big["skipped"]), "peer": f"{big['probes']} probes", "ratio": "-"},
            {"target": f"RSS < 300 MB at {n:,} checks", "measured": f"{big['peak_rss_mb']} MB",
             "peer": "300 MB", "ratio": f"{big['peak_rss_mb'] / 300:.2f} (< 1.0)"},
            {"target": "every result stored", "measured": f"{big['stored']}", "peer": f"{big['probes']} probes",
             "ratio": "yes" if big["all_stored"] else "NO"},
            {"target": "storing < 10% of probe CPU at 1k/s", "measured": f"{big['store_share']:.1%}",
             "peer": f"{big['cpu_us_per_probe']} us/probe", "ratio": f"{big['store_share'] / 0.10:.2f} (< 1.0)"},
        ]
        with open(args.table, "a") as f:
            for r in table:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
