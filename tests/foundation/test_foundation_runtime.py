"""The running monitor: start, results to store and services, reload, stop; and a real process.

Probes are `tcp` checks against a real listener on 127.0.0.1; the database is a real SQLite
file. Waits are on conditions with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, load_config
from monitor.core.results import Result
from monitor.core.spec import CheckSpec
from monitor.runtime import Monitor
from monitor.store import Store

ROOT = Path(__file__).resolve().parents[2]


async def until(predicate: Callable[[], Any], seconds: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met within {seconds}s")
        await asyncio.sleep(0.02)


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> Listener:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    ln = await Listener().start()
    yield ln
    await ln.stop()


def write_config(path: Path, port: int, *, checks: tuple[str, ...] = ("ping",), extra: str = "", interval: str = "1h") -> Path:
    body = "".join(
        f"  - name: {name}\n    kind: tcp\n    host: 127.0.0.1\n    port: {port}\n    interval: {interval}\n    timeout: 1s\n"
        for name in checks
    )
    path.write_text(
        "monitor:\n"
        f"  database: sqlite:///{path.parent}/monitor.db\n"
        "  write_interval: 1h\n"
        "  write_batch_size: 1000\n"
        f"{extra}"
        f"checks:\n{body}",
        encoding="utf-8",
    )
    return path


class Recorder:
    """A service that writes down what the monitor tells it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.results: list[Result] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    async def on_result(self, spec: CheckSpec, result: Result) -> None:
        self.results.append(result)

    def on_config(self, config: Config) -> None:
        self.calls.append(f"config:{len(config.checks)}")


def count_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM check_result").fetchone()[0])


async def test_results_reach_services_and_stop_flushes_pending_writes(tmp_path: Path, listener: Listener) -> None:
    config = load_config(write_config(tmp_path / "c.yaml", listener.port))
    recorder = Recorder()
    monitor = Monitor(config, services=[recorder])
    await monitor.start()
    monitor.scheduler.recheck_soon("ping", timedelta(0))
    await until(lambda: recorder.results, what="a probe result")
    assert recorder.results[0].status == "up"
    assert monitor.writer.pending == 1  # write_interval is an hour: nothing written yet
    assert count_rows(tmp_path / "monitor.db") == 0
    await monitor.stop()
    assert recorder.calls == ["start", "stop"]
    assert count_rows(tmp_path / "monitor.db") == 1
    assert monitor.describe()["results_written"] == 1


async def test_bad_reload_keeps_the_old_config_and_records_the_errors(tmp_path: Path, listener: Listener) -> None:
    path = write_config(tmp_path / "c.yaml", listener.port)
    recorder = Recorder()
    monitor = Monitor(load_config(path), services=[recorder])
    await monitor.start()
    try:
        old = monitor.config
        path.write_text(path.read_text() + "    intervl: 5s\n")
        assert await monitor.reload() is False
        assert monitor.config is old
        assert monitor.health.config_errors == [
            f"{path}:12:5: checks[0].intervl: unknown key 'intervl' (did you mean 'interval'?)"
        ]
        assert monitor.describe()["config_ok"] is False
        assert monitor.scheduler.next_run("ping") is not None
        assert recorder.calls == ["start"]
    finally:
        await monitor.stop()


async def test_good_reload_swaps_checks_and_tells_services(tmp_path: Path, listener: Listener) -> None:
    path = write_config(tmp_path / "c.yaml", listener.port, checks=("a", "b"))
    recorder = Recorder()
    monitor = Monitor(load_config(path), services=[recorder])
    await monitor.start()
    try:
        next_a = monitor.scheduler.next_run("a")
        monitor.health.config_errors = ["stale"]
        write_config(path, listener.port, checks=("a", "c"))
        assert await monitor.reload() is True
        assert (monitor.health.config_errors, monitor.health.last_reload_ok) == ([], True)
        assert monitor.scheduler.next_run("a") == next_a
        assert monitor.scheduler.next_run("b") is None
        assert monitor.scheduler.next_run("c") is not None
        assert recorder.calls == ["start", "config:2"]
    finally:
        await monitor.stop()


async def test_reload_masks_secrets_the_new_file_brings(tmp_path: Path, listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path / "c.yaml", listener.port)
    monitor = Monitor(load_config(path))
    await monitor.start()
    try:
        monkeypatch.setenv("IW_TEST_NAME", "new-secret-name")
        write_config(path, listener.port, extra="  name: ${IW_TEST_NAME}\n")
        assert await monitor.reload() is True
        assert monitor.redactor.redact("token new-secret-name leaked") == "token *** leaked"
    finally:
        await monitor.stop()


async def test_stop_with_the_database_gone_keeps_going_and_reports(tmp_path: Path, listener: Listener) -> None:
    config = load_config(write_config(tmp_path / "c.yaml", listener.port))
    monitor = Monitor(config)
    await monitor.start()
    monitor.scheduler.recheck_soon("ping", timedelta(0))
    await until(lambda: monitor.writer.pending == 1, what="a buffered result")
    store = Store(config.monitor.database)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE check_result RENAME TO away")
    store.close()
    await asyncio.wait_for(monitor.stop(), 10)  # must not hang or raise
    assert monitor.writer.pending == 1 and monitor.writer.failures >= 1


# --- a real process ---------------------------------------------------------------------------------


async def test_sigterm_stops_the_real_process_with_results_flushed(tmp_path: Path, listener: Listener) -> None:
    path = write_config(tmp_path / "c.yaml", listener.port, checks=("p1", "p2"), interval="1s")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("INVOICEWATCH_CONFIG", None)
    log = (tmp_path / "stderr.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "-c", str(path), "run", stdout=log, stderr=log, env=env, cwd=tmp_path
    )
    try:
        await until(lambda: listener.accepted >= 3, seconds=20, what="three probes from the process")
        # A bad file on SIGHUP is reported and the process keeps running.
        path.write_text(path.read_text().replace("kind: tcp", "kind: tpc", 1))
        proc.send_signal(signal.SIGHUP)
        stderr = tmp_path / "stderr.log"
        await until(lambda: "config reload failed" in stderr.read_text(), what="the reload error in the log")
        assert proc.returncode is None
        probes = listener.accepted
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
    text = (tmp_path / "stderr.log").read_text()
    assert rc == 0, text
    assert "Traceback" not in text
    assert "checks[0].kind: unknown check kind 'tpc'" in text
    assert count_rows(tmp_path / "monitor.db") >= probes  # write_interval is 1h: all flushed on stop
