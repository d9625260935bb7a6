"""A crash between issue and void leaves no canary behind after the next start.

The crash is real: `invoicewatch check canary` runs in a child process against the simulator
(served here, on the wall clock) and is killed with SIGKILL as soon as the ledger shows the
canary's serial number, before it can be voided. Then a monitor starts on the same database
and the canary is cancelled.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from monitor.core.clock import SystemClock
from tests.platform.platform_kit import sim_settings, until

ROOT = Path(__file__).resolve().parents[2]


def _rows(url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM platform_canary"))]
    except sa.exc.OperationalError:
        return []  # the child has not created the table yet
    finally:
        engine.dispose()


async def test_crash_between_issue_and_void_leaves_no_canary_after_restart(tmp_path: Path) -> None:
    from checks.platform.recovery import PlatformService
    from checks.platform.registry import platforms_of
    from monitor.config import load_config
    from monitor.runtime import Monitor
    from monitor.simulator import Simulator, serve

    sim = Simulator(SystemClock(), seed=3, settings=sim_settings(issue_delay=timedelta(seconds=1)))
    runner, url = await serve(sim, port=0)
    db = f"sqlite:///{tmp_path}/iw.db"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
monitor: {{database: "{db}"}}
platforms:
  sim:
    profile: simulator
    base_url: {url}
    credentials: {{appKey: sim-admin, appSecret: sim-admin-secret}}
checks:
  - {{name: canary, kind: issuance, platform: sim, enabled: false, cleanup: [red_flush],
      poll_every: 100ms, deadline: 20s, timeout: 30s}}
""", encoding="utf-8")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "-c", str(cfg), "check", "canary",
        cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    monitor = None
    try:
        async def serial_known() -> Any:
            return [r for r in await asyncio.to_thread(_rows, db) if r["serial"]]

        rows = await until(serial_known, "the canary in the ledger", timeout=20.0)
        child.send_signal(signal.SIGKILL)  # crash: after issue, before void
        await child.wait()
        assert rows[0]["state"] == "pending"
        inv = sim.book.find_order(rows[0]["order_no"])
        assert inv is not None and inv.status in ("issuing", "issued")

        config = load_config(cfg)
        monitor = Monitor(config, services=[])
        monitor.services = [PlatformService(platforms_of(monitor.ctx))]
        await monitor.start()

        async def cancelled() -> bool:
            sim.book.generate()
            inv = sim.book.find_order(rows[0]["order_no"])
            state = [r["state"] for r in await asyncio.to_thread(_rows, db)]
            return inv is not None and inv.status == "red_flushed" and state == ["cleaned"]

        await until(cancelled, "the leftover canary to be red-flushed", timeout=30.0)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        if monitor is not None:
            await monitor.stop()
        await runner.cleanup()
