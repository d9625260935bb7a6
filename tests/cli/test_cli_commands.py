"""incidents (time to close, acked by, symptoms), check NAME against the real simulator (the
request line, a block per step as it finishes, a spinner only on a terminal, values once,
earlier runs apart), every other --json against its schema, --help never cut, completion,
and the run terminal's log lines."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli.show import format_result
from monitor.core.results import Result, Status, StepResult
from monitor.logs import TerminalFormatter, text_formatter
from tests.cli.cli_kit import CHECKS, ROOT, config_text, invoke, run_pty, valid, words_whole


def test_incidents_say_when_each_closes_who_acked_and_how_many_symptoms(seeded: Path) -> None:
    doc = valid(invoke("-c", str(seeded), "incidents", "--json").output, "incidents")
    login, query = sorted(doc["incidents"], key=lambda d: d["id"])
    assert (login["acked_by"], login["symptoms"], login["closes_at"]) == ("alice", ["发票查询"], None)
    assert query["recovered_at"] is not None and query["closes_at"] > query["recovered_at"]
    out = invoke("-c", str(seeded), "incidents", columns=160)
    assert out.exit_code == 0
    header, *rows = out.output.splitlines()
    assert header.split() == ["ID", "COMPONENT", "STATUS", "IMPACT", "STARTED", "LASTING", "CLOSES", "ACKED", "BY",
                              "SYMPTOMS", "TITLE"]
    row = {line.split()[0]: line for line in rows}
    assert "10m after recovery" in row["1"] and "alice" in row["1"] and " 1 " in row["1"]
    assert re.search(r"in [67]m", row["2"])  # 10 m quiet period, recovered 3 m ago
    show = invoke("-c", str(seeded), "incidents", "show", "2")
    assert "closes:    in " in show.output and "acked:     not yet" in show.output
    valid(invoke("-c", str(seeded), "incidents", "show", "1", "--json").output, "incident")


@pytest.mark.parametrize("columns", [80, 120])
def test_incidents_on_a_terminal(seeded: Path, columns: int) -> None:
    screen = run_pty("-c", str(seeded), "incidents", columns=columns, cwd=seeded.parent)
    assert screen.code == 0 and screen.coloured
    assert max(len(line) for line in screen.lines) <= columns
    assert words_whole(screen.lines, ["10m after recovery"]) == []


def test_other_json_outputs_match_their_schemas(seeded: Path) -> None:
    cfg = str(seeded)
    valid(invoke("-c", cfg, "outbox", "--json").output, "outbox")
    valid(invoke("-c", cfg, "silences", "--json").output, "silences")
    valid(invoke("-c", cfg, "maintenance", "list", "--json").output, "maintenance")
    valid(invoke("-c", cfg, "channels", "list", "--json").output, "channels")
    valid(invoke("-c", cfg, "announce", "list", "--json").output, "announcements")
    valid(invoke("validate", cfg, str(ROOT / "config.example.yaml"), "--json").output, "validate")
    silences = invoke("-c", cfg, "silences", columns=80).output
    assert "ERP migration tonight" in silences and "bob" in silences


# -- check NAME against the real simulator ------------------------------------------------------


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[str]:
    """`invoicewatch simulate serve` on a free port, as its own process."""
    (tmp_path / "sim.yaml").write_text("simulator: {port: 0}\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "-c", "sim.yaml", "simulate", "serve", "--port", "0"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "simulator on http://127.0.0.1:PORT (...)"
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line
        yield found.group(0)
    finally:
        proc.terminate()
        proc.wait(10)


def platform_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(config_text(
        f"sqlite:///{tmp_path}/m.db",
        "  - {name: 登录, kind: login, platform: sim, component: login}\n"
        "  - {name: 发票查询, kind: query, platform: sim, component: query, window: 1h, limit: 5}\n",
        f"platforms:\n  sim: {{profile: simulator, base_url: '{url}', sandbox: true,"
        " credentials: {appKey: sim-admin, appSecret: sim-admin-secret}}\n"), encoding="utf-8")
    return path


@pytest.mark.parametrize("columns", [80, 120])
def test_check_on_a_terminal_shows_requests_and_steps_live(tmp_path: Path, simulator: str, columns: int) -> None:
    path = platform_config(tmp_path, simulator)
    screen = run_pty("-c", str(path), "check", "登录", columns=columns, cwd=tmp_path)
    assert screen.code == 0, screen.text
    assert screen.coloured and "\x1b[?25l" in screen.raw  # a spinner hid the cursor while it ran
    lines = screen.lines
    assert lines[0] == f"登录  login · platform sim at {simulator}"
    text = " ".join(screen.text.split())
    assert "up token" in text and "POST /openapi/token" in text
    assert "GET /openapi/certification" in text and "UP in " in text
    assert "sim-admin-secret" not in screen.raw
    assert words_whole([line for line in lines if "openapi" not in line], ["logged in to sim", "certification: ok"]) == []
    plain = invoke("-c", str(path), "check", "登录")  # not a terminal: no spinner, no colour
    assert plain.exit_code == 0 and "\x1b[" not in plain.output
    # The token the first run got is reused (the token file in the state directory), once shown.
    assert plain.output.count("token_requests_run 0") == 1  # values once


def test_check_json_matches_its_schema(tmp_path: Path, simulator: str) -> None:
    path = platform_config(tmp_path, simulator)
    doc = valid(invoke("-c", str(path), "check", "发票查询", "--json").output, "check")
    assert doc["status"] == "up" and doc["target"] == f"platform sim at {simulator}"


def test_canaries_from_earlier_runs_are_reported_apart() -> None:
    now = datetime.now(UTC)
    result = Result("开票", Status.DEGRADED, now, 1.8, "canary 2611 issued in 6.1s and cancelled", steps=[
        StepResult("leftover canaries", Status.DEGRADED, message="1 leftover canary from an earlier attempt is still issuing",
                   values={"leftover_found": 1, "leftover_cleaned": 0}),
        StepResult("submit", Status.UP, 1.8, "issue: ok in 2 ms", values={"serial": "S-1"}),
        StepResult("wait for issue", Status.UP, 6100.0, "issued after 6.1s", values={"polls": 4}),
    ], values={"serial": "S-1", "issue_s": 6.1})
    text = format_result(result)
    assert "earlier runs (not this run's result): leftover canaries degraded" in text
    assert "this run alone: up; recorded as degraded because of the earlier runs above" in text
    assert "slowest step: wait for issue, 6.10 s" in text
    assert text.count("S-1") == 1  # a value the step showed is not repeated


# -- help, completion, logs ---------------------------------------------------------------------


def test_help_is_never_cut_with_an_ellipsis() -> None:
    out = invoke("--help", columns=80)
    assert [line for line in out.output.splitlines()[1:] if "..." in line] == []
    assert "Every check's status, since when, latest result, next run and the full reason." in " ".join(out.output.split())


def test_shell_completion_scripts_and_check_names(seeded: Path) -> None:
    for shell in ("bash", "zsh", "fish"):
        proc = subprocess.run([sys.executable, "-m", "monitor"], env={**os.environ, "PYTHONPATH": str(ROOT),
                              "_INVOICEWATCH_COMPLETE": f"{shell}_source"}, capture_output=True, text=True, timeout=30)
        assert "_INVOICEWATCH_COMPLETE" in proc.stdout, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "monitor"], capture_output=True, text=True, timeout=30, env={
        **os.environ, "PYTHONPATH": str(ROOT), "_INVOICEWATCH_COMPLETE": "bash_complete",
        "COMP_WORDS": f"invoicewatch -c {seeded} check 发", "COMP_CWORD": "4"})
    assert proc.stdout.split() == ["plain,发票查询"]


def test_run_log_lines_on_a_terminal_name_the_event() -> None:
    record = logging.LogRecord("monitor.incidents.service", logging.WARNING, __file__, 1,
                               "check 登录 is down (was up): token refused", None, None)
    record.event = "check.down"
    line = TerminalFormatter(colour=True).format(record)
    assert re.fullmatch(r"\d\d:\d\d:\d\d \x1b\[1;31mdown    \x1b\[0m check 登录 is down \(was up\): token refused", line)
    assert TerminalFormatter(colour=False).format(record).endswith(" down     check 登录 is down (was up): token refused")
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert isinstance(text_formatter(tty), TerminalFormatter)
    finally:
        os.close(master)
        os.close(slave)
    assert not isinstance(text_formatter(io.StringIO()), TerminalFormatter)  # files and journald keep the full line


def test_run_prints_what_it_watches_first(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(config_text(f"sqlite:///{tmp_path}/m.db", CHECKS,
                                "status_page: {port: 0}\nchannels:\n  - {name: oncall, urls: ['json://127.0.0.1:9/x'], audience: oncall}\n"),
                    encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(path), "run"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while time.monotonic() < deadline and not any("monitoring" in line for line in lines):
            lines.append(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(30)
    assert lines[0].startswith("invoicewatch ") and str(path) in lines[0]
    assert lines[1].startswith("watching 5 checks (2 disabled or elsewhere): 本地网关, 登录")
    assert any(line.strip() == "status page  on a free port of 127.0.0.1 (files in var/status; the server's line below says which)"
               for line in lines)
    assert any(line.strip() == "messages     oncall (oncall, zh-CN) -> json://127.0.0.1:9" for line in lines)
