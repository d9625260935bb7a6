"""How long the command line takes to answer: every command's start on config.example.yaml,
and `status` with 1,000 checks, as real processes (interpreter start, imports, config load and
the command's own work), cold (no monitor running: each process imports and loads all) and
warm (a monitor runs on the file: its warm command server forks the command, monitor/warm.py),
with the import-time top offenders of a cold start.

    PYTHONPATH=. python bench/cli_start.py [--runs N] [--before TREE] [--no-warm]

Each figure is the median of N runs (default 5): wall time and the child's CPU time (user +
system; a busy shared machine disturbs it less than wall time). The children keep compiled
bytecode, as an installed invoicewatch does: PYTHONDONTWRITEBYTECODE (set on some dev
machines, where it made every start compile the project's sources again, ~0.2 s) is dropped
and the bytecode goes to a temporary PYTHONPYCACHEPREFIX (nothing is written into the trees);
one unmeasured run per command and tree fills it. `--no-bytecode` measures the old way. `--before TREE` runs the same
commands from another checkout (e.g. /work/main) in the same run, side by side, the two
trees taking turns run by run. The offenders
are `python -X importtime` self times summed per top-level package, for `status`.
The warm columns time this tree's commands with the server's program running as the monitor
starts it (`python -m monitor.cli.warm`, one per config file); their CPU is the client's plus
the forked command's (the server's reaped children). Issue 11's goals: any command on
config.example.yaml < 0.5 s, `status` at 1,000 checks < 1 s.
Not a test: figures for bench/RESULTS.md and for regressions by eye.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from support.children import installed_env

from monitor import warm

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


def timed(trees: list[Path], cwd: Path, args: list[str], runs: int,
          servers: dict[Path, int] | None = None) -> list[tuple[float, float]]:
    """Median wall and CPU seconds of `python -m monitor ARGS` from each tree (after one
    unmeasured run each). The trees take turns run by run, so a change in the machine's load
    during the measurement falls on all of them alike. A tree in `servers` (tree -> the pid of
    its warm server) runs warm; its command's CPU is counted where the fork ran it."""
    servers = servers or {}
    envs = [{**CHILD_ENV, "PYTHONPATH": str(tree), "COLUMNS": "120", "INVOICEWATCH_WARM": "on" if tree in servers else "off"}
            for tree in trees]
    walls: list[list[float]] = [[] for _ in trees]
    cpus: list[list[float]] = [[] for _ in trees]
    for env in envs:
        subprocess.run([sys.executable, "-m", "monitor", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    for _ in range(runs):
        for i, env in enumerate(envs):
            server = servers.get(trees[i])
            forks = children_cpu(server) if server else 0.0
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "monitor", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
            walls[i].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if server:  # the server reaps its fork as it ends (SIGCHLD): then its CPU is counted
                deadline = time.monotonic() + 5
                while forked(server) and time.monotonic() < deadline:
                    time.sleep(0.01)
                forks = children_cpu(server) - forks
            cpus[i].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime + forks)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)]


def forked(pid: int) -> bool:
    """Whether `pid` (single-threaded) has a child: a fork still running, or not reaped yet."""
    return bool(Path(f"/proc/{pid}/task/{pid}/children").read_text().strip())


def children_cpu(pid: int) -> float:
    """CPU seconds of `pid`'s reaped children (cutime + cstime of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def warm_servers(tree: Path, folder: Path, configs: list[Path]) -> Iterator[list[int]]:
    """`tree`'s warm server program for each config (as CommandServer starts it), each
    listening (it says so on stdout) before this yields; stopped after. Yields their pids."""
    env = {**CHILD_ENV, "PYTHONPATH": str(tree), "INVOICEWATCH_WARM": "on"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for config in configs:
            procs.append(subprocess.Popen(warm.server_argv(str(config), os.getpid()), env=env, cwd=folder,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
        for config, proc in zip(configs, procs, strict=True):
            assert proc.stdout is not None
            said = proc.stdout.readline() if select.select([proc.stdout], [], [], 120)[0] else b""
            if said.decode().strip() != warm.READY:
                raise SystemExit(f"the warm server for {config.name} did not listen (exit {proc.poll()})")
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
            if proc.stdout:
                proc.stdout.close()


def write_rows(table: str, cold: dict[str, float], hot: dict[str, float]) -> None:
    """The summary rows for `make bench`'s table: the slowest command on config.example.yaml
    and `status` at 1,000 checks, warm, beside the same cold."""
    example = [label for label in hot if "1,000" not in label]
    worst = max(example, key=lambda label: hot[label])
    worst_cold = max(example, key=lambda label: cold[label])
    big = "status (1,000 checks)"
    rows = [
        {"target": "every command on config.example.yaml < 0.5 s (a monitor running: warm)",
         "measured": f"slowest {hot[worst]:.3f} s ({worst})",
         "peer": f"cold: slowest {cold[worst_cold]:.3f} s ({worst_cold})", "ratio": f"{hot[worst] / 0.5:.2f} (< 1.0)"},
        {"target": "status with 1,000 checks < 1 s", "measured": f"{hot[big]:.3f} s warm",
         "peer": f"cold {cold[big]:.3f} s", "ratio": f"{max(hot[big], cold[big]) / 1.0:.2f} (< 1.0)"},
    ]
    with open(table, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


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
    parser.add_argument("--no-warm", action="store_true", help="cold starts only (no warm command server)")
    parser.add_argument("--table", help="append the summary rows (JSON lines) to this file")
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
        print(f"cold (no monitor running on the file)\n{head}")
        cold: dict[str, float] = {}
        for label, args in cases:
            cells = ""
            for i, (wall, cpu) in enumerate(timed([tree for _name, tree in trees], folder, args, opts.runs)):
                cells += f"{wall:>12.3f}s{cpu:>11.3f}s"
                if i == 0:  # this tree's
                    cold[label] = wall
            print(f"{label:<30}{cells}")
        if not opts.no_warm:
            print(f"\nwarm (a monitor runs on the file: its warm command server), {trees[0][0]}\n"
                  f"{'command':<30}{'wall':>13}{'cpu':>12}")
            hot: dict[str, float] = {}
            with warm_servers(ROOT, folder, [folder / "config.example.yaml", big]) as (example, thousand):
                for label, args in cases:
                    (wall, cpu), = timed([ROOT], folder, args, opts.runs, {ROOT: thousand if "1,000" in label else example})
                    hot[label] = wall
                    print(f"{label:<30}{wall:>12.3f}s{cpu:>11.3f}s")
            if opts.table:
                write_rows(opts.table, cold, hot)
        for name, tree in trees:
            print(f"\nimport self time by package, `status` on config.example.yaml ({name}):")
            for package, ms in offenders(tree, folder, ["-c", "config.example.yaml", "status"]):
                print(f"  {package:<28}{ms:8.1f} ms")
    print("\ngoals (issue 11): every command on config.example.yaml < 0.5 s; status with 1,000 checks < 1 s")


if __name__ == "__main__":
    main()
