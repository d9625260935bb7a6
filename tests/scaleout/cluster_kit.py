"""A small cluster of real invoicewatch processes on one PostgreSQL schema: probe nodes at two
locations, controllers, a platform that fails per probing location, webhook receivers, and
reads of the shared database (what each test asserts on)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from tests.notifiers.notify_helpers import JsonSink
from tests.selfwatch.selfwatch_kit import start_monitor, stop_monitor, until

LEASE = 3  # seconds; the takeover bound the tests assert is 15 s


def epoch(entry: dict[str, Any]) -> float:
    """The wall-clock time of a JSON log line (its `ts`)."""
    return datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00")).timestamp()


@dataclass
class Platform:
    """The platform stand-in: /health?from=LOCATION answers 503 for the locations in
    `failing` (as if the platform were unreachable from there), 200 otherwise."""

    failing: set[str] = field(default_factory=set)
    base: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        if request.query.get("from", "") in self.failing:
            return web.Response(status=503, text="unavailable")
        return web.Response(text="ok")


def config_text(db_url: str, platform: str, sink: JsonSink, *, node: str, location: str) -> str:
    return f"""
monitor:
  database: "{db_url}"
  node: {node}
  location: {location}
  lease: {LEASE}s
  node_silent_after: 5s
  write_interval: 200ms
evaluation: {{sweep_interval: 500ms, persist_interval: 1s}}
incidents: {{resolve_after: 1s, open_on_degraded: false}}
notifications: {{poll_interval: 500ms}}
announcements: {{enabled: false}}
status_page: {{port: 0}}
components:
  - {{id: api, name: API}}
checks:
  - {{name: api, kind: http, url: "{platform}/health?from={location}", component: api, interval: 1s, timeout: 800ms,
     failure_threshold: 2, success_threshold: 2, retry_interval: 500ms, locations: [bj, sh]}}
channels:
  - {{name: oncall, urls: ["{sink.url('a')}", "{sink.url('b')}"], language: en}}
"""


@dataclass
class Node:
    name: str
    role: str
    dir: Path
    proc: asyncio.subprocess.Process | None = None

    @property
    def log(self) -> Path:
        return self.dir / "node.log"

    def events(self, event: str) -> list[dict[str, Any]]:
        """The JSON log lines of one event (`leadership.won`, ...), in order."""
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("event") == event:
                out.append(entry)
        return out


class Cluster:
    def __init__(self, tmp: Path, db_url: str, platform: str, sink: JsonSink) -> None:
        self.tmp, self.db_url, self.platform, self.sink = tmp, db_url, platform, sink
        self.nodes: dict[str, Node] = {}
        self.engine = sa.create_engine(db_url, poolclass=sa.NullPool)

    async def start(self, name: str, role: str, location: str) -> Node:
        node = Node(name, role, self.tmp / name)
        node.dir.mkdir(exist_ok=True)
        config = node.dir / "config.yaml"
        config.write_text(config_text(self.db_url, self.platform, self.sink, node=name, location=location),
                          encoding="utf-8")
        node.proc = await start_monitor(config, node.log, "--role", role, "--log-format", "json")
        self.nodes[name] = node
        return node

    async def bring_up(self) -> None:
        """Probe nodes at bj and sh, controller c1 leading (term 1), c2 standing by, the
        platform seen up from both locations."""
        await self.start("p-bj", "probe", "bj")
        await self.start("p-sh", "probe", "sh")
        await self.start("c1", "controller", "dc")
        await until(lambda: self.leader() == (1, "c1"), 120, "c1 to lead")
        await self.start("c2", "controller", "dc")
        await until(lambda: self.standing_by("c2"), 120, "c2 standing by")
        await until(lambda: self.query("SELECT 1 FROM component_status WHERE status = 'operational'"), 120,
                    "both locations up")

    def cut(self, name: str) -> int:
        """Terminate every database connection of a node (pool, leadership, LISTEN), as a
        network split or a server restart would; how many there were."""
        return len(self.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name LIKE :n", n=f"invoicewatch {name}%"))

    @staticmethod
    def time() -> float:
        return time.time()

    @staticmethod
    def as_stored(epoch_seconds: float) -> datetime:
        """A wall-clock time as the store keeps it (naive UTC)."""
        return datetime.fromtimestamp(epoch_seconds, UTC).replace(tzinfo=None)

    def kill(self, name: str) -> float:
        """SIGKILL a node; the wall-clock time it was killed."""
        proc = self.nodes[name].proc
        assert proc is not None
        proc.kill()
        return time.time()

    async def stop_all(self) -> list[str]:
        """SIGTERM every node still running; the names of those that did not exit 0 or left
        a traceback in their log."""
        bad = []
        for node in self.nodes.values():
            code, began = 0, time.monotonic()
            if node.proc is not None and node.proc.returncode is None:
                code = await stop_monitor(node.proc)
            elif node.proc is not None:
                await node.proc.wait()
            text = node.log.read_text(encoding="utf-8", errors="replace")
            if code != 0:
                bad.append(f"{node.name} (exit {code} after {time.monotonic() - began:.1f} s; "
                           f"its log ends: {' | '.join(text.splitlines()[-6:])})")
            if "Traceback" in text:
                bad.append(f"{node.name} (a traceback in {node.log})")
        self.engine.dispose()
        return bad

    def query(self, sql: str, **params: Any) -> list[Any]:
        """Rows of one statement on the shared schema ([] while the tables do not exist yet)."""
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        except sa.exc.ProgrammingError:
            return []

    def leader(self) -> tuple[int, str] | None:
        rows = self.query("SELECT term, holder FROM controller_lease")
        return (int(rows[0][0]), str(rows[0][1]).split(" ")[0]) if rows else None

    def standing_by(self, name: str) -> bool:
        """A controller up and competing (its row registered, its leadership connection open)."""
        return bool(self.query("SELECT 1 FROM pg_stat_activity WHERE application_name = :n",
                               n=f"invoicewatch {name} leadership"))

    def location_health(self, location: str) -> str | None:
        """The deciding leader's saved verdict for the `api` check at one location."""
        rows = self.query("SELECT data FROM check_state WHERE \"check\" = 'api' AND data IS NOT NULL")
        for (data,) in rows:
            loc = (data or {}).get("locations", {}).get(location)
            if loc:
                return str(loc.get("health"))
        return None

    def keys_at(self, path: str) -> list[str]:
        return [r.key for r in self.sink.at(path)]

    def assert_each_target_got_once(self, *keys: str) -> None:
        """Every webhook target received each of `keys`, and nothing at all twice."""
        for target in ("a", "b"):
            got = Counter(self.keys_at(target))
            assert all(got[k] == 1 for k in keys), (target, got)
            assert max(got.values()) == 1, f"something reached {target} twice: {got}"

    def outbox_settled(self) -> bool:
        """Every message sent, none claimed or waiting: nothing more will arrive."""
        return not self.query("SELECT 1 FROM outbox WHERE status <> 'sent' OR claimed_by IS NOT NULL") \
            and bool(self.query("SELECT 1 FROM outbox"))
