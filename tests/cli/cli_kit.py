"""What the command-line tests share: running a command through click's runner or as a real
process under a pseudo terminal of a given width, reading its screen, checking its JSON
against the schema shipped in monitor/cli/schemas, and a store seeded the way a running
monitor leaves it."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner
from click.testing import Result as CliResult

from monitor.cli import cli
from monitor.cli.output import schema
from monitor.core.results import Result, Status
from monitor.store import Store
from monitor.store import incidents as incident_rows
from monitor.store import maintenance as hold_rows
from monitor.store import results as result_rows
from monitor.store.incidents import Incident
from monitor.store.maintenance import Silence

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def invoke(*args: str, env: dict[str, str] | None = None, columns: int | None = 80, cwd: Path | None = None) -> CliResult:
    """A command through click's runner (not a terminal: no colour), COLUMNS wide."""
    full = {"INVOICEWATCH_CONFIG": "", "NO_COLOR": "", **({"COLUMNS": str(columns)} if columns else {}), **(env or {})}
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), env=full, catch_exceptions=False)
    finally:
        os.chdir(old)


@dataclass
class Screen:
    code: int
    raw: str  # as written, escapes included (newlines as \n)

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw)

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.text.split("\n")]

    @property
    def coloured(self) -> bool:
        return bool(COLOUR.search(self.raw))


def interruptible() -> None:
    """Popen's preexec_fn for a child the test stops with Ctrl-C (SIGINT): a suite started in
    the background by a non-interactive shell inherits SIGINT ignored, and so would the child
    (Python then installs no KeyboardInterrupt), so the child gets the default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_pty(*args: str, columns: int, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60,
            interrupt_when: Callable[[str], bool] | None = None) -> Screen:
    """`python -m monitor ARGS` as a real process on a pseudo terminal COLUMNS wide (set with
    TIOCSWINSZ, no COLUMNS variable), read to its end (bounded by `timeout`). With
    `interrupt_when`, Ctrl-C (SIGINT) is sent once the output so far satisfies it."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    full = {**base, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT), "INVOICEWATCH_CONFIG": "", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=cwd, env=full, close_fds=True, start_new_session=True,
                            preexec_fn=interruptible if interrupt_when else None)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    interrupted = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other end is closed
                    break
                if not chunk:
                    break
                out += chunk
                if interrupt_when and not interrupted and interrupt_when(out.decode("utf-8", "replace")):
                    proc.send_signal(signal.SIGINT)
                    interrupted = True
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)
    return Screen(code, out.decode("utf-8", "replace").replace("\r\n", "\n"))


def valid(output: str, name: str) -> Any:
    """The --json document, validated against monitor/cli/schemas/NAME.json."""
    doc = json.loads(output)
    jsonschema.Draft202012Validator.check_schema(schema(name))
    jsonschema.Draft202012Validator(schema(name)).validate(doc)
    return doc


def words_whole(lines: Iterable[str], texts: Iterable[str]) -> list[str]:
    """Latin words (and numbers) of `texts` that no line holds whole: a word wrapped mid-word."""
    joined = list(lines)
    out = []
    for text in texts:
        for word in re.findall(r"[A-Za-z0-9_.:/()-]{2,}", text):
            if not any(word in line for line in joined):
                out.append(word)
    return out


def config_text(db: str, checks: str, extra: str = "") -> str:
    return (f"monitor:\n  database: {db}\n  location: local\n"
            "components:\n  - {id: login, name: 登录}\n  - {id: query, name: 查询}\n  - {id: network, name: 网络}\n"
            f"checks:\n{checks}{extra}")


CHECKS = """\
  - {name: 本地网关, kind: tcp, component: network, role: baseline, host: 127.0.0.1, port: 9, interval: 30s, timeout: 2s}
  - {name: 登录, kind: tcp, component: login, host: 127.0.0.1, port: 9, interval: 30s, timeout: 2s}
  - {name: 发票查询, kind: tcp, component: query, host: 127.0.0.1, port: 9, interval: 1m, timeout: 2s, depends_on: [登录]}
  - {name: 数据同步, kind: tcp, component: query, host: 127.0.0.1, port: 9, interval: 2m, timeout: 2s}
  - {name: 平台证书, kind: tcp, host: 127.0.0.1, port: 9, enabled: false}
  - {name: 新检查, kind: tcp, component: query, host: 127.0.0.1, port: 9, interval: 5m, timeout: 2s}
  - {name: 北京节点, kind: tcp, component: query, host: 127.0.0.1, port: 9, locations: [beijing]}
"""
REASON = ("token: token request failed: envelope code E1001: appKey or appSecret is wrong "
          "(not asking again for 60s, the token-retry backoff)")


def seed(url: str, now: datetime | None = None) -> None:
    """A store as a running monitor leaves it: 本地网关 up, 登录 down (incident 1, acked), 发票查询
    down and folded into it as a symptom, 数据同步 recovering, a silence on 数据同步."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    store = Store(url)
    store.migrate()
    store.write_results([
        Result("本地网关", Status.UP, now - timedelta(seconds=12), 0.61, "connected to 127.0.0.1:9 in 0.4 ms", location="local"),
        Result("登录", Status.DOWN, now - timedelta(seconds=20), 43.6, REASON, location="local"),
        Result("发票查询", Status.DOWN, now - timedelta(seconds=30), 0.0, "list_invoices: no token: " + REASON, location="local"),
        Result("数据同步", Status.UP, now - timedelta(seconds=40), 2.1, "newest record is 4s old", location="local"),
    ])
    with store.session() as s:
        result_rows.save_decided(s, [
            {"check": "本地网关", "location": "local", "status": "up", "since": now - timedelta(hours=3), "data": None},
            {"check": "登录", "location": "local", "status": "down", "since": now - timedelta(minutes=5), "data": None},
            {"check": "发票查询", "location": "local", "status": "down", "since": now - timedelta(minutes=4), "data": None},
            {"check": "数据同步", "location": "local", "status": "down", "since": now - timedelta(minutes=6),
             "data": {"v": 1, "locations": {"local": {"runs": [0, 0, 1, 1]}}}},
        ])
        incident_rows.save(s, Incident(
            component="login", title="登录部分功能中断", status="investigating", impact="major",
            started_at=now - timedelta(minutes=6), detected_at=now - timedelta(minutes=5), root_check="登录",
            acked_at=now - timedelta(minutes=2), acked_by="alice",
            data={"checks": ["登录"], "symptoms": ["发票查询"], "recovered_at": None},
        ))
        incident_rows.save(s, Incident(
            component="query", title="发票查询性能下降", status="monitoring", impact="minor",
            started_at=now - timedelta(minutes=30), detected_at=now - timedelta(minutes=29), root_check="数据同步",
            data={"checks": ["数据同步"], "symptoms": [], "recovered_at": (now - timedelta(minutes=3)).isoformat()},
        ))
        hold_rows.add_silence(s, Silence(target="数据同步", target_kind="check", reason="ERP migration tonight",
                                         created_by="bob", created_at=now, starts_at=now - timedelta(minutes=1),
                                         ends_at=now + timedelta(hours=2)))
        s.commit()
    store.close()
