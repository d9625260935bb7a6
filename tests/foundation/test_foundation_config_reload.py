"""A reload never stalls or swells the running monitor: hostile files sent by SIGHUP to a real
process, and reloads over their time and memory budget.

Issue 13: a 1 KB "billion laughs" sent by SIGHUP froze a running monitor (0 results in 45 s,
/healthz silent, 3.3 GB RSS) and `${file:/dev/zero}` grew to 23.6 GB. Now the reload runs in a
child process (monitor/config/reload.py) and the loader is bounded: the monitor keeps probing
and writing, /healthz answers 503 naming the failed reload, and its RSS stays where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config import load_config
from monitor.runtime import Monitor
from tests.foundation.test_foundation_runtime import Listener

ROOT = Path(__file__).resolve().parents[2]

LAUGHS = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 9)}]\n" for i in range(9)
)  # about 1 KB; fully expanded, 9**9 = 387 million strings
HOSTILE = {
    "billion_laughs": (LAUGHS, "aliases here expand to more than"),
    "dev_zero": ("monitor:\n  name: ${file:/dev/zero}\n", "monitor.name: cannot read secret file '/dev/zero': larger than 64 KiB"),
}


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    ln = await Listener().start()
    yield ln
    await ln.stop()


async def until(predicate: Callable[[], Any], seconds: float = 20.0, what: str = "condition") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met within {seconds}s")
        await asyncio.sleep(0.05)


def results(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM check_result").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not there yet
        return 0


def rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]


def config_text(tmp_path: Path, port: int, extra: str = "") -> str:
    return f"""
monitor:
  database: sqlite:///{tmp_path}/monitor.db
  write_interval: 100ms
{extra}status_page:
  listen: 127.0.0.1
  port: 0
  output_dir: {tmp_path}/site
checks:
  - {{name: control, kind: tcp, host: 127.0.0.1, port: {port}, interval: 200ms, timeout: 150ms}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
async def test_a_hostile_reload_keeps_the_monitor_probing_and_small(tmp_path: Path, listener: Listener, case: str) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read RSS")
    hostile, error = HOSTILE[case]
    path = tmp_path / "config.yaml"
    path.write_text(config_text(tmp_path, listener.port), encoding="utf-8")
    db = tmp_path / "monitor.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INVOICEWATCH_CONFIG", None)
    log = tmp_path / "stderr.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "-c", str(path), "run", "--log-level", "INFO",
            stdout=asyncio.subprocess.DEVNULL, stderr=err, env=env, cwd=tmp_path,
        )
    try:
        page = await until(lambda: re.search(r"status page at (http://127\.0\.0\.1:\d+/)", log.read_text()), what="the server")
        base = page.group(1)
        await until(lambda: results(db) >= 3, what="results before the reload")
        rss_before = rss_kib(proc.pid)

        path.write_text(hostile, encoding="utf-8")
        written = results(db)
        proc.send_signal(signal.SIGHUP)
        await until(lambda: "config reload failed" in log.read_text(), what="the failed reload in the log")
        # Probing went on through the reload, and goes on after it.
        await until(lambda: results(db) >= written + 5, what="results after the reload")
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(base + "healthz")
        assert r.status_code == 503
        assert r.json()["problems"] == ["last config reload failed; running on the previous config"]
        assert r.json()["config_ok"] is False
        assert rss_kib(proc.pid) < rss_before + 50 * 1024, (rss_before, rss_kib(proc.pid))
        assert proc.returncode is None
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = log.read_text()
    assert rc == 0, text
    assert "Traceback" not in text, text
    assert error in text, text


@contextlib.asynccontextmanager
async def monitor_of(path: Path) -> AsyncIterator[Monitor]:
    """A Monitor on the config at `path` (not started: reload needs no running services)."""
    monitor = Monitor(load_config(path))
    try:
        yield monitor
    finally:
        await monitor.stop()


async def test_a_reload_over_its_time_budget_keeps_the_running_config(tmp_path: Path, listener: Listener) -> None:
    # 10 ms: the child cannot even import in that time, so the budget is always exceeded.
    path = tmp_path / "config.yaml"
    path.write_text(config_text(tmp_path, listener.port, "  reload_timeout: 10ms\n"), encoding="utf-8")
    async with monitor_of(path) as monitor:
        old = monitor.config
        assert await monitor.reload() is False
        assert monitor.config is old
        assert monitor.health.config_errors == [
            f"{path}:1:1: loading took longer than 0.01 s, the reload budget; the running config is kept"
        ]


async def test_a_reload_over_its_memory_budget_keeps_the_running_config(tmp_path: Path, listener: Listener) -> None:
    path = tmp_path / "config.yaml"
    head = config_text(tmp_path, listener.port, "  reload_memory_mb: 64\n")
    path.write_text(head, encoding="utf-8")
    async with monitor_of(path) as monitor:
        old = monitor.config
        # 20,000 checks need well over 64 MiB to load.
        checks = "".join(
            f"  - {{name: c{i}, kind: http, url: 'http://127.0.0.1:{listener.port}/{i}', conditions: ['[STATUS] == 200']}}\n"
            for i in range(20_000)
        )
        path.write_text(head + checks, encoding="utf-8")
        assert await monitor.reload() is False
        assert monitor.config is old
        assert monitor.health.config_errors == [f"{path}:1:1: loading needs more than the reload budget of 64 MiB of memory"]


async def test_a_good_reload_through_the_child_loads_the_new_checks(tmp_path: Path, listener: Listener) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config_text(tmp_path, listener.port), encoding="utf-8")
    async with monitor_of(path) as monitor:
        path.write_text(config_text(tmp_path, listener.port).replace("name: control", "name: renamed"), encoding="utf-8")
        assert await monitor.reload() is True
        assert [c.name for c in monitor.config.checks] == ["renamed"]
        assert monitor.config.file == str(path)
