"""`make bench`: run every script in bench/, then print one table of targets.

    python bench/support/run.py [--results bench/RESULTS.md] [--only NAME ...]

Each bench/*.py runs in turn (its own output kept in a log and its last lines echoed);
scripts that take `--table FILE` append rows (target, measured, peer figure from the same
run, ratio) there, and the table of all rows is printed at the end. With `--results` the
table, the commands and the machine's load are written to that Markdown file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
# Each script with the arguments `make bench` runs it with; scripts not named here run with
# none. Bounded toward issue 11's 10 minutes on the 2-core box (8-11 min on 2026-12-01, see the
# Makefile), each bound below at a figure that has settled, never by leaving a target out:
# - capacity: 60,000 checks at 60 s for 62 s, one full cycle (every check once, the first 2 s'
#   twice); 1,000 and 10,000 checks for 15 s (250 and 2,500 probes: the rate, lateness and
#   CPU per probe are there after a few hundred; only the largest scale goes to the table);
# - detection: 0.5 s of calm after every incident of an outage is resolved, not 1 s (then
#   comes the wait of 0 to one interval that sets the fault at a random moment of the schedule);
# - ingest: 3 interleaved pairs of runs, not 5 (the two kinds are compared run by run; the
#   spread between runs is the box's load, which 2 more runs do not remove), each writing for
#   3 s, not 5 (4 processes: some 20,000 rows a run, a rate, not a total), and 50 samples of
#   the LISTEN delay, not 100 (its p99 is then the largest of the 50);
# - probe_throughput: one 10 s cycle of its 1,000 checks, not two (capacity.py measures the
#   same path at 1,000 to 60,000 checks);
# - probe_cost: 3 rounds of 2,000 probes a kind, not 5 (the kinds take turns within each
#   round, so each median is of like conditions);
# - cli_start, config_load, statuspage_render: medians of 3 runs, not 5 (a regression check:
#   bench/RESULTS.md's notes found CPU times moving ±0.2 s between measurements an hour apart,
#   which more runs in one do not narrow; the careful figures take `--runs 7` and more);
# - storage: raw results of 3 % of the checks, not 10 % (30 checks x 15 days, 655,200
#   results: 196 bytes a result, the database 711 MB; 197 bytes and 709 / 710 MB at 5 / 10 %;
#   the nightly job's time is scaled by the same fraction).
ARGS: dict[str, list[str]] = {
    "capacity.py": ["--scales", "1000,10000,60000", "--duration", "62", "--short-duration", "15"],
    "cli_start.py": ["--runs", "3"],
    "config_load.py": ["--runs", "3"],
    "detection.py": ["--outages", "20", "--interval", "2", "--gap", "0.5"],
    "ingest.py": ["--runs", "3", "--seconds", "3", "--samples", "50"],
    "probe_cost.py": ["--rounds", "3", "--probes", "2000"],
    "probe_throughput.py": ["--checks", "1000", "--interval", "10", "--duration", "10"],
    "statuspage_render.py": ["--runs", "3"],
    "storage.py": ["--raw-fraction", "0.03"],
    "store_write.py": ["--rows", "20000", "--runs", "3"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", help="write the table and commands to this Markdown file")
    parser.add_argument("--only", nargs="*", help="script names to run (default: all)")
    args = parser.parse_args()
    scripts = sorted(p for p in BENCH.glob("*.py") if not args.only or p.name in args.only)
    rows: list[dict[str, str]] = []
    commands: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        table = Path(tmp) / "table.jsonl"
        for script in scripts:
            extra = list(ARGS.get(script.name, []))
            if "--table" in script.read_text():
                extra += ["--table", str(table)]
            cmd = [sys.executable, str(script), *extra]
            shown = " ".join(["python", f"bench/{script.name}", *[a for a in extra if not a.startswith(tmp)]]).replace(" --table", "")
            print(f"== {shown}", flush=True)
            t = time.monotonic()
            env = {**os.environ, "PYTHONPATH": str(BENCH.parent)}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
            took = time.monotonic() - t
            commands.append((shown, took, proc.returncode))
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-14:]
            print("\n".join("   " + line for line in tail))
            print(f"   ({took:.0f} s, exit {proc.returncode})", flush=True)
        if table.exists():
            rows = [json.loads(line) for line in table.read_text().splitlines() if line.strip()]
    widths = [max([len(h)] + [len(r[h]) for r in rows]) for h in ("target", "measured", "peer", "ratio")]
    header = ("target", "measured", "peer", "ratio")
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(r[h].ljust(w) for h, w in zip(header, widths, strict=True)) for r in rows]
    print("\n" + "\n".join(lines))
    if args.results:
        write_results(Path(args.results), rows, commands)
    if any(rc for _, _, rc in commands):
        sys.exit(1)


def write_results(path: Path, rows: list[dict[str, str]], commands: list[tuple[str, float, int]]) -> None:
    load = os.getloadavg()
    md = [
        "# Benchmark results",
        "",
        f"Latest `make bench` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} while it ran: the box is shared, so figures move by "
        "~10% between runs; ratios are taken within one run).",
        "",
        "| target | measured | peer (same run) | ratio |",
        "| --- | --- | --- | --- |",
        *[f"| {r['target']} | {r['measured']} | {r['peer']} | {r['ratio']} |" for r in rows],
        "",
        "Commands (each also runs alone; `--help` says what it measures):",
        "",
        *[f"- `{cmd}` ({took:.0f} s{'' if rc == 0 else f', exit {rc}'})" for cmd, took, rc in commands],
        "",
    ]
    notes = ""
    if path.exists() and "\n## Notes" in path.read_text():  # hand-written notes below the table stay
        notes = "## Notes" + path.read_text().split("\n## Notes", 1)[1]
    path.write_text("\n".join(md) + ("\n" + notes if notes else ""))


if __name__ == "__main__":
    main()
