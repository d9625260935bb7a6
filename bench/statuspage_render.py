"""Benchmark (not a test): render the status page and its JSON for 1,000 components with
90 days of history, from a real SQLite file; print time and peak memory (median of runs).

    PYTHONPATH=. python bench/statuspage_render.py [--components 1000] [--runs 5] [--changes 12]

History: each component has `--changes` status transitions over 92 days (outages, degraded
spells, maintenance), 2 resolved incidents with updates, and the latency chart has a day of
results every 30 s; then the monitor's own roll-up makes the hourly and daily rollups the page
reads (timed apart). Phases: snapshot (SQL + uptime arithmetic), build (Jinja2 + JSON + SVG),
write (atomic files into an empty folder). "Unchanged" is what the regeneration loop pays when
nothing the page shows has changed: the snapshot and its digest, no build, no write. Peak memory is tracemalloc's peak of Python
allocations during one extra run (tracing slows it, so it is timed separately), plus the
process's max RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "statuspage"))

import yaml
from statuspage_seed import Seed

from monitor.config import load_config
from monitor.core.results import Result, Status
from monitor.statuspage.render import SiteWriter, build_files
from monitor.statuspage.service import snapshot_digest
from monitor.statuspage.snapshot import build_snapshot
from monitor.store import Store

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


def setup(work: Path, n: int, changes: int) -> tuple[object, Store]:
    doc = {
        "monitor": {"timezone": "Asia/Shanghai", "language": "zh-CN", "database": f"sqlite:///{work / 'bench.db'}"},
        "components": [{"id": f"c{i:04d}", "name": {"zh-CN": f"组件{i:04d}", "en": f"Component {i:04d}"}} for i in range(n)],
        "checks": [{"name": "query-latency", "kind": "tcp", "component": "c0000", "host": "127.0.0.1", "port": 9}],
        "status_page": {"output_dir": str(work / "site"), "latency_components": ["c0000"]},
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    store = Store(config.monitor.database)
    seed = Seed(store)
    rng = random.Random(1)
    start = NOW - timedelta(days=92)
    rows, current = [], []
    for i in range(n):
        cid = f"c{i:04d}"
        t = start
        rows.append({"component": cid, "at": t, "status": "operational"})
        status = "operational"
        for _ in range(changes // 2):
            t = t + timedelta(minutes=rng.randrange(60, int(92 * 24 * 60 / (changes / 2 + 1))))
            rows.append({"component": cid, "at": t, "status": rng.choice(
                ["major_outage", "partial_outage", "degraded_performance", "under_maintenance"])})
            t = t + timedelta(minutes=rng.randrange(2, 120))
            rows.append({"component": cid, "at": t, "status": "operational"})
        current.append({"component": cid, "status": status, "since": t, "updated_at": t})
    seed.bulk_history(rows, current)
    for i in range(n):
        for k in range(2):
            at = NOW - timedelta(days=rng.randrange(1, 89), minutes=rng.randrange(0, 1440))
            inc = seed.incident(f"c{i:04d}", status="resolved", started_at=at, resolved_at=at + timedelta(minutes=30 + k))
            seed.update(inc, at, "investigating", "auto")
            seed.update(inc, at + timedelta(minutes=30), "resolved", "fixed", kind="manual")
    results = [
        Result(check="query-latency", status=Status.UP, started_at=NOW - timedelta(seconds=30 * k),
               latency_ms=150 + rng.random() * 300, location="local")
        for k in range(2880)
    ]
    store.write_results(results)
    t = time.perf_counter()
    rolled = store.roll_up(NOW, components={"query-latency": "c0000"}, tz=config.monitor.tz)
    print(f"rolled up {rolled.hours} hours and {rolled.days} days in {time.perf_counter() - t:.1f} s")
    return config, store


def run_once(config: object, store: Store, out: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    snap = build_snapshot(store, config, NOW)  # type: ignore[arg-type]
    t1 = time.perf_counter()
    files = build_files(snap)
    t2 = time.perf_counter()
    stats = SiteWriter(out).write(files)
    t3 = time.perf_counter()
    again = build_snapshot(store, config, NOW)  # type: ignore[arg-type]
    unchanged = snapshot_digest(again) == snapshot_digest(snap)
    t4 = time.perf_counter()
    pages = [k for k in files if k.endswith(".html") and "/" not in k and k.startswith(("index", "components-"))]
    return {"snapshot": t1 - t0, "build": t2 - t1, "write": t3 - t2, "total": t3 - t0,
            "unchanged": (t4 - t3) if unchanged else float("nan"),
            "files": stats.files, "bytes": stats.bytes, "index": len(files["index.html"]),
            "pages": len(pages), "largest": max(len(files[k]) for k in pages),
            "summary": len(files["api/v2/summary.json"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--components", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--changes", type=int, default=12, help="status transitions per component over 92 days")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        config, store = setup(work, args.components, args.changes)
        print(f"seeded {args.components} components x 92 days ({args.components * (args.changes + 1)} status changes, "
              f"{args.components * 2} incidents) in {time.perf_counter() - t:.1f} s")
        run_once(config, store, work / "warm")  # imports, template compilation
        runs = [run_once(config, store, work / f"out{k}") for k in range(args.runs)]
        tracemalloc.start()
        run_once(config, store, work / "traced")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        med = {k: statistics.median(r[k] for r in runs) for k in ("snapshot", "build", "write", "total", "unchanged")}
        r0 = runs[0]
        print(f"runs: {args.runs}, median seconds: snapshot {med['snapshot']:.3f}, build {med['build']:.3f}, "
              f"write {med['write']:.3f}, total {med['total']:.3f} "
              f"(min {min(r['total'] for r in runs):.3f}, max {max(r['total'] for r in runs):.3f})")
        print(f"unchanged page (snapshot + digest, nothing built or written): {med['unchanged']:.3f} s")
        print(f"output: {r0['files']} files, {r0['bytes'] / 1e6:.1f} MB; first page (index.html) "
              f"{r0['index'] / 1e6:.2f} MB, {r0['pages']} component pages (largest {r0['largest'] / 1e6:.2f} MB), "
              f"summary.json {r0['summary'] / 1e6:.2f} MB")
        print(f"peak memory: {peak / 1e6:.0f} MB traced Python allocations during one render; "
              f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        store.close()


if __name__ == "__main__":
    main()
