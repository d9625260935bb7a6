"""Logs people read: the real output of a running monitor process through an outage (one line
per event, JSON for machines, secrets masked, no Apprise chatter, no traceback), the same
process talking to a stand-in for systemd's notify socket, and the formatter's contract."""

from __future__ import annotations

import io
import json
import logging
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor import logs
from monitor.core.secrets import Redactor
from tests.selfwatch.selfwatch_kit import Hit, NotifySocket, Receiver, start_monitor, stop_monitor, until

SECRET = "tok-5e3d1c2b9a-never-logged"
CONFIG = """
monitor: {{database: "sqlite:///{db}", write_interval: 100ms}}
evaluation: {{sweep_interval: 200ms, persist_interval: 1s}}
incidents: {{resolve_after: 1s}}
components:
  - {{id: api, name: API}}
checks:
  - name: api
    kind: http
    url: "{target}/health"
    headers: {{Authorization: "Bearer ${{API_TOKEN}}"}}
    conditions: ["[BODY] == healthy"]
    component: api
    interval: 1s
    timeout: 500ms
    failure_threshold: 2
    success_threshold: 1
channels:
  - {{name: oncall, urls: ["json://{hook}/hook"], audience: oncall}}
notifications: {{poll_interval: 200ms}}
status_page: {{enabled: false}}
"""


class Target(Receiver):
    """The platform stand-in: healthy, or failing with the caller's token echoed back."""

    healthy: bool = True

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(request.method, request.path, b"", time.monotonic()))
        if self.healthy:
            return web.Response(text="healthy")
        return web.Response(status=503, text=f"token {request.headers['Authorization'][7:]} rejected")


@pytest.fixture
async def world(tmp_path: Path, http_server: Any) -> tuple[Path, Target, Receiver]:
    target, hook = Target(), Receiver()
    target.base = str(await http_server(target.app()))
    hook.base = str(await http_server(hook.app()))
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "iw.db", target=target.base, hook=hook.base.removeprefix("http://")),
                      encoding="utf-8")
    return config, target, hook


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def resolved_told(log: Path) -> bool:
    return any(e["event"] == "message.delivered" and "incident.resolved" in e["fields"]["events"] for e in json_lines(log))


def events(log: Path) -> list[str]:
    return [e["event"] for e in json_lines(log) if e["event"]]


@pytest.mark.slow
async def test_an_outage_reads_as_one_json_line_per_event(world: tuple[Path, Target, Receiver], tmp_path: Path) -> None:
    config, target, hook = world
    log = tmp_path / "monitor.log"
    proc = await start_monitor(config, log, "--log-format", "json", env={"API_TOKEN": SECRET})
    try:
        await until(lambda: target.hits, 30, "the first probe")
        target.healthy = False
        await until(lambda: "message.delivered" in events(log), 30, "the on-call message delivered")
        target.healthy = True
        await until(lambda: "incident.resolved" in events(log), 30, "the incident resolved")
        await until(lambda: resolved_told(log), 30, "the resolved message delivered")
        proc.send_signal(signal.SIGHUP)
        await until(lambda: "config.reloaded" in events(log), 30, "the reload logged")
    finally:
        code = await stop_monitor(proc)
    assert code == 0
    text = log.read_text(encoding="utf-8")
    lines = json_lines(log)  # every line is one JSON object
    for line in lines:
        assert {"ts", "level", "logger", "event", "message", "fields"} <= set(line), line
        assert line["ts"].endswith("Z") and line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR")
    # (the first result, unknown -> up, is logged at DEBUG: a thousand checks starting are not news)
    seen = [e for e in events(log) if e.startswith(("check.", "incident.", "message.", "config."))]
    assert [e for e in seen if not e.startswith("message.")] == [
        "check.down", "incident.opened", "check.up", "incident.updated", "incident.resolved", "config.reloaded",
    ], seen
    assert seen.index("message.delivered") > seen.index("incident.opened")
    told = [ev for e in lines if e["event"] == "message.delivered" for ev in e["fields"]["events"]]
    assert told[0] == "incident.opened" and told[-1] == "incident.resolved", told
    assert "message.failed" not in seen and seen.count("message.delivered") == len(hook.hits)
    down = next(e for e in lines if e["event"] == "check.down")
    assert down["fields"]["check"] == "api" and down["fields"]["component"] == "api"
    assert "token *** rejected" in down["message"]  # the echoed token, masked
    opened = next(e for e in lines if e["event"] == "incident.opened")
    assert opened["level"] == "WARNING" and opened["fields"]["component"] == "api"
    delivered = next(e for e in lines if e["event"] == "message.delivered")
    assert delivered["fields"]["channel"] == "oncall" and delivered["fields"]["events"] == ["incident.opened"]
    assert SECRET not in text
    assert "Notifying" not in text and "Traceback" not in text
    assert lines[-1]["event"] == "monitor.stopped" and lines[-1]["message"].startswith("stopped in "), lines[-1]


