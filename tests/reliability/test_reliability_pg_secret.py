"""A PostgreSQL password in `monitor.database` is a secret like any other: a real monitor
process runs an outage on a real PostgreSQL role that has that password, and the password
appears nowhere people or machines read: the log, every table, the alerts, the page,
/metrics, /healthz."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from aiohttp import web

from tests.conftest import PG_BASE
from tests.notifiers.notify_helpers import JsonSink
from tests.selfwatch.selfwatch_kit import start_monitor, stop_monitor, until

CANARY = "Canary-PW-" + uuid.uuid4().hex[:12]


async def test_database_password_never_leaves_the_process(
    tmp_path: Path, pg_url: str, http_server: Any, json_sink: JsonSink
) -> None:
    role = f"iw_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    schema = pg_url.rsplit("search_path%3D", 1)[1]
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{CANARY}'"))
        conn.execute(sa.text(f'GRANT ALL ON SCHEMA "{schema}" TO {role}'))
    url = sa.engine.make_url(pg_url).set(username=role, password=CANARY)
    broken = {"on": False}

    async def target(_r: web.Request) -> web.Response:
        return web.Response(status=500 if broken["on"] else 200, text="x")

    app = web.Application()
    app.router.add_get("/", target)
    base = await http_server(app)
    config = tmp_path / "config.yaml"
    config.write_text(f"""
monitor: {{database: "${{IW_DB}}", write_interval: 500ms}}
evaluation: {{sweep_interval: 500ms}}
notifications: {{poll_interval: 500ms}}
status_page: {{port: 0, output_dir: "{tmp_path / 'site'}"}}
channels:
  - {{name: oncall, urls: ["{json_sink.url('oncall')}"]}}
components:
  - {{id: api, name: API}}
checks:
  - {{name: api, kind: http, url: "{base}/", component: api, interval: 2s, timeout: 1s, retry_interval: 1s, failure_threshold: 2}}
""", encoding="utf-8")
    log = tmp_path / "monitor.log"
    proc = await start_monitor(config, log, "--log-level", "DEBUG",
                               env={"IW_DB": url.render_as_string(hide_password=False)})
    try:
        broken["on"] = True
        await until(lambda: json_sink.at("oncall"), 60, "the opened message")
        line = await until(lambda: re.search(r"status page at http://127.0.0.1:(\d+)/", log.read_text(errors="replace")),
                           30, "the server's address")
        served = ""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{line.group(1)}") as client:
            for path in ("/metrics", "/healthz", "/", "/nosuch", "/internal/"):
                served += (await client.get(path)).text
        assert "invoicewatch_" in served
    finally:
        await stop_monitor(proc)
    engine = sa.create_engine(pg_url)
    dump = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            dump += [repr(tuple(r)) for r in conn.execute(sa.text(f'SELECT * FROM "{table}"'))]
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'REVOKE ALL ON SCHEMA "{schema}" FROM {role}'))
        conn.execute(sa.text(f'DROP OWNED BY {role}'))
        conn.execute(sa.text(f"DROP ROLE {role}"))
    admin.dispose()
    pages = "".join(p.read_text(errors="replace") for p in (tmp_path / "site").rglob("*") if p.is_file())
    messages = "".join(str(m.payload) for m in json_sink.received)
    places = {"log": log.read_text(errors="replace"), "database": "\n".join(dump), "alerts": messages,
              "page files": pages, "served": served}
    assert dump and messages and pages
    assert {where for where, text in places.items() if CANARY in text} == set()
