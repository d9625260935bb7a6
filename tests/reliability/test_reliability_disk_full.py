"""A full disk while an outage begins: detection and paging go on, nothing is said twice.

The database lives on a real 8 MiB tmpfs (tests/reliability/disk_kit.py) that the test fills
to the last byte: every write the deciding tick tries is refused with SQLITE_FULL. The
deciding service is driven by hand on a FakeClock, so "within the normal detection time"
is exact: the opened message reaches the webhook receiver in the very tick that confirms the
outage, the tick that would have stored it had the disk had room.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from monitor.config import Config, load_config
from monitor.core.clock import FakeClock
from monitor.core.results import Result, Status
from monitor.store.incidents import INCIDENTS, UPDATES
from monitor.store.outbox import OUTBOX
from notifiers.dispatcher import Dispatcher
from tests.notifiers.notify_helpers import JsonSink
from tests.reliability.disk_kit import SmallDisk

CONFIG = """
monitor: {{database: "sqlite:///{db}", location: local, timezone: Asia/Shanghai, language: en}}
incidents: {{resolve_after: 1m}}
notifications: {{retry_initial: 1s}}
channels:
  - {{name: oncall, urls: ["{hook}"]}}
components:
  - {{id: api, name: API}}
checks:
  - {{name: api, kind: tcp, host: 127.0.0.1, port: 9, component: api, interval: 10s, timeout: 2s, retry_interval: 5s}}
