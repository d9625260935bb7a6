"""`invoicewatch simulate ...` against a real simulator: fault set / list / clear, errors, serve."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from monitor.cli import cli
from monitor.core.clock import FakeClock
from monitor.simulator import Simulator, create_app
from monitor.simulator.faults import CATALOG
from tests.cli.cli_kit import interruptible
from tests.simulator.simulator_kit import settings

NO_CONFIG = "/nonexistent/invoicewatch.yaml"


async def invoke(*args: str) -> Result:
    """Run the CLI in a thread: it talks (synchronously) to the server in this event loop."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def test_fault_set_list_and_clear_round_trip(base_url: str, sim: Simulator) -> None:
    out = await invoke("-c", NO_CONFIG, "simulate", "--url", base_url, "fault", "set", "latency",
                       "--seconds", "250ms", "--param", "jitter=0.05", "--endpoint", "list", "--for", "10m")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert out.output.startswith("fault latency set: seconds=0.25 jitter=0.05 endpoint=list until ")
    assert sim.faults.active("latency", "list") is not None
    out = await invoke("-c", NO_CONFIG, "simulate", "--url", base_url, "fault", "set", "fields_dropped",
                       "--rate", "0.3", "--param", "fields=invoiceNo,buyerName")  # fmt: skip
    assert out.exit_code == 0 and "fields=invoiceNo,buyerName" in out.output
    listed = await invoke("-c", NO_CONFIG, "simulate", "--url", base_url, "faults")
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.output.splitlines()] == ["NAME", "fields_dropped", "latency"]
    out = await invoke("-c", NO_CONFIG, "simulate", "--url", base_url, "fault", "clear", "latency")
    assert out.output.strip() == "cleared: latency"
    out = await invoke("-c", NO_CONFIG, "simulate", "--url", base_url, "fault", "clear")
    assert out.output.strip() == "cleared: fields_dropped"
    out = await invoke("-c", NO_CONFIG, "simulate", "--url", base_url, "faults")
    assert "healthy" in out.output


async def test_bad_fault_requests_exit_2_with_one_line(base_url: str) -> None:
    for args in (["set", "bogus"], ["set", "latency", "--param", "zzz=1"], ["clear", "latency"]):
        out = await invoke("-c", NO_CONFIG, "simulate", "--url", base_url, "fault", *args)
        assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1, out.output
    out = await invoke("-c", NO_CONFIG, "simulate", "--url", base_url, "fault", "set", "busy", "--param", "novalue")
    assert out.exit_code == 2 and "KEY=VALUE" in out.output


async def test_unreachable_simulator_says_where_and_how_to_start_it() -> None:
    out = await invoke("-c", NO_CONFIG, "simulate", "--url", "http://127.0.0.1:9", "faults")
    assert out.exit_code == 1
    first, *hints = out.output.strip().splitlines()
    assert first.startswith("invoicewatch: the simulator is not running at http://127.0.0.1:9 (")
    assert [h.split(": ", 1)[1] for h in hints] == ["invoicewatch -c FILE run", "invoicewatch -c FILE simulate serve"]


async def test_url_and_admin_token_come_from_the_config(clock: FakeClock, http_server: Any, tmp_path: Path) -> None:
    sim = Simulator(clock, settings=settings(admin_token="tok"))
    url = await http_server(create_app(sim))
    port = url.rsplit(":", 1)[1]
    config = tmp_path / "config.yaml"
    config.write_text(f"simulator:\n  port: {port}\n  admin_token: tok\n", encoding="utf-8")
    out = await invoke("-c", str(config), "simulate", "fault", "set", "sync_frozen")
    assert out.exit_code == 0, out.output
    assert sim.faults.active("sync_frozen", "list") is not None
    config.write_text(f"simulator:\n  port: {port}\n", encoding="utf-8")
    out = await invoke("-c", str(config), "simulate", "faults")
    assert out.exit_code == 1 and "X-Admin-Token" in out.output


async def test_catalog_names_every_fault() -> None:
    out = await invoke("simulate", "catalog")
    names = [line.split(":")[0] for line in out.output.splitlines() if not line.startswith(" ")]
    assert names == list(CATALOG)


def test_serve_runs_standalone_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", NO_CONFIG, "simulate", "serve", "--port", "0", "--mode", "baiwang"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        preexec_fn=interruptible,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the process prints its URL once it listens
        assert line.startswith("simulator on http://127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
        url = line.split()[2]
        with httpx.Client(base_url=url, trust_env=False, timeout=5) as c:
            assert c.get("/_admin/state").json()["modes"] == ["baiwang"]
            assert c.post("/openapi/token").status_code == 404
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 60  # a bound, not a budget: the loop ends when the child exits
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
