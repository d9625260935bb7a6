"""monitor.self_heartbeat: pings a real local HTTP receiver while healthy, none while not; one
log line per streak, the URL's secret path never in them; the key validated where it is."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.core.clock import FakeClock
from monitor.core.errors import ConfigError
from monitor.runtime import Monitor
from tests.selfwatch.selfwatch_kit import Receiver, until

SECRET = "c0ffee-ping-token-4711"
CONFIG = """
monitor:
  database: "sqlite:///{db}"
  write_interval: 50ms
  self_heartbeat: {{url: "{base}/ping/${{HB_TOKEN}}", interval: {interval}, timeout: {timeout}}}
status_page: {{enabled: false}}
"""


@pytest.fixture
async def receiver(http_server: Any) -> Receiver:
    r = Receiver()
    r.base = str(await http_server(r.app()))
    return r


def config_file(tmp_path: Path, receiver: Receiver, interval: str = "1h", timeout: str = "2s") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "iw.db", base=receiver.base, interval=interval, timeout=timeout),
                    encoding="utf-8")
    return path


@pytest.fixture
async def monitor(tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Monitor]:
    monkeypatch.setenv("HB_TOKEN", SECRET)
    m = Monitor(load_config(config_file(tmp_path, receiver)), clock=FakeClock())
    await m.start()
    await until(lambda: receiver.hits, what="the first ping at start-up")  # interval 1h: one ping, then quiet
    yield m
    await m.stop()


async def test_a_healthy_monitor_pings_the_url(monitor: Monitor, receiver: Receiver) -> None:
    assert await monitor.selfwatch.beat() is True
    assert [(h.method, h.path) for h in receiver.hits] == [("GET", f"/ping/{SECRET}")] * 2
    assert monitor.selfwatch.heartbeats == 2


async def test_an_unhealthy_monitor_withholds_the_ping_and_says_so_once(
    monitor: Monitor, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    Path(monitor.config.file).write_text("monitor: {timezone: Mars/Olympus}\n", encoding="utf-8")
    assert await monitor.reload() is False
    before = len(receiver.hits)
    with caplog.at_level(logging.INFO, logger="monitor.selfwatch"):
        assert await monitor.selfwatch.beat() is False
        assert await monitor.selfwatch.beat() is False
    assert len(receiver.hits) == before
    withheld = [r for r in caplog.records if getattr(r, "event", None) == "heartbeat.withheld"]
    assert len(withheld) == 1
    assert "last config reload failed" in withheld[0].getMessage()


async def test_a_refused_ping_is_logged_once_per_streak_without_the_secret(
    monitor: Monitor, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 503
    with caplog.at_level(logging.INFO, logger="monitor.selfwatch"):
        assert await monitor.selfwatch.beat() is False
        assert await monitor.selfwatch.beat() is False
        receiver.status = 200
        assert await monitor.selfwatch.beat() is True
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.selfwatch"]
    assert lines == [
        f"self heartbeat to {receiver.base} failed: HTTP 503",
        f"self heartbeat to {receiver.base} delivered again",
    ]
    assert monitor.selfwatch.heartbeat_failures == 2
    assert not any(SECRET in line for line in lines)


async def test_an_unreachable_receiver_is_a_failed_ping(monitor: Monitor, receiver: Receiver,
                                                        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nobody listens on (bound, then closed)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    Path(monitor.config.file).write_text(
        CONFIG.format(db=tmp_path / "iw.db", base=f"http://127.0.0.1:{port}", interval="1h", timeout="2s"), encoding="utf-8")
    assert await monitor.reload() is True
    with caplog.at_level(logging.WARNING, logger="monitor.selfwatch"):
        assert await monitor.selfwatch.beat() is False
    [line] = [r.getMessage() for r in caplog.records if r.name == "monitor.selfwatch"]
    assert line.startswith(f"self heartbeat to http://127.0.0.1:{port} failed: ConnectError")
    assert SECRET not in line


async def test_the_heartbeat_loop_pings_every_interval(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HB_TOKEN", SECRET)
    m = Monitor(load_config(config_file(tmp_path, receiver, interval="200ms", timeout="150ms")), clock=FakeClock())
    await m.start()
    try:
        await until(lambda: len(receiver.hits) >= 3, what="three pings")
    finally:
        await m.stop()
    gaps = [b.at - a.at for a, b in zip(receiver.hits, receiver.hits[1:], strict=False)]
    assert min(gaps) >= 0.15  # paced by the interval, not sent in a burst


@pytest.mark.parametrize(
    ("heartbeat", "problem"),
    [
        ("{url: 'ftp://example.com/x'}", "monitor.self_heartbeat.url: must be an absolute http:// or https:// URL"),
        ("{url: 'http:///nohost'}", "monitor.self_heartbeat.url: must be an absolute http:// or https:// URL"),
        ("{url: 'http://h/x', interval: 10s, timeout: 10s}", "monitor.self_heartbeat.timeout: timeout (10s) must be shorter than interval (10s)"),
        ("{interval: 10s}", "monitor.self_heartbeat.url: required key is missing"),
    ],
)
def test_bad_self_heartbeat_config_is_a_located_error(tmp_path: Path, heartbeat: str, problem: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"monitor:\n  self_heartbeat: {heartbeat}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    [found] = [str(p) for p in err.value.problems]
    assert found.startswith(f"{path}:2:") and problem in found, found