"""


def write(tmp_path: Path, disk: SmallDisk, sink: JsonSink) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(db=disk.path / "iw.db", hook=sink.url("oncall")), encoding="utf-8")
    return load_config(path)


async def feed(r: Any, clock: FakeClock, status: str, n: int = 1, every: float = 5.0) -> list[Any]:
    """n results, each followed by a deciding tick; the tick outcomes."""
    spec = r.monitor.config.check("api")
    outs = []
    for _ in range(n):
        await r.svc.on_result(spec, Result("api", Status(status), clock.now(), 3.0, f"api {status}", location="local"))
        outs.append(await r.svc.tick())
        clock.advance(every)
    return outs


def rows(r: Any, table: sa.Table, *where: Any) -> list[Any]:
    with r.store.engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where).order_by(table.c.id)))


def opened(sink: JsonSink) -> list[Any]:
    return [m for m in sink.at("oncall") if m.key.endswith(":opened")]


async def deliver(r: Any, config: Config, clock: FakeClock) -> None:
    d = Dispatcher(r.store, config, clock=clock)
    try:
        await d.run_due()
    finally:
        await d.close()


async def test_outage_on_a_full_disk_is_paged_at_once_and_stored_once_the_disk_frees(
    tmp_path: Path, small_disk: SmallDisk, clock: FakeClock, boot: Any, json_sink: JsonSink
) -> None:
    config = write(tmp_path, small_disk, json_sink)
    r = await boot(config, clock)
    await feed(r, clock, "up", 2)
    filled = small_disk.fill()
    assert filled > 0 and small_disk.free_bytes() == 0

    first_failure = clock.now()
    outs = await feed(r, clock, "down", 2)
    assert json_sink.at("oncall") == [] and outs[-1].unstored == 0  # not confirmed yet: nothing to say
    detected = clock.now()
    [out] = await feed(r, clock, "down")
    # The tick that confirms the outage could not store it, and paged anyway.
    assert out.unstored == 1 and out.incidents == set()
    [msg] = opened(json_sink)
    assert msg.key == f"incident:new:api:{detected.isoformat()}:opened"
    assert "[DOWN" in msg.payload["title"] and "Not stored yet" in msg.payload["message"]
    assert rows(r, INCIDENTS) == []  # the disk really refused it

    outs = await feed(r, clock, "down", 6)  # 30 s more of outage on the full disk
    assert len(opened(json_sink)) == 1 and all(o.unstored == 1 for o in outs)

    small_disk.free()
    clock.advance(60)
    [out] = await feed(r, clock, "down")
    [inc] = rows(r, INCIDENTS)
    assert (inc.detected_at, inc.started_at) == (detected, first_failure)
    assert out.incidents == {inc.id} and inc.status == "investigating"
    [entry] = rows(r, UPDATES, UPDATES.c.incident_id == inc.id)
    assert entry.at == detected and entry.data["action"] == "opened"
    [row] = rows(r, OUTBOX)
    assert (row.key, row.status, row.incident_id) == (msg.key, "sent", inc.id)
    assert r.svc.unstored.journal.entries == []

    await deliver(r, config, clock)
    assert len(opened(json_sink)) == 1  # stored as sent: the dispatcher did not send it again

    await feed(r, clock, "up", 2)
    clock.advance(61)
    await feed(r, clock, "up")
    await deliver(r, config, clock)
    keys = [m.key for m in json_sink.at("oncall")]
    assert keys.count(msg.key) == 1 and keys.count(f"incident:{inc.id}:resolved") == 1
    [inc] = rows(r, INCIDENTS)
    assert inc.resolved_at is not None and inc.detected_at == detected


async def test_a_restart_on_the_full_disk_does_not_page_twice(
    tmp_path: Path, small_disk: SmallDisk, clock: FakeClock, boot: Any, json_sink: JsonSink
) -> None:
    config = write(tmp_path, small_disk, json_sink)
    r = await boot(config, clock)
    await feed(r, clock, "up", 2)
    small_disk.fill()
    first_failure = clock.now()
    await feed(r, clock, "down", 2)
    detected = clock.now()
    await feed(r, clock, "down")
    [msg] = opened(json_sink)
    await r.close()  # the process goes away with the decision unstored; the journal stays

    again = await boot(load_config(config.file), clock)
    await feed(again, clock, "down", 4)  # confirmed again after the restart, still on the full disk
    assert len(opened(json_sink)) == 1
    small_disk.free()
    await feed(again, clock, "down")
    [inc] = rows(again, INCIDENTS)
    assert (inc.detected_at, inc.started_at) == (detected, first_failure)
    [row] = rows(again, OUTBOX)
    assert (row.key, row.status) == (msg.key, "sent")
    await deliver(again, config, clock)
    assert len(opened(json_sink)) == 1


async def test_an_outage_that_ends_before_the_disk_frees_is_stored_whole(
    tmp_path: Path, small_disk: SmallDisk, clock: FakeClock, boot: Any, json_sink: JsonSink
) -> None:
    config = write(tmp_path, small_disk, json_sink)
    r = await boot(config, clock)
    await feed(r, clock, "up", 2)
    small_disk.fill()
    await feed(r, clock, "down", 2)
    detected = clock.now()
    await feed(r, clock, "down")
    await feed(r, clock, "up", 2)
    clock.advance(timedelta(minutes=2))
    await feed(r, clock, "up")  # recovered and quiet for resolve_after: resolved, on the full disk
    keys = [m.key for m in json_sink.at("oncall")]
    base = f"incident:new:api:{detected.isoformat()}"
    assert keys[0] == f"{base}:opened" and keys[1].startswith(f"{base}:update:recovered:") and keys[2] == f"{base}:resolved"
    assert "is working again" in json_sink.at("oncall")[2].payload["message"]

    small_disk.free()
    await feed(r, clock, "up")
    [inc] = rows(r, INCIDENTS)
    assert inc.detected_at == detected and inc.resolved_at is not None and inc.resolved_at < clock.now()
    actions = [e.data["action"] for e in rows(r, UPDATES, UPDATES.c.incident_id == inc.id)]
    assert actions == ["opened", "recovered", "resolved"]
    assert sorted((o.key, o.status) for o in rows(r, OUTBOX)) == sorted((k, "sent") for k in keys)
    await deliver(r, config, clock)
    assert len(json_sink.at("oncall")) == 3
