"""How long loading a big config takes: `load_config` in-process and `invoicewatch validate`.

    PYTHONPATH=. python bench/config_load.py [SIZES...] [--runs N] [--timeout S]

The file is config.example.yaml with its checks repeated (every kind: http, tcp, sql, dns,
tls and the invoice kinds, with their conditions, JSONPath and platform references) until it
holds N checks, plus `depends_on` chains so the cross-checks have work to do. Prints, per
size, the median of several runs of `load_config`, the cost per check, and the wall time of a
real `invoicewatch validate` process (interpreter start and imports included). Issue 11's
goal: validate of 10,000 checks in under 2 s, and a per-check cost that does not grow with N.
Not a test: figures for bench/RESULTS.md and for regressions by eye.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.yaml"


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
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)


def time_load(path: Path, runs: int) -> float:
    from monitor.config import load_config

    times = []
    for _ in range(runs):
        t = time.perf_counter()
        config = load_config(path, env={})
        times.append(time.perf_counter() - t)
        assert len(config.checks) > 0
    return statistics.median(times)


def time_validate(path: Path, runs: int, timeout: float) -> float | None:
    # PYTHONPATH, when set, says which tree to measure (e.g. another checkout, for "before").
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT)}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "monitor", "validate", str(path)], capture_output=True,
                                  text=True, timeout=timeout, env=env, cwd=path.parent)
        except subprocess.TimeoutExpired:
            return None
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise SystemExit(f"validate failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5, help="runs per size (median printed)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on a size after this many seconds")
    args = parser.parse_args()
    print(f"{'checks':>7}  {'bytes':>9}  {'load_config (median)':>21}  {'per check':>10}  {'validate process':>17}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"config-{n}.yaml"
            path.write_text(config_text(n), encoding="utf-8")
            shown = time_validate(path, 1, args.timeout)  # one run first: is this size feasible at all?
            if shown is None:
                print(f"{n:>7}  {path.stat().st_size:>9}  {'> ' + format(args.timeout, 'g') + ' s':>21}  (gave up)")
                continue
            load = time_load(path, args.runs)
            proc = time_validate(path, args.runs, args.timeout)
            shown_proc = f"{proc:.2f} s" if proc is not None else "timeout"
            print(f"{n:>7}  {path.stat().st_size:>9}  {load:>19.3f} s  {load / n * 1e6:>7.0f} µs  {shown_proc:>17}")


if __name__ == "__main__":
    main()
