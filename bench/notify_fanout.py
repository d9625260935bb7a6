"""Benchmark (not a test): one incident fanned out to 50 json:// sinks.

Measures the time from committing the incident's outbox rows to the last sink receiving its
message, through the real path: enqueue (render + insert) -> Dispatcher.run_due (CAS claim,
Apprise in the worker pool, record) -> 50 aiohttp receivers on 127.0.0.1. Fresh SQLite
database per run; prints each run and the median of 5, for a few pool sizes.

    PYTHONPATH=. python bench/notify_fanout.py [--sinks 50] [--runs 5] [--workers 8 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from monitor.config import load_config
from monitor.core.clock import SystemClock
from monitor.core.events import Notice
from monitor.store import Store
from notifiers.dispatcher import Dispatcher
from notifiers.outbox import enqueue


async def start_sinks(n: int) -> tuple[list[web.AppRunner], list[int], dict[int, float]]:
    arrived: dict[int, float] = {}
    runners, ports = [], []
    for i in range(n):
        async def handle(request: web.Request, i: int = i) -> web.Response:
            await request.read()
            arrived.setdefault(i, time.perf_counter())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        ports.append(runner.addresses[0][1])
    return runners, ports, arrived


def write_config(folder: Path, ports: list[int], workers: int) -> Path:
    lines = [f'monitor: {{database: "sqlite:///{folder}/bench.db"}}',
             "components: [{id: issuance, name: {zh-CN: 开票, en: Issuing}}]",
             f"notifications: {{workers: {workers}}}", "channels:"]
    lines += [f'  - {{name: team{i}, urls: "json://127.0.0.1:{p}/hook"}}' for i, p in enumerate(ports)]
    path = folder / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def one_run(ports: list[int], arrived: dict[int, float], workers: int) -> tuple[float, float]:
    arrived.clear()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_config(Path(tmp), ports, workers))
        store = Store(config.monitor.database)
        store.migrate()
        now = datetime.now(UTC)
        notice = Notice(event="incident.opened", key="incident:1:opened", at=now, incident_id=1,
                        component="issuance", severity="critical", title="开票接口不可用",
                        data={"check": "开票", "step": "submit", "http_status": 503, "latency_ms": 5012.0,
                              "since": now.isoformat(), "runbook": "http://wiki/runbook/issuance"})
        t0 = time.perf_counter()
        with store.session() as s:
            enqueue(s, notice, config)
            s.commit()
        committed = time.perf_counter()
        dispatcher = Dispatcher(store, config, clock=SystemClock())
        await dispatcher.run_due()
        await dispatcher.close()
        store.close()
        assert len(arrived) == len(ports), f"only {len(arrived)} of {len(ports)} sinks got the message"
        return committed - t0, max(arrived.values()) - committed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sinks", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()
    runners, ports, arrived = await start_sinks(args.sinks)
    try:
        await one_run(ports, arrived, args.workers[0])  # warm-up: imports, Apprise plugin loading
        for workers in args.workers:
            enq, last = [], []
            for _ in range(args.runs):
                e, d = await one_run(ports, arrived, workers)
                enq.append(e * 1000)
                last.append(d * 1000)
            print(f"{args.sinks} json:// sinks, {workers} Apprise workers: enqueue+commit "
                  f"median {statistics.median(enq):.0f} ms; commit -> last delivery median "
                  f"{statistics.median(last):.0f} ms (runs: {', '.join(f'{x:.0f}' for x in last)})")
    finally:
        for r in runners:
            await r.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
