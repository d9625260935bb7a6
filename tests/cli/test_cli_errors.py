"""Errors that say what to do next: no config found, no database yet (and none created by a
read-only command), secrets a read-only command does not use, a YAML syntax error with its
line and a caret, and a simulator or monitor that is not running."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tests.cli.cli_kit import CHECKS, ROOT, config_text, invoke, run_pty, seed, valid

READ_ONLY = [("status",), ("incidents",), ("outbox",), ("render", "--out", "site")]


def test_no_config_names_every_way_to_give_one(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "config.example.yaml")
    out = invoke("status", cwd=tmp_path)
    assert out.exit_code == 2
    assert out.output.splitlines() == [
        f"invoicewatch: no config file: there is no ./config.yaml in {tmp_path}",
        "  name one with -c FILE: invoicewatch -c FILE status",
        "  or once for this shell: export INVOICEWATCH_CONFIG=FILE",
        "  to try invoicewatch, use the annotated example that runs as-is: invoicewatch -c config.example.yaml status",
    ]


def test_a_missing_file_named_by_option_or_variable_says_which(tmp_path: Path) -> None:
    by_option = invoke("-c", "nope.yaml", "incidents", cwd=tmp_path)
    assert by_option.exit_code == 2
    assert by_option.output.splitlines()[0] == "invoicewatch: no config file: nope.yaml does not exist (given with -c)"
    by_env = invoke("outbox", env={"INVOICEWATCH_CONFIG": "gone.yaml"}, cwd=tmp_path)
    assert by_env.exit_code == 2
    assert by_env.output.splitlines()[0] == "invoicewatch: no config file: INVOICEWATCH_CONFIG names gone.yaml, which does not exist"


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: c[0])
def test_read_only_commands_never_create_the_database(tmp_path: Path, command: tuple[str, ...]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(config_text(f"sqlite:///{tmp_path}/var/m.db", CHECKS), encoding="utf-8")
    out = invoke("-c", str(path), *command, cwd=tmp_path)
    assert out.exit_code == 2
    assert out.output.splitlines() == [
        f"invoicewatch: no database yet: {tmp_path}/var/m.db (monitor.database in {path}) does not exist",
        f"  the monitor creates it when it first runs: invoicewatch -c {path} run",
    ]
    assert not (tmp_path / "var").exists()


def test_beside_the_demo_the_missing_database_error_names_the_demos(tmp_path: Path) -> None:
    """During `make run` a second terminal's `status` finds no monitor database: the demo
    keeps its own (var/demo/demo.db), and the error says so."""
    (tmp_path / "var" / "demo").mkdir(parents=True)
    (tmp_path / "var" / "demo" / "demo.db").touch()
    path = tmp_path / "c.yaml"
    path.write_text(config_text("sqlite:///var/invoicewatch.db", CHECKS), encoding="utf-8")
    out = invoke("-c", str(path), "status", cwd=tmp_path)
    assert out.exit_code == 2
    assert out.output.splitlines()[2] == ("  the demo (make run) keeps its own, var/demo/demo.db: these commands read "
                                          "the plain monitor's (make monitor)")


SECRETS = """\
  - {name: erp, kind: sql, url: "${ERP_DB_URL}", query: SELECT 1}
  - {name: web, kind: http, url: "http://127.0.0.1:9/x?token=${TOKEN}"}
channels:
  - {name: oncall, urls: ["${ONCALL_URL}"], audience: oncall}