@pytest.mark.slow
async def test_a_real_process_talks_to_systemd_and_logs_text(
    world: tuple[Path, Target, Receiver], tmp_path: Path
) -> None:
    config, target, _hook = world
    log = tmp_path / "monitor.log"
    notify = NotifySocket(str(tmp_path / "notify.sock"))
    try:
        proc = await start_monitor(config, log, env={
            "API_TOKEN": SECRET, "NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000",
        })
        try:
            await notify.wait_line("READY=1")
            await until(lambda: target.hits, 30, "the first probe")
            await notify.wait_line("WATCHDOG=1", count=2)
            proc.send_signal(signal.SIGHUP)
            await notify.wait_line("RELOADING=1")
            await notify.wait_line("READY=1", count=2)
        finally:
            code = await stop_monitor(proc)
        assert code == 0
        states = [line for line in notify.lines() if not line.startswith(("STATUS=", "MONOTONIC_USEC="))]
        assert states[0] == "READY=1" and states[-1] == "STOPPING=1"
        assert states.index("RELOADING=1") < len(states) - 1 - states[::-1].index("READY=1")
    finally:
        notify.close()
    text = log.read_text(encoding="utf-8")
    assert "systemd watchdog: pinging every 0.5s while probing and writing progress" in text
    assert " INFO monitor.runtime: config reloaded: 1 checks" in text
    assert "Traceback" not in text and SECRET not in text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {n: logging.getLogger(n).level for n in (*logs.QUIET_BELOW_WARNING, "apprise")}
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_are_masked_in_message_fields_and_traceback(fmt: str) -> None:
    out = io.StringIO()
    logs.configure("INFO", Redactor([SECRET]), fmt, stream=out)
    log = logging.getLogger("monitor.test")
    log.info("login with %s", SECRET, extra={"event": "check.down", "fields": {"token": SECRET, "n": 1}})
    try:
        raise RuntimeError(f"platform said {SECRET}")
    except RuntimeError:
        log.exception("probe crashed")
    text = out.getvalue()
    assert SECRET not in text
    assert text.count("***") == (3 if fmt == "json" else 2)  # message, traceback (and the field)
    lines = text.splitlines()
    if fmt == "json":
        first = json.loads(lines[0])
        assert first["event"] == "check.down" and first["fields"] == {"token": "***", "n": 1}
        assert first["message"] == "login with ***" and first["logger"] == "monitor.test"
        crash = json.loads(lines[1])
        assert crash["event"] is None and "RuntimeError: platform said ***" in crash["exc"]
        assert len(lines) == 2  # the traceback is inside the object, not on lines of its own
    else:
        assert lines[0].endswith(" INFO monitor.test: login with ***")


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(("level", "shown"), [("INFO", ["boom"]), ("DEBUG", ["Notifying 1 service(s).", "careful", "boom"])])
def test_apprise_chatter_is_below_info(level: str, shown: list[str]) -> None:
    out = io.StringIO()
    logs.configure(level, None, "json", stream=out)
    apprise_log = logging.getLogger("apprise")
    apprise_log.info("Notifying 1 service(s).")
    apprise_log.warning("careful")
    apprise_log.error("boom")
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == shown


@pytest.mark.usefixtures("restore_logging")
def test_apprise_still_records_warnings_when_we_log_only_errors() -> None:
    """Apprise collects a delivery's error text through its logger: ERROR-only logging must not
    disable it (the error shown for a failed delivery would degrade to 'FAILURE')."""
    logs.configure("ERROR", None, "text", stream=io.StringIO())
    assert logging.getLogger("apprise").isEnabledFor(logging.WARNING)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format must be one of text, json"):
        logs.configure("INFO", None, "yaml")
