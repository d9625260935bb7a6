"""The real monitor process on a real full disk: on-call is paged while the disk is full,
the incident is stored with its real times once it frees, nobody hears it twice, and the
process stays healthy (a control check keeps its schedule, RSS stays bounded, no traceback).
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.foundation.test_foundation_config_reload import rss_kib
from tests.notifiers.notify_helpers import JsonSink
from tests.reliability.disk_kit import SmallDisk
from tests.selfwatch.selfwatch_kit import start_monitor, stop_monitor, until

INTERVAL = 4  # seconds between runs of both checks
CONFIG = """
monitor: {{database: "sqlite:///{db}", write_interval: 500ms, language: en}}
evaluation: {{sweep_interval: 500ms}}
incidents: {{resolve_after: 2s}}
notifications: {{poll_interval: 500ms}}
status_page: {{port: 0, output_dir: "{out}"}}
channels:
  - {{name: oncall, urls: ["{hook}"]}}
components:
  - {{id: api, name: API}}
  - {{id: control, name: Control}}
checks:
  - {{name: api, kind: http, url: "{base}/api", component: api, interval: {interval}s, timeout: 3s,
     retry_interval: 1s, failure_threshold: 2, success_threshold: 1}}
  - {{name: control, kind: http, url: "{base}/control", component: control, interval: {interval}s, timeout: 3s}}
"""


class Platform:
    """The probed service: /api can be broken, /control always answers; hits are counted."""

    def __init__(self) -> None:
        self.broken = False
        self.control_hits: list[float] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api", self.api)
        app.router.add_get("/control", self.control)
        return app

    async def api(self, _request: web.Request) -> web.Response:
        return web.Response(status=500 if self.broken else 200, text="broken" if self.broken else "ok")

    async def control(self, _request: web.Request) -> web.Response:
        self.control_hits.append(time.monotonic())
        return web.Response(text="ok")


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return list(conn.execute(sql))
    except sqlite3.OperationalError:
        return []


def when(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def test_monitor_on_a_full_disk_pages_stores_later_and_stays_healthy(
    tmp_path: Path, small_disk: SmallDisk, http_server: Any, json_sink: JsonSink
) -> None:
    platform = Platform()
    base = await http_server(platform.app())
    db = small_disk.path / "iw.db"
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(db=db, out=tmp_path / "status", hook=json_sink.url("oncall"), base=base,
                                    interval=INTERVAL), encoding="utf-8")
    log = tmp_path / "monitor.log"
    proc = await start_monitor(config, log, "--log-level", "INFO")
    try:
        await until(lambda: query(db, "select 1 from check_result where \"check\"='control'"), 60, "first results")
        filled = small_disk.fill()
        await until(lambda: "will retry" in log.read_text(errors="replace"), 30, "the writer to see the full disk")
        hits_before = len(platform.control_hits)
        full_at = time.monotonic()
        broke_at, broke_wall = time.monotonic(), datetime.now(UTC)
        platform.broken = True
        await until(lambda: [m for m in json_sink.at("oncall") if m.key.endswith(":opened")], 60, "the opened page")
        paged_after = time.monotonic() - broke_at
        # Normal detection: the next run (within one interval), a fast re-check, the deciding tick.
        assert paged_after < INTERVAL + 1 + 10, paged_after
        [opened] = [m for m in json_sink.at("oncall") if m.key.endswith(":opened")]
        assert opened.key.startswith("incident:new:api:")
        assert query(db, "select count(*) from incident") in ([(0,)], [])
        await until(lambda: time.monotonic() - full_at >= 3 * INTERVAL, 60, "three intervals on the full disk")
        full_for = time.monotonic() - full_at
        runs = len(platform.control_hits) - hits_before
        assert runs >= int(full_for / INTERVAL) - 1, (runs, full_for)  # the control check kept its schedule

        small_disk.free()
        rows = await until(lambda: query(db, "select id, detected_at, started_at from incident"), 60, "the stored incident")
        [(iid, detected_at, started_at)] = rows
        assert broke_wall <= when(started_at) <= when(detected_at)
        assert (when(detected_at) - broke_wall).total_seconds() < paged_after + 1
        [(key, status)] = query(db, f"select key, status from outbox where incident_id={iid} and event='incident.opened'")
        assert (key, status) == (opened.key, "sent")
        # Results written late, with their own times: the control check has no gap on the full disk.
        def control_stamps() -> list[datetime]:
            return [when(t) for (t,) in query(db, "select ts from check_result where \"check\"='control' order by ts")]

        runs_so_far = len(platform.control_hits)
        stamps = await until(lambda: len(s := control_stamps()) >= runs_so_far - 1 and s, 60, "the buffered results")
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
        assert max(gaps) < 2.5 * INTERVAL, gaps

        platform.broken = False
        await until(lambda: [m for m in json_sink.at("oncall") if m.key == f"incident:{iid}:resolved"], 60, "resolved")
        keys = [m.key for m in json_sink.at("oncall")]
        assert keys.count(opened.key) == 1 and keys.count(f"incident:{iid}:resolved") == 1
        rss = rss_kib(proc.pid)
        print(f"full disk: filled {filled} B; paged after {paged_after:.1f} s; {runs} control runs in {full_for:.0f} s; "
              f"largest control gap {max(gaps):.1f} s; messages {len(keys)}; opened {keys.count(opened.key)}; RSS {rss} KiB")
        assert rss < 400 * 1024
        assert proc.returncode is None
    finally:
        code = await stop_monitor(proc)
    text = log.read_text(errors="replace")
    assert code == 0 and "Traceback" not in text, text[-3000:]