"""


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: c[0])
def test_read_only_commands_work_without_secrets_they_do_not_use(tmp_path: Path, command: tuple[str, ...]) -> None:
    db = f"sqlite:///{tmp_path}/m.db"
    seed(db)
    path = tmp_path / "c.yaml"
    path.write_text(config_text(db, CHECKS + SECRETS), encoding="utf-8")
    out = invoke("-c", str(path), *command, cwd=tmp_path)
    assert out.exit_code in (0, 1), out.output  # 1: status with a check down
    assert "not set" not in out.output


def test_status_json_without_secrets_still_lists_the_checks_that_use_them(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/m.db"
    seed(db)
    path = tmp_path / "c.yaml"
    path.write_text(config_text(db, CHECKS + SECRETS), encoding="utf-8")
    doc = valid(invoke("-c", str(path), "status", "--json").output, "status")
    assert {"erp", "web"} <= {r["check"] for r in doc["checks"]}


def test_a_command_that_uses_a_secret_names_the_missing_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(config_text(f"sqlite:///{tmp_path}/m.db", CHECKS + SECRETS), encoding="utf-8")
    out = invoke("-c", str(path), "check", "web", cwd=tmp_path)
    assert out.exit_code == 2
    assert out.output.splitlines()[0] == "invoicewatch: check 'web' needs ${TOKEN}, which is not set"
    strict = invoke("-c", str(path), "channels", "test", "oncall", cwd=tmp_path)
    assert strict.exit_code == 2 and "environment variable ONCALL_URL is not set" in strict.output
    unset_db = tmp_path / "d.yaml"
    unset_db.write_text(config_text("${IW_DB}", CHECKS), encoding="utf-8")
    out = invoke("-c", str(unset_db), "status", cwd=tmp_path)
    assert out.exit_code == 2
    assert out.output.splitlines()[0] == f"invoicewatch: monitor.database in {unset_db} is ${{IW_DB}}, which is not set"


def test_a_yaml_syntax_error_is_said_in_words_with_the_line_and_a_caret(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("monitor:\n  name: x\n checks:\n  - name: a\n", encoding="utf-8")
    out = invoke("-c", str(path), "status")
    assert out.exit_code == 2
    first, source, caret, total = out.output.splitlines()
    assert first.startswith(f"{path}:3:2: monitor: YAML syntax: indentation: ") and "<block end>" not in first
    assert source == "  3 |  checks:"
    assert caret == "    |  ^"
    assert total == f"1 problem in {path}"
    screen = run_pty("-c", str(path), "status", columns=80, cwd=tmp_path)
    assert screen.code == 2 and screen.coloured and "  3 |  checks:" in screen.lines


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_against_a_simulator_that_is_not_running_says_how_to_start_it(tmp_path: Path) -> None:
    port = _closed_port()
    path = tmp_path / "c.yaml"
    path.write_text(config_text(
        f"sqlite:///{tmp_path}/m.db", "  - {name: 登录, kind: login, platform: sim, component: login}\n",
        f"platforms:\n  sim: {{profile: simulator, base_url: 'http://127.0.0.1:{port}', sandbox: true,"
        " credentials: {appKey: sim-admin, appSecret: sim-admin-secret}}\n"
        f"simulator: {{enabled: true, port: {port}}}\nstatus_page: {{port: 0}}\n"), encoding="utf-8")
    out = invoke("-c", str(path), "check", "登录", columns=100)
    assert out.exit_code == 1
    assert f"platform sim at http://127.0.0.1:{port}" in out.output and "POST /openapi/token" in out.output  # tried
    assert " ".join(out.output.split()).endswith(
        f"nothing answers at http://127.0.0.1:{port}, the bundled simulator's address: start the monitor, which runs it "
        f"(invoicewatch -c {path} run), or the simulator alone (invoicewatch -c {path} simulate serve)")


def test_check_of_the_monitors_own_page_says_to_start_the_monitor(tmp_path: Path) -> None:
    port = _closed_port()
    path = tmp_path / "c.yaml"
    path.write_text(config_text(f"sqlite:///{tmp_path}/m.db",
                                f"  - {{name: 本地网关, kind: tcp, host: 127.0.0.1, port: {port}, timeout: 2s}}\n",
                                f"status_page: {{port: {port}}}\n"), encoding="utf-8")
    out = invoke("-c", str(path), "check", "本地网关", columns=100)
    assert out.exit_code == 1
    assert " ".join(out.output.split()).endswith(f"nothing answers at 127.0.0.1:{port}, this monitor's own status page: start "
                                           f"the monitor (invoicewatch -c {path} run)")
