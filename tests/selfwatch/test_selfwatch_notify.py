"""systemd's notify protocol and watchdog, against a real unix datagram socket standing in for
systemd's: READY / RELOADING / STOPPING from a running monitor, and WATCHDOG=1 only while
probing and result writing make progress (judged on the injected clock)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.core.clock import FakeClock
from monitor.core.results import Result, Status
from monitor.runtime import Monitor
from monitor.scheduler import stagger
from monitor.selfwatch import PROBE_MARGIN, SdNotify, notify_address, watchdog_seconds
from tests.selfwatch.selfwatch_kit import NotifySocket, Receiver, until

# A check name whose staggered first run is > 30 s away: the real scheduler stays out of the
# way while the test moves the FakeClock and runs the probe itself.
HOURLY = "hourly-probe"
assert stagger(HOURLY, timedelta(hours=1)) > timedelta(seconds=30)

CONFIG = """
monitor: {{database: "sqlite:///{db}", write_interval: 50ms}}
status_page: {{enabled: false}}
checks:
  - {{name: {name}, kind: http, url: "{url}", interval: 1h, timeout: 2s}}
"""


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    sock = NotifySocket(str(tmp_path / "notify.sock"))
    monkeypatch.setenv("NOTIFY_SOCKET", sock.address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.close()


@pytest.fixture
async def target(http_server: Any) -> str:
    receiver = Receiver()
    return str(await http_server(receiver.app())) + "/health"


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "iw.db", name=HOURLY, url=url), encoding="utf-8")
    return path


@pytest.fixture
async def monitor(tmp_path: Path, target: str, notify_socket: NotifySocket) -> AsyncIterator[Monitor]:
    m = Monitor(load_config(write_config(tmp_path, target)), clock=FakeClock())
    await m.start()
    yield m
    await m.stop()


def test_notify_reaches_a_path_socket_and_an_abstract_one(tmp_path: Path) -> None:
    for address in (str(tmp_path / "n.sock"), f"@invoicewatch-test-{uuid.uuid4().hex}"):
        receiver = NotifySocket(address)
        try:
            sender = SdNotify(address)
            assert sender.send("READY=1", "STATUS=up") is True
            assert receiver.drain() == ["READY=1\nSTATUS=up"]
            sender.close()
        finally:
            receiver.close()


def test_without_a_notify_socket_nothing_is_sent(tmp_path: Path) -> None:
    assert SdNotify(None).send("READY=1") is False
    assert notify_address("relative/path") is None
    assert notify_address("@name") == "\0name"
    gone = SdNotify(str(tmp_path / "nobody-listens.sock"))
    assert gone.send("WATCHDOG=1") is False  # logged once, never raised


@pytest.mark.parametrize(
    ("env", "seconds"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_comes_from_the_environment(env: dict[str, str], seconds: float | None) -> None:
    assert watchdog_seconds(env) == seconds


async def test_monitor_says_ready_then_reloading_ready_then_stopping(
    tmp_path: Path, target: str, notify_socket: NotifySocket
) -> None:
    config = write_config(tmp_path, target)
    m = Monitor(load_config(config), clock=FakeClock())
    await m.start()
    try:
        assert notify_socket.lines() == ["READY=1", "STATUS=monitoring 1 checks"]
        assert await m.reload() is True
        config.write_text("monitor: {timezone: Mars/Olympus}\n", encoding="utf-8")
        assert await m.reload() is False
        lines = notify_socket.lines()[2:]
        assert [line.split("=")[0] for line in lines] == [
            "RELOADING", "MONOTONIC_USEC", "READY", "STATUS", "RELOADING", "MONOTONIC_USEC", "READY", "STATUS",
        ]
        assert lines[3] == "STATUS=config reloaded"
        assert lines[7] == "STATUS=config reload failed; running on the previous config"
        assert int(lines[1].split("=")[1]) > 0
    finally:
        await m.stop()
    assert notify_socket.lines()[-2:] == ["STOPPING=1", "STATUS=stopping"]


async def test_watchdog_pings_only_while_probes_finish(monitor: Monitor, notify_socket: NotifySocket) -> None:
    clock = monitor.clock
    assert isinstance(clock, FakeClock)
    watch = monitor.selfwatch
    spec = monitor.specs[0]
    window = 2 * 3600 + 2 + PROBE_MARGIN
    assert watch.watchdog_tick() is True
    clock.advance(window - 1)
    assert watch.watchdog_tick() is True  # an hourly check owes nothing yet
    clock.advance(2)
    assert watch.watchdog_tick() is False  # no probe finished in two periods: stalled
    assert watch.watchdog_withheld == 1
    assert any(line.startswith("STATUS=stalled: probing stalled") for line in notify_socket.lines())
    assert any("probing stalled" in p for p in watch.problems())
    await monitor.scheduler.run_once(spec)
    assert watch.watchdog_tick() is True
    assert notify_socket.lines().count("WATCHDOG=1") == 3


async def test_watchdog_stops_while_a_result_write_hangs_and_resumes_after(
    tmp_path: Path, monitor: Monitor, notify_socket: NotifySocket
) -> None:
    clock = monitor.clock
    assert isinstance(clock, FakeClock)
    watch = monitor.selfwatch
    assert watch.watchdog_tick() is True
    # Another process holds SQLite's write lock: the writer's INSERT waits (busy timeout).
    blocker = sqlite3.connect(tmp_path / "iw.db", timeout=1)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        monitor.writer.add(Result(check=HOURLY, status=Status.UP, started_at=clock.now(), latency_ms=1.0,
                                  location="local"))
        await until(lambda: monitor.writer.pending == 1, what="a result waiting to be written")
        clock.advance(60)
        assert watch.watchdog_tick() is True  # waiting a minute on a lock is not a stall yet
        clock.advance(60)
        assert watch.watchdog_tick() is False
        assert any("result writing stalled: 1 results waiting" in p for p in watch.problems())
    finally:
        blocker.rollback()
        blocker.close()
    await until(lambda: monitor.writer.written == 1, what="the result written once the lock is free")
    assert watch.watchdog_tick() is True
    assert watch.problems() == []


async def test_a_failing_writer_is_unhealthy_but_not_stalled(tmp_path: Path, monitor: Monitor) -> None:
    """Writes that fail (and are retried, the batch kept) are reported by /healthz; a restart
    would lose the buffer, so the watchdog keeps pinging."""
    clock = monitor.clock
    assert isinstance(clock, FakeClock)
    await monitor.writer.close()  # flush by hand below
    with sqlite3.connect(tmp_path / "iw.db") as conn:
        conn.execute("ALTER TABLE check_result RENAME TO check_result_gone")
    monitor.writer.add(Result(check=HOURLY, status=Status.UP, started_at=clock.now(), latency_ms=1.0, location="local"))
    for _ in range(3):
        clock.advance(30)
        with pytest.raises(Exception, match="cannot write results"):
            await monitor.writer.flush()
        assert monitor.selfwatch.watchdog_tick() is True
    assert monitor.selfwatch.problems() == ["result writer: 3 failed writes in a row"]


async def test_the_watchdog_loop_pings_from_the_running_event_loop(
    tmp_path: Path, target: str, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 100 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    m = Monitor(load_config(write_config(tmp_path, target)), clock=FakeClock())
    await m.start()
    try:
        await notify_socket.wait_line("WATCHDOG=1", count=3, seconds=10)
    finally:
        await m.stop()
    assert notify_socket.lines()[-2:] == ["STOPPING=1", "STATUS=stopping"]
    assert timedelta(seconds=m.selfwatch.watchdog_interval or 0) == timedelta(milliseconds=200)
