"""`invoicewatch run` starts the simulator in-process when `simulator.enabled` is true."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from monitor import runtime
from monitor.config import load_config
from monitor.core.clock import FakeClock
from monitor.runtime import Monitor
from monitor.simulator.service import SimulatorService


def config_text(tmp_path: Path, enabled: bool) -> str:
    return (
        f"monitor:\n  database: sqlite:///{tmp_path}/iw.db\n"
        f"simulator:\n  enabled: {str(enabled).lower()}\n  port: 0\n  token_lifetime: 30m\n"
    )


def test_simulator_service_is_started_first(tmp_path: Path) -> None:
    config = load_config(tmp_path / "c.yaml", text=config_text(tmp_path, True))
    monitor = runtime.Monitor(config)
    assert isinstance(monitor.services[0], SimulatorService)


async def test_enabled_simulator_serves_on_the_monitors_clock(tmp_path: Path, clock: FakeClock) -> None:
    config = load_config(tmp_path / "c.yaml", text=config_text(tmp_path, True))
    service = SimulatorService(config.simulator, clock=clock)
    monitor = Monitor(config, clock=clock, services=[service])
    await monitor.start()
    try:
        assert service.url is not None and service.url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=service.url, trust_env=False) as c:
            body = (await c.post("/openapi/token", json={"appKey": "sim-admin", "appSecret": "sim-admin-secret"})).json()
            assert body["result"]["expiresIn"] == 1800
            clock.advance(1800)
            headers = {"Authorization": f"Bearer {body['result']['accessToken']}"}
            assert (await c.get("/openapi/certification", headers=headers)).json()["code"] == "E1002"
    finally:
        await monitor.stop()
    assert service.simulator is not None


async def test_disabled_simulator_does_not_listen(tmp_path: Path, clock: FakeClock) -> None:
    config = load_config(tmp_path / "c.yaml", text=config_text(tmp_path, False))
    service = SimulatorService(config.simulator, clock=clock)
    monitor = Monitor(config, clock=clock, services=[service])
    await monitor.start()
    await monitor.stop()
    assert service.url is None and service.simulator is None


def test_a_taken_port_stops_run_with_one_line_saying_what_to_do(tmp_path: Path) -> None:
    """The example's checks probe the simulator's port: a monitor that started beside another
    one's simulator would probe that one. `run` stops at once, in one line, no traceback."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        config = tmp_path / "c.yaml"
        config.write_text(config_text(tmp_path, True).replace("port: 0", f"port: {port}")
                          + "status_page: {enabled: false}\n", encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "run"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    finally:
        taken.close()
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (f"invoicewatch: the invoice platform simulator cannot listen on 127.0.0.1:{port}: Address already "
                    "in use (another invoicewatch running, e.g. `make run` in a terminal? stop it, or set "
                    "simulator.port: 0 for any free port)"), last
