"""Roles: what each one runs, that a probe/controller split is refused on SQLite with a clear
error (from the file or from `run --role`), and fast re-checks made where the probing is."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import Config, load_config
from monitor.core.clock import FakeClock
from monitor.core.errors import ConfigError
from monitor.core.results import Result, Status
from monitor.housekeeping import HousekeepingService
from monitor.incidents.rechecks import LocalRechecks
from monitor.incidents.service import IncidentService
from monitor.quota import TokenQuotaWatch
from monitor.runtime import Monitor
from monitor.server import WebService
from monitor.statuspage.service import PageService
from monitor.store.intake import Listener
from monitor.store.leadership import NEVER, SOLE, Leadership
from monitor.store.nodes import NodePresence
from notifiers.service import NotifierService

PG = "postgresql+psycopg://iw@127.0.0.1:1/iw"  # never connected to: these tests only compose
BODY = """
checks:
  - {name: here, kind: tcp, host: 127.0.0.1, port: 9, interval: 10s, timeout: 2s, retry_interval: 3s, locations: [bj]}
  - {name: there, kind: tcp, host: 127.0.0.1, port: 9, interval: 10s, timeout: 2s, locations: [sh]}
"""


def config_file(tmp_path: Path, database: str, role: str | None = None) -> Path:
    path = tmp_path / "config.yaml"
    role_line = f"\n  role: {role}" if role else ""
    path.write_text(f'monitor:\n  database: "{database}"\n  location: bj{role_line}\n{BODY}', encoding="utf-8")
    return path


def kinds(monitor: Monitor) -> list[type]:
    return [type(s) for s in monitor.services]


@pytest.mark.parametrize("role", ["probe", "controller"])
def test_a_split_on_sqlite_is_a_config_error_at_the_key(tmp_path: Path, sqlite_url: str, role: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(config_file(tmp_path, sqlite_url, role))
    [problem] = err.value.problems
    assert (problem.path, problem.line) == ("monitor.role", 4)
    assert f"role {role!r} needs PostgreSQL" in problem.message and "'all' is the only role" in problem.message


def test_run_role_on_sqlite_is_refused_with_exit_2(tmp_path: Path, sqlite_url: str) -> None:
    out = CliRunner().invoke(cli, ["-c", str(config_file(tmp_path, sqlite_url)), "run", "--role", "controller"])
    assert out.exit_code == 2
    assert "monitor.role: role 'controller' needs PostgreSQL" in out.output and "(run --role)" in out.output


async def test_all_on_sqlite_is_the_one_process_of_today(tmp_path: Path, sqlite_url: str) -> None:
    monitor = Monitor(load_config(config_file(tmp_path, sqlite_url)))
    try:
        assert kinds(monitor) == [type(monitor.simulator), type(monitor.platforms), NodePresence, IncidentService,
                                  NotifierService, PageService, WebService, HousekeepingService, TokenQuotaWatch]
        assert monitor.leader is SOLE and monitor.incidents.fold_own and monitor.node == "bj"
        assert [s.name for s in monitor.specs] == ["here"]
    finally:
        await monitor.http.aclose()


async def test_a_probe_node_probes_and_writes_nothing_more(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, PG))
    monitor = Monitor(config, role="probe")
    try:
        assert kinds(monitor) == [type(monitor.simulator), type(monitor.platforms), NodePresence, LocalRechecks,
                                  NotifierService, TokenQuotaWatch], "no deciding, no page, no housekeeping"
        assert monitor.leader is NEVER, "its notifier service only reports its own problems"
        assert [s.name for s in monitor.specs] == ["here"], "the checks of its own location"
        assert monitor.writer.node == "bj" and monitor.writer.urgent_failures
    finally:
        await monitor.http.aclose()


async def test_a_controller_is_elected_and_probes_nothing(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, PG, "probe"))  # the flag wins over the file
    monitor = Monitor(config, role="controller")
    try:
        assert kinds(monitor) == [type(monitor.simulator), type(monitor.platforms), NodePresence, Leadership, Listener,
                                  IncidentService, NotifierService, PageService, WebService, HousekeepingService]
        assert monitor.leader is monitor.leadership and not monitor.incidents.fold_own
        assert monitor.specs == []
    finally:
        await monitor.http.aclose()


async def test_all_on_postgresql_probes_and_competes_for_leadership(tmp_path: Path) -> None:
    monitor = Monitor(load_config(config_file(tmp_path, PG)))
    try:
        assert Leadership in kinds(monitor) and LocalRechecks in kinds(monitor)
        assert not monitor.incidents.fold_own, "its own results come back through the store like every node's"
    finally:
        await monitor.http.aclose()


async def test_a_probe_node_asks_its_own_scheduler_for_fast_rechecks(tmp_path: Path, sqlite_url: str) -> None:
    config: Config = load_config(config_file(tmp_path, sqlite_url))
    clock = FakeClock()
    asked: list[tuple[str, timedelta]] = []
    rechecks = LocalRechecks(config, clock=clock, recheck=lambda check, delay: asked.append((check, delay)))
    spec = config.check("here")
    await rechecks.on_result(spec, Result("here", Status.UP, clock.now(), 1.0, "ok", location="bj"))
    await rechecks.on_result(spec, Result("here", Status.DOWN, clock.now(), 1.0, "refused", location="bj"))
    assert asked == [("here", timedelta(seconds=3))], "after a first failure: again in retry_interval"


async def test_location_and_node_given_at_start_hold_across_a_reload(tmp_path: Path, sqlite_url: str) -> None:
    path = config_file(tmp_path, sqlite_url)
    monitor = Monitor(load_config(path), location="sh", node="p-sh-2")
    try:
        assert (monitor.config.monitor.location, monitor.node) == ("sh", "p-sh-2")
        assert [s.name for s in monitor.specs] == ["there"]
        assert await monitor.reload(str(path))
        assert monitor.config.monitor.location == "sh", "one config file for every node: the start's identity stays"
        assert [s.name for s in monitor.specs] == ["there"]
    finally:
        await monitor.http.aclose()


def test_run_reads_location_and_node_from_the_environment(tmp_path: Path, sqlite_url: str) -> None:
    env = {"INVOICEWATCH_LOCATION": "x" * 65, "INVOICEWATCH_NODE": "p-sh"}
    out = CliRunner(env=env).invoke(cli, ["-c", str(config_file(tmp_path, sqlite_url)), "run"])
    assert out.exit_code == 2 and "monitor.location: String should have at most 64 characters" in out.output
