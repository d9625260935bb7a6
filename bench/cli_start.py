"""How long the command line takes to answer: every command's start on config.example.yaml,
and `status` with 1,000 checks, as real processes (interpreter start, imports, config load and
the command's own work), with the import-time top offenders.

    PYTHONPATH=. python bench/cli_start.py [--runs N] [--before TREE]

Each figure is the median of N runs (default 5): wall time and the child's CPU time (user +
system; a busy shared machine disturbs it less than wall time). The children keep compiled
bytecode, as an installed invoicewatch does: PYTHONDONTWRITEBYTECODE (set on some dev
machines, where it made every start compile the project's sources again, ~0.2 s) is dropped
and the bytecode goes to a temporary PYTHONPYCACHEPREFIX (nothing is written into the trees);
one unmeasured run per command and tree fills it. `--no-bytecode` measures the old way. `--before TREE` runs the same
commands from another checkout (e.g. /work/main) in the same run, side by side, the two
trees taking turns run by run. The offenders
are `python -X importtime` self times summed per top-level package, for `status`.
Issue 11's goals: any command on config.example.yaml < 0.5 s, `status` at 1,000 checks < 1 s.
Not a test: figures for bench/RESULTS.md and for regressions by eye.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from support.children import installed_env

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    ("--help",),
    ("validate",),
    ("status",),
    ("status", "--json"),
    ("incidents",),
    ("outbox",),
    ("silences",),
    ("channels", "list"),
]


def seed_database(folder: Path, checks: list[str]) -> None:
    """The database a monitor would have made, with one result per check (run in a child so
    this process's imports do not count)."""
    code = (
        "import sys; from datetime import datetime, UTC, timedelta\n"
        "from monitor.store import Store\nfrom monitor.core.results import Result, Status\n"
        f"s = Store('sqlite:///{folder}/var/invoicewatch.db'); s.migrate()\n"
        "now = datetime.now(UTC)\n"
        f"s.write_results([Result(n, Status.UP, now - timedelta(seconds=5), 1.5, 'ok', location='local') for n in {checks!r}])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)})


def thousand_checks(folder: Path) -> tuple[Path, list[str]]:
    names = [f"check-{i:04d}" for i in range(1000)]
    lines = ["monitor: {database: sqlite:///var/invoicewatch.db, location: local}",
             "components:", "  - {id: net, name: 网络}", "checks:"]
    lines += [f"  - {{name: {n}, kind: tcp, component: net, host: 127.0.0.1, port: 9, interval: 30s, timeout: 2s}}"
              for n in names]
    path = folder / "thousand.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, names


CHILD_ENV: dict[str, str] = dict(os.environ)


def timed(trees: list[Path], cwd: Path, args: list[str], runs: int) -> list[tuple[float, float]]:
    """Median wall and CPU seconds of `python -m monitor ARGS` from each tree (after one
    unmeasured run each). The trees take turns run by run, so a change in the machine's load
    during the measurement falls on all of them alike."""
    envs = [{**CHILD_ENV, "PYTHONPATH": str(tree), "COLUMNS": "120"} for tree in trees]
    walls: list[list[float]] = [[] for _ in trees]
    cpus: list[list[float]] = [[] for _ in trees]
    for env in envs:
        subprocess.run([sys.executable, "-m", "monitor", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    for _ in range(runs):
        for i, env in enumerate(envs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "monitor", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
            walls[i].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[i].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)]


def offenders(tree: Path, cwd: Path, args: list[str], top: int = 12) -> list[tuple[str, float]]:
    """Import self time (ms) per top-level package, largest first."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "monitor", *args], cwd=cwd, capture_output=True,
                          text=True, env={**CHILD_ENV, "PYTHONPATH": str(tree)}, timeout=120)
    sums: collections.Counter[str] = collections.Counter()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cum, name = line.split(":", 1)[1].split("|")
        sums[name.strip().split(".")[0]] += int(self_us)
    return [(name, us / 1000) for name, us in sums.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another checkout to measure side by side (the 'before')")
    parser.add_argument("--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE as set (compile each start)")
    opts = parser.parse_args()
    trees = [("after", ROOT)] + ([("before", opts.before.resolve())] if opts.before else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not opts.no_bytecode:
            CHILD_ENV.clear()
            CHILD_ENV.update(installed_env(folder / "pycache"))
        shutil.copy(ROOT / "config.example.yaml", folder / "config.example.yaml")
        example_checks = ["本地网关", "开票平台网关", "登录", "发票查询", "数据同步", "开票"]
        seed_database(folder, example_checks)
        big, names = thousand_checks(folder)
        seed_database(folder, names)  # the same database: the 1,000 checks' results beside the example's
        cases = [(" ".join(c), ["-c", "config.example.yaml", *c]) for c in COMMANDS]
        cases.append(("status (1,000 checks)", ["-c", big.name, "status"]))
        cases.append(("status --json (1,000 checks)", ["-c", big.name, "status", "--json"]))
        head = f"{'command':<30}" + "".join(f"{name + ' wall':>13}{name + ' cpu':>12}" for name, _ in trees)
        cache = "no bytecode cache" if "PYTHONDONTWRITEBYTECODE" in CHILD_ENV else "bytecode cached"
        print(f"median of {opts.runs} runs ({cache}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}")
        print(head)
        for label, args in cases:
            cells = ""
            for wall, cpu in timed([tree for _name, tree in trees], folder, args, opts.runs):
                cells += f"{wall:>12.3f}s{cpu:>11.3f}s"
            print(f"{label:<30}{cells}")
        for name, tree in trees:
            print(f"\nimport self time by package, `status` on config.example.yaml ({name}):")
            for package, ms in offenders(tree, folder, ["-c", "config.example.yaml", "status"]):
                print(f"  {package:<28}{ms:8.1f} ms")
    print("\ngoals (issue 11): every command on config.example.yaml < 0.5 s; status with 1,000 checks < 1 s")


if __name__ == "__main__":
    main()
