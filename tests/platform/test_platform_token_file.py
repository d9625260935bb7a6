"""Tokens that respect the quota: a token survives restarts and is shared with `check` (the
token file in the state directory, mode 0600, never the database), a ceiling on token
requests that warns on-call first, and a crash-looping monitor (real processes, killed and
restarted against the bundled simulator) that asks for no new token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from checks.platform.tokens import FILE_NAME
from monitor.core.clock import FakeClock, SystemClock
from monitor.core.events import MONITOR_PROBLEM
from monitor.core.results import Status
from monitor.quota import TokenQuotaWatch
from monitor.store import Store
from tests.platform.platform_kit import ADMIN_KEY, SimHandle, platform_yaml, until

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "checks:\n  - {name: login, kind: login, platform: sim, interval: 30s}\n"


async def test_a_token_survives_a_restart_and_stays_out_of_the_database(sim: SimHandle, make_env: Any,
                                                                       tmp_path: Path) -> None:
    first = make_env(platform_yaml(sim.url) + CHECKS)
    assert (await first.run("login")).status is Status.UP
    second = make_env(platform_yaml(sim.url) + CHECKS)  # a new process's context, same config
    result = await second.run("login")
    assert result.status is Status.UP and result.values["token_requests_run"] == 0
    assert (await sim.state())["tokens"][ADMIN_KEY]["granted_in_window"] == 1
    path = tmp_path / "var" / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = first.registry.session("sim").tokens.token.value
    assert token in path.read_text(encoding="utf-8")


async def test_the_ceiling_warns_first_then_stops_asking(sim: SimHandle, make_env: Any, clock: FakeClock,
                                                         tmp_path: Path) -> None:
    quota = "auth: {scheme: token, quota: {requests: 3, window: 30d, warn_at: 0.6}}\n"
    env = make_env(platform_yaml(sim.url, extra=quota) + CHECKS)
    watch = TokenQuotaWatch(Store(env.config.monitor.database), env.config, clock=clock, bus=None,  # type: ignore[arg-type]
                            platforms=env.registry)
    lifetime = sim.sim.settings.token_lifetime
    assert (await env.run("login")).status is Status.UP
    assert watch.notices() == []
    clock.advance(lifetime)  # expired: a second token
    assert (await env.run("login")).status is Status.UP
    (warning,) = watch.notices()
    assert warning.event == MONITOR_PROBLEM and "2 of 3 token requests" in warning.title
    clock.advance(lifetime)
    assert (await env.run("login")).status is Status.UP
    clock.advance(lifetime)
    refused = await env.run("login")
    assert refused.status is Status.DOWN and "ceiling reached" in refused.message
    (ceiling,) = watch.notices()
    assert ceiling.severity == "critical" and ceiling.key != warning.key
    assert (await sim.state())["tokens"][ADMIN_KEY]["granted_in_window"] == 3


def _results(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM check_result WHERE \"check\" = 'login'")).scalar_one())
    except sa.exc.OperationalError:
        return 0  # not migrated yet
    finally:
        engine.dispose()


async def test_a_crash_looping_monitor_asks_for_no_new_token(tmp_path: Path) -> None:
    from monitor.simulator import Simulator, serve
    from tests.platform.platform_kit import sim_settings

    sim = Simulator(SystemClock(), seed=5, settings=sim_settings())
    runner, url = await serve(sim, port=0)
    db = f"sqlite:///{tmp_path}/iw.db"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
monitor: {{database: "{db}", state_dir: state}}
status_page: {{enabled: false}}
{platform_yaml(url)}
checks:
  - {{name: login, kind: login, platform: sim, interval: 1s, timeout: 1s}}
""", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        seen = 0
        for _ in range(4):  # start, probe, crash (SIGKILL: no shutdown of any kind), again
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor", "-c", str(cfg), "run", cwd=str(tmp_path), env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                async def probed(before: int = seen) -> int:
                    n = await asyncio.to_thread(_results, db)
                    return n if n > before else 0

                seen = await until(probed, "a login result from the restarted monitor", timeout=30.0)
            finally:
                child.send_signal(signal.SIGKILL)
                await child.wait()
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "-c", str(cfg), "check", "login", cwd=str(ROOT), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(check.communicate(), 60)
        assert check.returncode == 0, out.decode()
        assert sim.tokens.granted_in_window(ADMIN_KEY) == 1
        kept = json.loads((tmp_path / "state" / FILE_NAME).read_text(encoding="utf-8"))
        (token,) = [entry["token"]["value"] for entry in kept.values()]
        for name in ("iw.db", "iw.db-wal"):  # never in the database
            if (tmp_path / name).exists():
                assert token.encode() not in (tmp_path / name).read_bytes()
    finally:
        await runner.cleanup()


async def test_an_unwritable_state_dir_keeps_tokens_in_memory_and_says_so_once(
    sim: SimHandle, make_env: Any, tmp_path: Path, caplog: Any
) -> None:
    (tmp_path / "blocker").write_text("a file where the folder should be", encoding="utf-8")
    monitor = f'monitor: {{database: "sqlite:///{tmp_path}/iw.db", state_dir: blocker/state}}\n'
    env = make_env(monitor + platform_yaml(sim.url) + CHECKS)
    for _ in range(3):
        assert (await env.run("login")).status is Status.UP
    assert (await sim.state())["tokens"][ADMIN_KEY]["granted_in_window"] == 1  # cached in memory
    warnings = [r for r in caplog.records if "cannot be kept" in r.getMessage()]
    assert len(warnings) == 1 and "monitor.state_dir" in warnings[0].getMessage()


def test_the_state_dir_is_systemds_state_directory_unless_set(tmp_path: Path, monkeypatch: Any) -> None:
    from monitor.config import load_config
    from monitor.runtime import state_dir

    path = tmp_path / "c.yaml"
    path.write_text("monitor: {}\n", encoding="utf-8")
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert state_dir(load_config(path)) == tmp_path / "var"  # beside the config file
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/invoicewatch/all")
    assert state_dir(load_config(path)) == Path("/var/lib/invoicewatch/all")
    path.write_text("monitor: {state_dir: /srv/iw}\n", encoding="utf-8")
    assert state_dir(load_config(path)) == Path("/srv/iw")  # what the config says wins
