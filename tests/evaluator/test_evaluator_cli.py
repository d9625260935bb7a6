"""The CLI of deciding: incidents, show, ack, update, maintenance, silence — over a real SQLite file."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

from click.testing import CliRunner
from sqlmodel import select

from monitor.cli import cli
from monitor.core.clock import FakeClock
from monitor.core.results import Result, Status
from monitor.store.incidents import Incident
from monitor.store.maintenance import MaintenanceWindow, Silence
from monitor.store.outbox import OutboxRow
from tests.evaluator.deciding_kit import write_config

ENV = {"API_TOKEN": "tok-secret-123456"}


def invoke(config: Any, *args: str) -> Any:
    return CliRunner(env=ENV).invoke(cli, ["-c", config.file, *args], catch_exceptions=False)


async def outage(r: Any, clock: FakeClock) -> int:
    spec = r.monitor.config.check("api")
    for status in ["up", "down", "down", "down"]:
        await r.svc.on_result(spec, Result("api", Status(status), clock.now(), 5.0, "connect refused", location="local"))
        await r.svc.tick()
        clock.advance(5)
    with r.store.session() as s:
        return s.exec(select(Incident.id)).one()


async def test_incidents_list_show_ack_and_update(tmp_path, sqlite_url, boot) -> None:
    clock = FakeClock(datetime.now(UTC))
    config = write_config(tmp_path, sqlite_url)
    r = await boot(config, clock)
    iid = await outage(r, clock)
    me = getpass.getuser()

    out = invoke(config, "incidents")
    assert out.exit_code == 0 and "接口服务中断" in out.output and "investigating" in out.output

    out = invoke(config, "ack", str(iid))
    assert out.exit_code == 0 and f"acknowledged by {me}" in out.output
    assert "already acknowledged" in invoke(config, "ack", str(iid)).output

    out = invoke(config, "incident", "update", str(iid), "--status", "identified", "-m", "certificate expired at the platform")
    assert out.exit_code == 0, out.output

    out = invoke(config, "incidents", "show", str(iid))
    assert out.exit_code == 0
    text = out.output
    assert "time to detect 10s" in text and "acked:" in text and "identified" in text
    assert f"manual {me:<10} [identified] certificate expired at the platform" in text
    assert "auto   -          [investigating] api down: connect refused" in text

    doc = json.loads(invoke(config, "incidents", "show", str(iid), "--json").output)
    assert doc["acked_by"] == me and doc["timeline"][-1]["author"] == me
    assert json.loads(invoke(config, "incidents", "--json").output)["incidents"][0]["id"] == iid

    with r.store.session() as s:
        keys = [o.key for o in s.exec(select(OutboxRow))]
    assert f"incident:{iid}:acked" in keys and any(k.startswith(f"incident:{iid}:update:") for k in keys)

    bad = CliRunner(env=ENV).invoke(cli, ["-c", config.file, "ack", "999"])
    assert bad.exit_code == 2 and "no incident 999" in bad.output


async def test_maintenance_add_list_end(tmp_path, sqlite_url) -> None:
    config = write_config(tmp_path, sqlite_url)
    me = getpass.getuser()
    out = invoke(config, "maintenance", "add", "--title", "接口升级", "--component", "api", "--for", "2h")
    assert out.exit_code == 0 and f"added by {me}" in out.output
    out = invoke(config, "maintenance", "add", "--title", "weekly", "--cron", "0 2 * * 0", "--duration", "1h")
    assert out.exit_code == 0, out.output
    listing = invoke(config, "maintenance", "list").output
    assert "now" in listing and "接口升级" in listing and "planned" in listing and "recurring" in listing
    docs = json.loads(invoke(config, "maintenance", "list", "--json").output)["windows"]
    assert {d["when"] for d in docs} == {"now", "planned"}
    first = next(d["window_id"] for d in docs if d["when"] == "now")
    assert invoke(config, "maintenance", "end", str(first)).exit_code == 0
    assert "接口升级" not in invoke(config, "maintenance", "list").output
    bad = CliRunner(env=ENV).invoke(cli, ["-c", config.file, "maintenance", "add", "--title", "x", "--component", "nope", "--for", "1h"])
    assert bad.exit_code == 2 and "unknown component 'nope'" in bad.output
    from monitor.store import Store

    store = Store(sqlite_url)
    with store.session() as s:
        rows = list(s.exec(select(MaintenanceWindow).order_by(MaintenanceWindow.id)))
        keys = [o.key for o in s.exec(select(OutboxRow))]
    store.close()
    assert [r.created_by for r in rows] == [me, me] and rows[0].ended_at is not None
    assert sum(k.endswith(":scheduled") for k in keys) == 1, "the weekly window is announced ahead"


async def test_silence_holds_the_alert_but_the_incident_opens(tmp_path, sqlite_url, boot) -> None:
    clock = FakeClock(datetime.now(UTC))
    config = write_config(tmp_path, sqlite_url)
    out = invoke(config, "silence", "api", "--for", "2h", "--reason", "vendor maintenance call")
    assert out.exit_code == 0 and "alerts for check api held" in out.output
    assert "vendor maintenance call" in invoke(config, "silences").output
    r = await boot(config, clock)
    iid = await outage(r, clock)
    with r.store.session() as s:
        assert s.get(Incident, iid).status == "investigating"
        assert list(s.exec(select(OutboxRow))) == []
        sid = s.exec(select(Silence.id)).one()
    assert invoke(config, "unsilence", str(sid)).exit_code == 0
    await r.svc.tick()
    with r.store.session() as s:
        assert [o.key for o in s.exec(select(OutboxRow))] == [f"incident:{iid}:opened"]
    bad = CliRunner(env=ENV).invoke(cli, ["-c", config.file, "silence", "apj", "--for", "1h", "--reason", "x"])
    assert bad.exit_code == 2 and "did you mean 'api'" in bad.output
