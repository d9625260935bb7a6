"""Detection: a fault switched on in the simulator -> the on-call message at a local sink.
Not a test: prints figures.

    python bench/detection.py [--outages 20] [--interval 3] [--retry 1] [--threshold 2]
                              [--timeout 1.5] [--seed 11] [--table FILE]

The real monitor (`invoicewatch run`, a process of its own) watches the bundled simulator (in
that process, as config.example.yaml has it) with three checks of the example's kinds (login,
query, freshness) at short intervals; its one on-call channel is a json:// URL delivered by
Apprise to a webhook receiver in this process. The evaluation, routes, notifications and
escalation sections are config.example.yaml's own, so the shipped routing is what is measured.

`--outages` outages of five kinds (refused login, HTTP 5xx, a hang, latency past the down
limit, sync lag) in a random order (`--seed`), each switched on through the simulator's admin
API at a random moment of the check's schedule, held until the first on-call message about a
new incident arrives, then cleared; the next starts once every incident opened has been
resolved (the receiver has its "resolved") and a calm gap has passed.

Each delay runs from just before the fault is set to the arrival at the receiver (one
monotonic clock, this process). Its bound is the target's: interval + (failure_threshold - 1)
x retry_interval + 2 s, plus per attempt the time a failing probe takes by construction: the
probe timeout for a hang, the injected delay for latency. Prints per kind min / median / max,
the bound and how many went past it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
LATENCY_S = 0.8  # the injected query latency (the query check's down limit is 500 ms)


@dataclass(frozen=True)
class Kind:
    name: str
    fault: str
    params: dict[str, Any]
    check: str
    extra_per_attempt: str = ""  # "timeout" | "latency": what a failing attempt takes by construction


KINDS = (
    Kind("refused login", "login_refused", {"revoke": True}, "登录"),
    Kind("5xx", "error_rate", {"status": 500, "endpoint": "certification"}, "登录"),
    Kind("hang", "hang", {"endpoint": "list"}, "发票查询", "timeout"),
    Kind("latency", "latency", {"seconds": LATENCY_S, "endpoint": "list"}, "发票查询", "latency"),
    Kind("sync lag", "sync_lag", {"seconds": 900}, "数据同步"),
)


@dataclass
class Sink:
    """The on-call webhook receiver: what arrived, when (monotonic), with which keys."""

    got: list[tuple[float, list[str], str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        body = await request.json()
        keys = [unquote(k) for k in request.headers.get("X-Invoicewatch-Key", "").split(",") if k]
        self.got.append((at, keys, str(body.get("title", ""))))
        return web.json_response({"ok": True})

    def opened_after(self, t0: float) -> tuple[float, str, str] | None:
        """The first message after t0 that tells of a new incident: (arrival, key, title)."""
        for at, keys, title in self.got:
            if at >= t0:
                for k in keys:
                    if re.fullmatch(r"incident:\d+:opened", k):
                        return at, k, title
        return None



def open_incidents(db: Path) -> int:
    """Incidents the monitor has not resolved yet."""
    return count(db, "SELECT count(*) FROM incident WHERE resolved_at IS NULL")


# the example's checks (and names: a check name is part of some message keys)
CHECKS: list[dict[str, Any]] = [
    {"name": "登录", "kind": "login", "platform": "sim", "component": "login", "weight": "critical"},
    {"name": "发票查询", "kind": "query", "platform": "sim", "component": "query", "window": "1h",
     "limit": 20, "latency": {"degraded": "400ms", "down": "500ms"}},
    {"name": "数据同步", "kind": "freshness", "platform": "sim", "component": "sync", "field": "date",
     "window": "1h", "max_lag": {"down": "10m"}},
]


def checks_up(db: Path) -> int:
    """Checks whose latest stored result is up."""
    return count(db, "SELECT count(*) FROM check_state WHERE last_status = 'up'")


def count(db: Path, sql: str) -> int:
    """A count from the monitor's SQLite file, read-only; -1 while it is not created yet or busy."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return -1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, sim_port: int, sink_port: int, args: argparse.Namespace) -> Path:
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    shipped = {k: example[k] for k in ("evaluation", "routes", "notifications", "escalation") if k in example}
    shipped["evaluation"] = {**shipped.get("evaluation", {}), "sweep_interval": "1s"}  # resolving sooner
    shipped["notifications"] = {**shipped.get("notifications", {}), "status_page_url": "http://127.0.0.1:9/"}
    config: dict[str, Any] = {
        "monitor": {"name": "detection-bench", "timezone": "Asia/Shanghai", "language": "en",
                    "database": f"sqlite:///{folder / 'bench.db'}", "state_dir": str(folder)},
        "defaults": {"interval": f"{args.interval}s", "timeout": f"{args.timeout}s",
                     "failure_threshold": args.threshold, "success_threshold": 1,
                     "retry_interval": f"{args.retry}s"},
        "components": [{"id": c, "name": c} for c in ("login", "query", "sync")],
        "platforms": {"sim": {
            "profile": "simulator", "base_url": f"http://127.0.0.1:{sim_port}", "sandbox": True,
            "timeout": f"{args.timeout}s",
            "credentials": {"appKey": "sim-admin", "appSecret": "sim-admin-secret"},
            # after a refused login the next token call may come at the next run, not in 60 s
            "auth": {"retry_backoff": "1s", "max_backoff": "1s"},
        }},
        "checks": CHECKS,
        "channels": [{"name": "oncall", "urls": [f"json://127.0.0.1:{sink_port}/oncall"], "audience": "oncall",
                      "language": "en"},
                     # the example's staff route needs its channel; announcements are off
                     {"name": "staff", "urls": [f"json://127.0.0.1:{sink_port}/staff"], "audience": "staff"}],
        **shipped,
        "incidents": {"resolve_after": "1s", "open_on_degraded": True},
        "announcements": {"enabled": False},
        "status_page": {"enabled": False},
        "simulator": {"enabled": True, "listen": "127.0.0.1", "port": sim_port, "token_quota": 100000,
                      "invoice_interval": "60s", "hang_cap": "30s"},
    }
    path = folder / "detection.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def admin(sim_port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{sim_port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null")


