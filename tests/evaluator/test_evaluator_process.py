"""Kill the real monitor process mid-incident and start it again: the incident continues."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


class Target:
    """The platform stand-in: an aiohttp server on a fixed port we can stop and start."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", _ok)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll `probe` every 50 ms (serving the target meanwhile) until it returns truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            value = probe()
        except sqlite3.OperationalError:  # the table is not there yet
            value = None
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return list(conn.execute(sql))


async def start_monitor(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "-c", str(config), "run", "--log-level", "WARNING",
            cwd=str(config.parent), env=env, stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )


@pytest.mark.slow
async def test_killed_monitor_resumes_the_incident_and_resolves_it(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "iw.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
monitor: {{database: "sqlite:///{db}", location: local, write_interval: 200ms}}
evaluation: {{sweep_interval: 200ms, persist_interval: 1s}}
status_page: {{port: 0, output_dir: "{tmp_path / 'site'}"}}
incidents: {{resolve_after: 1s}}
components:
  - {{id: api, name: API}}
checks:
  - {{name: api, kind: tcp, host: 127.0.0.1, port: {port}, component: api, interval: 1s, timeout: 500ms,
     failure_threshold: 2, success_threshold: 2}}
""",
        encoding="utf-8",
    )
    log = tmp_path / "monitor.log"
    target = Target(port)
    await target.start()
    proc = await start_monitor(config, log)
    try:
        await wait_for("the check to be up", lambda: query(db, "select 1 from component_status where status='operational'"))
        await target.stop()
        [(iid, status)] = await wait_for("an incident", lambda: query(db, "select id, status from incident"))
        assert status == "investigating"

        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        results_before = query(db, "select count(*) from check_result")[0][0]
        proc = await start_monitor(config, log)
        await wait_for(
            "three results after the restart",
            lambda: query(db, "select count(*) from check_result")[0][0] >= results_before + 3,
        )
        assert query(db, "select id, status, resolved_at from incident") == [(iid, "investigating", None)]

        await target.start()
        await wait_for("the incident to resolve", lambda: query(db, "select 1 from incident where resolved_at is not null"))
        assert query(db, "select id, status from incident") == [(iid, "resolved")]
        kinds = [row[0] for row in query(db, f"select json_extract(data, '$.action') from incident_update where incident_id={iid} order by id")]
        assert kinds == ["opened", "recovered", "resolved"]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await target.stop()
    assert "Traceback" not in log.read_text(encoding="utf-8", errors="replace"), log.read_text()
