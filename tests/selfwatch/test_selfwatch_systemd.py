"""systemd/: one template unit for every role, checked by systemd's own tools where they
exist (Debian's `systemd` package, which scripts/system-deps.sh installs; systemd-analyze runs
offline, without systemd as PID 1): `verify` passes for each role, and `security` rates the
main unit (invoicewatch@all) 2.0 or lower."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from monitor.cli import cli
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "systemd" / "invoicewatch@.service"
ROLES = ("all", "probe", "controller")
INSTALLED_SCRIPT = "/opt/invoicewatch/.venv/bin/invoicewatch"


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    require(found is not None, "systemd-analyze (Debian's systemd package)")
    assert found is not None
    return found


def unit_dir(tmp_path: Path) -> Path:
    """The template with its install prefix pointed at this checkout's script: verify checks
    that ExecStart's program exists, and /opt/invoicewatch is not installed here."""
    script = Path(sys.executable).with_name("invoicewatch")
    assert script.exists(), script
    (tmp_path / TEMPLATE.name).write_text(TEMPLATE.read_text().replace(INSTALLED_SCRIPT, str(script)))
    return tmp_path


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A trailing ":" keeps systemd's own unit directories (sysinit.target and friends).
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{unit_dir(tmp_path)}:"}
    return subprocess.run([analyze(), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_passes_systemd_analyze_verify(tmp_path: Path, role: str) -> None:
    done = run(tmp_path, "verify", f"invoicewatch@{role}.service")
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_the_main_unit_is_rated_2_0_or_lower(tmp_path: Path) -> None:
    done = run(tmp_path, "security", "--offline=yes", "--threshold=20", "invoicewatch@all.service")
    found = re.search(r"Overall exposure level for invoicewatch@all\.service: (\d+\.\d)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0 and done.returncode == 0, done.stdout


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in TEMPLATE.read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_the_template_is_a_notify_unit_with_watchdog_reload_and_its_own_state() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["WatchdogSec"] == ["60s"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["DynamicUser"] == ["yes"]
    assert s["StateDirectory"] == ["invoicewatch/%i"]  # each role its own, so two can share a host
    assert s["EnvironmentFile"] == ["-/etc/invoicewatch/secrets.env", "-/etc/invoicewatch/%i.env"]
    assert "AF_UNIX" in s["RestrictAddressFamilies"][0]  # the notify socket is a unix socket
    assert "--role %i" in s["ExecStart"][0]
    assert not (ROOT / "systemd" / "invoicewatch.service").exists()  # one template, no copies
    # No warm command server: private /tmp and a user of its own, so no one could reach it.
    assert s["PrivateTmp"] == ["yes"] and "INVOICEWATCH_WARM=off" in s["Environment"]


def test_exec_start_options_are_options_of_run() -> None:
    command = unit_settings()["ExecStart"][0].split()
    assert command[0] == INSTALLED_SCRIPT and command[1] == "run"
    run = cli.get_command(click.Context(cli), "run")
    assert run is not None
    known = {o for p in run.params for o in p.opts}
    assert {a for a in command[2:] if a.startswith("--")} <= known
