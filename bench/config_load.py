"""How long loading a big config takes: `load_config` in-process and `invoicewatch validate`.

    PYTHONPATH=. python bench/config_load.py [SIZES...] [--runs N] [--timeout S]

The file is config.example.yaml with its checks repeated (every kind: http, tcp, sql, dns,
tls and the invoice kinds, with their conditions, JSONPath and platform references) until it
holds N checks, plus `depends_on` chains so the cross-checks have work to do. Prints, per
size, the medians of several runs of `load_config` (wall and CPU time, and CPU per check) and of
a real `invoicewatch validate` process (interpreter start and imports included; wall, and CPU
of the child, which a busy shared machine disturbs less). Issue 11's goal: validate of 10,000
checks in under 2 s, and a per-check cost that does not grow with N.
Not a test: figures for bench/RESULTS.md and for regressions by eye.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from support.children import installed_env

import monitor

ROOT = Path(__file__).resolve().parents[1]
# The example of the tree being measured (PYTHONPATH may point at another checkout).
EXAMPLE = Path(monitor.__file__).resolve().parents[1] / "config.example.yaml"


def config_text(n: int) -> str:
    """config.example.yaml with n checks (its own repeated under new names)."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    base = data["checks"]
    checks = []
    for i in range(n):
        check = copy.deepcopy(base[i % len(base)])
        check["name"] = f"{check['name']}-{i}"
        if i % 10 and check["kind"] in ("http", "tcp"):
            check["depends_on"] = [checks[i - 1]["name"]] if i else []
        checks.append(check)
    data["checks"] = checks
    # libyaml's emitter where PyYAML has it: the same text (checked at 1,000 and 10,000 checks)
    # in a third of the time the pure-Python one took, several seconds of the script at 10,000.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, allow_unicode=True, sort_keys=False, width=200)


def time_load(path: Path, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `load_config` in this process."""
    from monitor.config import load_config

    walls, cpus = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        config = load_config(path, env={})
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        assert len(config.checks) > 0
    return statistics.median(walls), statistics.median(cpus)


def time_validate(path: Path, runs: int, timeout: float) -> tuple[float, float] | None:
    """Median wall and CPU seconds (user + system) of a real `invoicewatch validate` process,
    with its bytecode kept as an installed one keeps it (support.children)."""
    # PYTHONPATH, when set, says which tree to measure (e.g. another checkout, for "before").
    env = installed_env(path.parent / "pycache")
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH") or str(ROOT)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "monitor", "validate", str(path)], capture_output=True,
                                  text=True, timeout=timeout, env=env, cwd=path.parent)
        except subprocess.TimeoutExpired:
            return None
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"validate failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5, help="runs per size (median printed)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on a size after this many seconds")
    args = parser.parse_args()
    print(f"{'checks':>7} {'bytes':>9} | {'load_config wall':>16} {'cpu':>7} {'cpu/check':>9} | "
          f"{'validate wall':>13} {'cpu':>7}   (medians of {args.runs})")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"config-{n}.yaml"
            path.write_text(config_text(n), encoding="utf-8")
            if time_validate(path, 1, args.timeout) is None:  # one run first: is this size feasible at all?
                print(f"{n:>7} {path.stat().st_size:>9} | gave up: validate took more than {args.timeout:g} s")
                continue
            wall, cpu = time_load(path, args.runs)
            proc = time_validate(path, args.runs, args.timeout)
            shown = f"{proc[0]:>11.2f} s {proc[1]:>5.2f} s" if proc is not None else "      timeout"
            print(f"{n:>7} {path.stat().st_size:>9} | {wall:>14.3f} s {cpu:>5.3f} s {cpu / n * 1e6:>6.0f} µs | {shown}")

if __name__ == "__main__":
    main()
