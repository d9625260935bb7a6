"""Benchmark (not a test): render the status page and its JSON for 1,000 components with
90 days of history, from a real SQLite file; print time and peak memory (median of runs).

    PYTHONPATH=. python bench/statuspage_render.py [--components 1000] [--runs 5] [--changes 12]
        [--touch 10] [--keep DIR] [--before TREE] [--table FILE]

History: each component has `--changes` status transitions over 92 days (outages, degraded
spells, maintenance), 2 resolved incidents with updates, and the latency chart has a day of
results every 30 s; then the monitor's own roll-up makes the hourly and daily rollups the page
reads (timed apart). Phases: snapshot (SQL + uptime arithmetic), build (Jinja2 + JSON + SVG),
write (atomic files). Two kinds of render, each `--runs` times:

* first render: nothing kept from before (a new Store, no Fragments, an empty folder): what
  the monitor pays once at start;
* re-render: what the regeneration loop pays after a status change: `--touch` components
  change status (a major outage 10 minutes ago) and the clock moves a minute, then snapshot
  with what the page kept from the previous one (its PageMemo, where the tree has it), build
  with the Fragments of the previous render (only changed cards, incidents and badges render
  again) and write into the same folder with the same SiteWriter (unchanged files are not
  rewritten).

"Unchanged" is what the loop pays when nothing the page shows has changed: the snapshot (with
what the page kept from the render before) and its digest, no build, no write. The renders
run in a child process of their own (the seeding stays out of its memory): peak memory is tracemalloc's peak of Python allocations during one
extra first render (tracing slows it, so it is timed separately), plus that process's own peak RSS
(VmHWM; its ru_maxrss would count the seeding parent's peak too).
`--keep DIR` seeds into DIR once and reuses it (same arguments). `--before TREE` first runs
the same renders over another checkout's monitor package (same seeded database; a tree
without render.Fragments re-renders everything, as it does in its own loop).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "statuspage"))

import yaml
from statuspage_seed import Seed
from support.peers import status_kb

from monitor.config import Config, load_config
from monitor.core.results import Result, Status
from monitor.statuspage.render import SiteWriter, build_files
from monitor.statuspage.service import snapshot_digest
from monitor.statuspage.snapshot import build_snapshot
from monitor.store import Store, rollups

try:  # --before TREE runs this script over an older monitor package, which may not have it
    from monitor.statuspage.render import Fragments
except ImportError:  # pragma: no cover - the older tree: every render renders everything
    Fragments = None  # type: ignore[assignment,misc]
try:  # the same: an older tree keeps nothing of a snapshot for the next (or keeps it globally)
    from monitor.statuspage.snapshot import PageMemo
except ImportError:  # pragma: no cover
    PageMemo = None  # type: ignore[assignment,misc]

NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def setup(work: Path, n: int, changes: int) -> tuple[Config, Store]:
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
    incidents, updates = [], []
    for i in range(n):
        for k in range(2):
            at = NOW - timedelta(days=rng.randrange(1, 89), minutes=rng.randrange(0, 1440))
            incidents.append({"component": f"c{i:04d}", "status": "resolved", "started_at": at,
                              "resolved_at": at + timedelta(minutes=30 + k)})
            updates.append([{"at": at, "status": "investigating", "message": "auto"},
                            {"at": at + timedelta(minutes=30), "status": "resolved", "message": "fixed", "kind": "manual"}])
    seed.bulk_incidents(incidents, updates)
    results = [
        Result(check="query-latency", status=Status.UP, started_at=NOW - timedelta(seconds=30 * k),
               latency_ms=150 + rng.random() * 300, location="local")
        for k in range(2880)
    ]
    store.write_results(results)
    # The days before yesterday (local) in bulk, as the roll-up would have made them; the
    # roll-up itself from there: yesterday and today, with the latency check's results.
    upto = rollups.local_midnight(NOW - timedelta(days=1), config.monitor.tz)
    t = time.perf_counter()
    hours, days = seed.rolled_history(rows, upto, config.monitor.tz)
    print(f"rollups before {upto:%Y-%m-%d %H:%M} UTC written in bulk: {hours:,} hourly and {days:,} daily rows "
          f"in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    rolled = store.roll_up(NOW, components={"query-latency": "c0000"}, tz=config.monitor.tz)
    print(f"rolled up {rolled.hours} hours and {rolled.days} days in {time.perf_counter() - t:.1f} s")
    return config, store


def snapshot(store: Store, config: Config, memo: Any, now: datetime) -> Any:
    return build_snapshot(store, config, now, memo) if memo is not None else build_snapshot(store, config, now)


def run_once(config: Config, store: Store, out: Path, fragments: Any = None,
             writer: SiteWriter | None = None, memo: Any = None, now: datetime = NOW) -> dict[str, float]:
    """One render as the page loop does it; `memo` (a PageMemo, this tree) and `fragments` are
    what its PageService keeps from render to render: a first render passes new ones."""
    memo = memo if memo is not None else PageMemo() if PageMemo is not None else None
    c0, t0 = time.process_time(), time.perf_counter()
    snap = snapshot(store, config, memo, now)
    t1 = time.perf_counter()
    files = build_files(snap, fragments) if fragments is not None else build_files(snap)
    t2 = time.perf_counter()
    stats = (writer or SiteWriter(out)).write(files)
    t3, c3 = time.perf_counter(), time.process_time()
    again = snapshot(store, config, memo, now)
    unchanged = snapshot_digest(again) == snapshot_digest(snap)
    t4 = time.perf_counter()
    pages = [k for k in files if k.endswith(".html") and "/" not in k and k.startswith(("index", "components-"))]
    return {"snapshot": t1 - t0, "build": t2 - t1, "write": t3 - t2, "total": t3 - t0, "cpu": c3 - c0,
            "unchanged": (t4 - t3) if unchanged else float("nan"),
            "files": stats.files, "written": stats.written, "bytes": stats.bytes, "index": len(files["index.html"]),
            "pages": len(pages), "largest": max(len(files[k]) for k in pages),
            "summary": len(files["api/v2/summary.json"]),
            "made": fragments.made if fragments else 0, "reused": fragments.reused if fragments else 0}


PHASES = ("snapshot", "build", "write", "total", "unchanged")


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in (*PHASES, "cpu", "written", "made", "reused")}


def render(args: argparse.Namespace, work: Path) -> None:
    """The child process: first renders, re-renders, one traced first render."""
    config = load_config(work / "config.yaml")
    url = config.monitor.database

    def first(out: Path) -> dict[str, float]:
        store = Store(url)  # a new engine: nothing cached from an earlier render
        try:
            return run_once(config, store, out)
        finally:
            store.close()

    first(work / "warm")  # imports, template compilation
    cold = [first(work / f"first{k}") for k in range(args.runs)]
    store = Store(url)
    seed = Seed(store)
    fragments, writer = Fragments() if Fragments is not None else None, SiteWriter(work / "loop")
    memo = PageMemo() if PageMemo is not None else None
    run_once(config, store, work / "loop", fragments, writer, memo)
    again = []
    for k in range(args.runs):
        for j in range(args.touch):
            seed.status(f"c{(1 + k * args.touch + j) % args.components:04d}", "major_outage", NOW - timedelta(minutes=10))
        later = NOW + timedelta(minutes=k + 1)  # a minute on each time, as in the loop: today's tallies move
        again.append(run_once(config, store, work / "loop", fragments, writer, memo, later))
    store.close()
    # This process's own peak (before tracing, which has its own cost). Not ru_maxrss: a process
    # started by subprocess reports there its parent's peak if larger (the seed's, here).
    rss = status_kb("VmHWM") / 1024
    tracemalloc.start()
    first(work / "traced")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    c, a, r0 = median(cold), median(again), cold[0]
    print(f"== {args.label}")
    for label, m, runs in (("first render", c, cold), (f"re-render, {args.touch} components changed", a, again)):
        print(f"{label}: runs {args.runs}, median seconds: snapshot {m['snapshot']:.3f}, build {m['build']:.3f}, "
              f"write {m['write']:.3f}, total {m['total']:.3f} "
              f"(min {min(x['total'] for x in runs):.3f}, max {max(x['total'] for x in runs):.3f}; CPU {m['cpu']:.3f})")
    print(f"re-render: {a['made']:.0f} pieces rendered, {a['reused']:.0f} kept; {a['written']:.0f} files written")
    print(f"unchanged page (snapshot + digest, nothing built or written): {c['unchanged']:.3f} s")
    print(f"output: {r0['files']} files, {r0['bytes'] / 1e6:.1f} MB; first page (index.html) "
          f"{r0['index'] / 1e6:.2f} MB, {r0['pages']} component pages (largest {r0['largest'] / 1e6:.2f} MB), "
          f"summary.json {r0['summary'] / 1e6:.2f} MB")
    print(f"peak memory: {peak / 1e6:.0f} MB traced Python allocations during one first render; "
          f"render process max RSS {rss:.0f} MB (all the renders above)")
    if args.table and args.label == "this tree":
        rows = [
            {"target": "status page: page + JSON < 0.5 s (1,000 components x 90 days)",
             "measured": f"{a['total']:.3f} s re-render ({args.touch} changed)", "peer": f"first render {c['total']:.3f} s",
             "ratio": f"{a['total'] / 0.5:.2f} (< 1.0)"},
            {"target": "status page: render < 200 MB, first page < 1 MB",
             "measured": f"{rss:.0f} MB RSS, {r0['index'] / 1e6:.2f} MB", "peer": f"traced peak {peak / 1e6:.0f} MB",
             "ratio": f"{rss / 200:.2f} (< 1.0)"},
        ]
        with open(args.table, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--components", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--changes", type=int, default=12, help="status transitions per component over 92 days")
    ap.add_argument("--touch", type=int, default=10, help="components that change status before each re-render")
    ap.add_argument("--keep", help="seed into this folder once and reuse it")
    ap.add_argument("--table", help="append the summary rows (JSON lines) to this file")
    ap.add_argument("--before", type=Path, help="another checkout to measure the same way first (the 'before')")
    ap.add_argument("--render", help=argparse.SUPPRESS)  # the child: render from this seeded folder
    ap.add_argument("--label", default="this tree", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.render:
        render(args, Path(args.render))
        return
    with tempfile.TemporaryDirectory() as tmp:
        seeded = Path(args.keep) if args.keep else Path(tmp) / "seed"
        marker = seeded / "seeded.json"
        wanted = json.dumps({"components": args.components, "changes": args.changes})
        if not (marker.exists() and marker.read_text() == wanted):
            shutil.rmtree(seeded, ignore_errors=True)
            seeded.mkdir(parents=True)
            t = time.perf_counter()
            _, store = setup(seeded, args.components, args.changes)
            store.close()
            marker.write_text(wanted)
            print(f"seeded {args.components} components x 92 days ({args.components * (args.changes + 1)} status "
                  f"changes, {args.components * 2} incidents) in {time.perf_counter() - t:.1f} s")
        trees = ([(f"before: {args.before}", args.before.resolve())] if args.before else []) + [("this tree", ROOT)]
        for label, tree in trees:
            work = Path(tmp) / "work"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(seeded, work, ignore=shutil.ignore_patterns("first*", "loop", "traced", "warm"))
            (work / "config.yaml").write_text((seeded / "config.yaml").read_text().replace(str(seeded), str(work)))
            cmd = [sys.executable, __file__, "--render", str(work), "--components", str(args.components),
                   "--runs", str(args.runs), "--touch", str(args.touch), "--label", label,
                   *(["--table", args.table] if args.table else [])]
            env = {**os.environ, "PYTHONPATH": str(tree)}
            code = subprocess.run(cmd, check=False, env=env).returncode
            if code:
                sys.exit(code)


if __name__ == "__main__":
    main()
