"""Secrets (appSecret, passwords, tokens, session cookies) never appear in results or in
`invoicewatch check` output, even when a hostile platform echoes them back in its errors."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from aiohttp import web

from monitor.cli.show import format_result, result_json
from monitor.core.results import Status

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-app-secret-value"
LITERAL_PASSWORD = "literal-password-in-yaml"
TOKEN = "tok-7f3a9c2e1b"


def echo_app() -> web.Application:
    """A platform that answers errors by echoing everything it was sent."""

    async def token(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("appSecret") != SECRET:
            return web.json_response({"code": "E1001", "describe": f"bad secret {body.get('appSecret')}"})
        return web.json_response({"code": "E0000", "describe": "ok", "result": {"accessToken": TOKEN, "expiresIn": 7200}})

    async def echo(request: web.Request) -> web.Response:
        seen = f"headers={dict(request.headers)} query={dict(request.query)} body={(await request.text())}"
        if request.query.get("mode") == "text":
            return web.Response(status=500, text=seen)
        return web.json_response({"code": "E9999", "describe": seen, "result": {"echo": seen, "list": []}})

    app = web.Application()
    app.add_routes([web.post("/token", token), web.get("/list", echo), web.post("/list", echo)])
    return app


def config(url: str, database: str) -> str:
    return f"""
monitor: {{database: "{database}"}}
platforms:
  echo:
    base_url: {url}
    credentials: {{appKey: key-1, appSecret: "${{ECHO_SECRET}}", password: {LITERAL_PASSWORD}}}
    auth:
      scheme: token
      request: {{method: POST, path: /token, json: {{appKey: "{{appKey}}", appSecret: "{{appSecret}}"}}}}
      token: $.result.accessToken
      expires_in: $.result.expiresIn
    signing: {{scheme: md5, secret: "{{appSecret}}"}}
    envelope: {{code: $.code, ok: [E0000], message: $.describe}}
    operations:
      list_invoices:
        request: {{method: POST, path: /list, params: {{pw: "{{password}}"}}, json: {{secret: "{{appSecret}}"}}}}
        items: $.result.list
      list_text:
        request: {{path: /list, params: {{mode: text, pw: "{{password}}"}}}}
        items: $.result.list
checks:
  - {{name: echo-login, kind: login, platform: echo, operation: list_invoices}}
  - {{name: echo-query, kind: query, platform: echo}}
  - {{name: echo-text, kind: query, platform: echo, operation: list_text}}
  - name: echo-flow
    kind: flow
    platform: echo
    steps:
      - {{name: a, operation: list_invoices, extract: {{echoed: $.result.echo}}, conditions: ["[BODY].result.echo == x"]}}
      - {{name: b, operation: list_text, conditions: ["[BODY] == x"]}}
"""


def _assert_clean(text: str) -> None:
    for secret in (SECRET, LITERAL_PASSWORD, TOKEN):
        assert secret not in text, f"{secret!r} leaked"


async def test_echoed_secrets_are_masked_in_every_result(http_server, make_env, tmp_path: Path) -> None:
    url = await http_server(echo_app())
    env = make_env(config(url, f"sqlite:///{tmp_path}/iw.db"), env={"ECHO_SECRET": SECRET})
    for name in ("echo-login", "echo-query", "echo-text", "echo-flow"):
        result = await env.run(name)
        assert result.status is Status.DOWN
        _assert_clean(json.dumps(result_json(result), ensure_ascii=False, default=str))
        _assert_clean(format_result(result))
        assert "***" in format_result(result)  # the echo was there, and was masked


async def _cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args, cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT), "ECHO_SECRET": SECRET},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, out.decode()


async def test_invoicewatch_check_output_never_shows_secrets(http_server, tmp_path: Path) -> None:
    url = await http_server(echo_app())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config(url, f"sqlite:///{tmp_path}/iw.db"), encoding="utf-8")
    code, text = await _cli("-c", str(cfg), "check", "echo-flow")
    assert code == 1, text
    assert "  down     a  " in text and "***" in text
    _assert_clean(text)