def bound_of(kind: Kind, args: argparse.Namespace) -> float:
    per_attempt = {"timeout": args.timeout, "latency": LATENCY_S}.get(kind.extra_per_attempt, 0.0)
    return args.interval + (args.threshold - 1) * args.retry + 2.0 + args.threshold * per_attempt


async def until(what: str, predicate: Any, timeout: float) -> bool:
    """Poll `predicate` every 50 ms for at most `timeout` s (arrival times are taken by the
    receiver itself, so the polling does not blur them)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            print(f"   (gave up waiting for {what} after {timeout:.0f} s)", flush=True)
            return False
        await asyncio.sleep(0.05)
    return True


async def bench(args: argparse.Namespace, folder: Path) -> list[tuple[Kind, float | None]]:
    sink = Sink()
    app = web.Application()
    app.router.add_post("/oncall", sink.handle)
    app.router.add_post("/staff", lambda _request: web.json_response({"ok": True}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sink_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sim_port = free_port()
    config = write_config(folder, sim_port, sink_port, args)
    log = (folder / "monitor.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run", "--log-level", "INFO"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=env)
    rng = random.Random(args.seed)
    plan = [KINDS[i % len(KINDS)] for i in range(args.outages)]
    rng.shuffle(plan)
    out: list[tuple[Kind, float | None]] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                admin(sim_port, "GET", "/_admin/faults")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"the monitor did not start; its log: {folder / 'monitor.log'}") from None
                await asyncio.sleep(0.2)
        db = folder / "bench.db"  # first results (tokens taken), nothing open
        await until("a calm start", lambda: checks_up(db) == len(CHECKS) and open_incidents(db) == 0, 60)
        for n, kind in enumerate(plan, 1):
            await asyncio.sleep(rng.uniform(0, args.interval))  # a random moment of the schedule
            t0 = time.monotonic()
            admin(sim_port, "POST", "/_admin/faults", {"name": kind.fault, "params": kind.params})
            bound = bound_of(kind, args)
            await until(f"{kind.name}'s page", lambda t0=t0: sink.opened_after(t0) is not None, bound + 40)
            hit = sink.opened_after(t0)
            admin(sim_port, "DELETE", "/_admin/faults")
            delay = None if hit is None else hit[0] - t0
            out.append((kind, delay))
            shown = "none" if delay is None else f"{delay:5.2f} s"
            flag = "" if delay is not None and delay <= bound else "  PAST THE BOUND"
            print(f"  {n:2d}. {kind.name:<13} {shown}  (bound {bound:.1f} s){flag}"
                  f"{'' if hit is None else '  ' + hit[2][:60]}", flush=True)
            await until("every incident resolved", lambda: open_incidents(db) == 0, 90)
            await asyncio.sleep(args.gap)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        await runner.cleanup()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outages", type=int, default=20)
    parser.add_argument("--interval", type=float, default=2.0, help="every check's interval (s)")
    parser.add_argument("--retry", type=float, default=1.0, help="retry_interval (s)")
    parser.add_argument("--threshold", type=int, default=2, help="failure_threshold")
    parser.add_argument("--timeout", type=float, default=1.5, help="probe timeout (s)")
    parser.add_argument("--gap", type=float, default=1.0, help="calm seconds between outages")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the folder (config, database, monitor log)")
    parser.add_argument("--table", help="append the summary rows (JSON lines) to this file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-detection-"))
    print(f"detection: {args.outages} outages, checks every {args.interval:g} s, failure_threshold "
          f"{args.threshold}, retry_interval {args.retry:g} s, timeout {args.timeout:g} s; routes from "
          f"config.example.yaml; folder {folder}", flush=True)
    try:
        out = asyncio.run(bench(args, folder))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\n  {'kind':<13} {'n':>2} {'min':>6} {'median':>7} {'max':>6} {'bound':>6}  past")
    past_all = 0
    worst = 0.0
    for kind in KINDS:
        got = [d for k, d in out if k is kind]
        if not got:
            continue
        seen = [d for d in got if d is not None]
        bound = bound_of(kind, args)
        past = sum(1 for d in got if d is None or d > bound)
        past_all += past
        worst = max(worst, *(d / bound for d in seen)) if seen else float("inf")
        if seen:
            print(f"  {kind.name:<13} {len(got):>2} {min(seen):6.2f} {statistics.median(seen):7.2f} "
                  f"{max(seen):6.2f} {bound:6.1f}  {past}")
        else:
            print(f"  {kind.name:<13} {len(got):>2}      -       -      - {bound:6.1f}  {past}")
    print(f"  {past_all} of {len(out)} past the bound (seconds, fault set -> on-call message received)")
    if args.table:
        base = args.interval + (args.threshold - 1) * args.retry + 2.0
        row = {"target": f"detection <= interval + (threshold-1) x retry + 2 s ({len(out)} outages, 5 kinds)",
               "measured": f"{past_all} of {len(out)} past; median {statistics.median(d for _, d in out if d is not None):.2f} s",
               "peer": f"bound {base:.1f} s (+ timeout per attempt for a hang)",
               "ratio": f"{worst:.2f} worst/bound (<= 1.0)"}
        with open(args.table, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
