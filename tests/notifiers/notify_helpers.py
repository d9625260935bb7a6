"""Helpers for notifier tests: real receivers (an aiohttp JSON webhook sink, an aiosmtpd SMTP
server, both on 127.0.0.1, recording what arrives), config files, bounded waiting."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from monitor.config import Config, load_config


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    payload: dict[str, Any]
    at: float

    @property
    def key(self) -> str:
        """The idempotency key, decoded as a receiver does (the header is percent-encoded)."""
        return unquote(self.headers.get("X-Invoicewatch-Key", ""))


@dataclass
class JsonSink:
    """A webhook receiver. `status[path]` sets the reply code, `delay[path]` holds replies."""

    base: str = ""
    received: list[Received] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return "json://" + self.base.removeprefix("http://") + "/" + path.lstrip("/")

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == "/" + path.lstrip("/")]

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if self.delay.get(path):
            await asyncio.sleep(self.delay[path])
        code = self.status.get(path, 200)
        body = await request.json()
        if code >= 300:
            self.refused.append(path)
            return web.Response(status=code, text="sink says no")
        self.received.append(Received(path, dict(request.headers), body, time.monotonic()))
        return web.json_response({"ok": True})


@dataclass
class Mail:
    mail_from: str
    rcpt: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, kind: str) -> str:
        for p in self.message.walk():
            if p.get_content_type() == kind:
                return str(p.get_content())
        return ""


class _Handler:
    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mailto(port: int, to: str = "oncall@example.com") -> str:
    """Plain SMTP to 127.0.0.1:port, no TLS, no login (Apprise email `mode=insecure`)."""
    return f"mailto://127.0.0.1:{port}?from=invoicewatch@example.com&to={to}&mode=insecure"


COMPONENTS = """
components:
  - {id: login, name: {zh-CN: 登录, en: Login}}
  - {id: issuance, name: {zh-CN: 开票, en: Invoice issuing}}
  - {id: network, name: {zh-CN: 本地网络, en: Local network}, public: false}
"""


def write_config(tmp_path: Path, db_url: str, body: str, name: str = "config.yaml") -> Config:
    text = f"monitor:\n  database: \"{db_url}\"\n  timezone: Asia/Shanghai\n" + COMPONENTS + body
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={"HOOK_TOKEN": "tok-SECRET-123456", "DINGTALK_TOKEN": "a1b2c3d4e5f6a7b8c9d0e1f2"})


async def until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait (polling every 20 ms) until `predicate()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)



def make_smtp_handler() -> _Handler:
    return _Handler()


def create_incident_table(engine: Any) -> Any:
    """The store's `incident` table (created by the migration; the tests write rows the way
    the deciding service does: incident change and notice in one transaction)."""
    from monitor.store.incidents import INCIDENTS

    return INCIDENTS
