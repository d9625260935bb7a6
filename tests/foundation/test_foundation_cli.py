"""The foundation's commands: schema, check, status, and how the config file is found.

Commands run in-process through click's runner (fast), against real sockets on 127.0.0.1
and a real SQLite file; the secret-echo case runs the real process against a real server.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from click.testing import CliRunner
from click.testing import Result as CliResult

from checks import KINDS
from monitor.cli import cli
from monitor.config.yamlsource import load_source

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    runner = CliRunner()
    env = {"INVOICEWATCH_CONFIG": "", **(env or {})}
    if cwd is None:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def open_port() -> Iterator[int]:
    """A listening socket: the kernel completes TCP handshakes for it (a tcp check is up)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A bound socket that does not listen: connecting is refused (a tcp check is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def config_file(tmp_path: Path, checks: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"monitor:\n  database: sqlite:///{tmp_path}/m.db\ncomponents:\n  - {{id: net, name: 网络}}\nchecks:\n{checks}")
    return path


def tcp(name: str, port: int | str, host: str = "127.0.0.1") -> str:
    return f"  - name: {name}\n    kind: tcp\n    component: net\n    host: {host}\n    port: {port}\n    timeout: 2s\n"


# --- schema ---------------------------------------------------------------------------------


def test_schema_is_json_schema_the_example_config_satisfies() -> None:
    out = invoke("schema")
    assert out.exit_code == 0
    schema = json.loads(out.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    example = load_source(ROOT / "config.example.yaml", env={})
    assert example.problems == [] and example.data
    jsonschema.Draft202012Validator(schema).validate(example.data)


@pytest.mark.parametrize(
    "bad",
    [{"checks": [{"name": "a", "kind": "tcp", "host": "h", "port": 1, "intervl": "5s"}]},
     {"monitor": {"language": "fr"}},
     {"checks": [{"name": "a", "kind": "tcp", "host": "h", "port": 1, "interval": "5 minutes"}]},
     {"bogus": 1}],
    ids=["unknown_check_key", "bad_language", "bad_duration", "unknown_section"],
)
def test_schema_rejects_what_the_loader_rejects(bad: dict[str, Any]) -> None:
    schema = json.loads(invoke("schema").output)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


# --- check NAME -------------------------------------------------------------------------------


def test_check_up_exits_0_and_shows_the_request_line_and_phases(tmp_path: Path, open_port: int) -> None:
    path = config_file(tmp_path, tcp("本地", open_port))
    out = invoke("-c", str(path), "check", "本地")
    assert out.exit_code == 0, out.output
    first, phases, *_, verdict = out.output.splitlines()
    assert first == f"本地  tcp · TCP 127.0.0.1:{open_port}"
    assert phases.startswith("phases: ") and "connect" in phases and "total" in phases
    assert verdict.startswith("UP  in ") and f"connected to 127.0.0.1:{open_port}" in verdict


def test_check_down_exits_1(tmp_path: Path, closed_port: int) -> None:
    path = config_file(tmp_path, tcp("gone", closed_port))
    out = invoke("-c", str(path), "check", "gone")
    assert out.exit_code == 1
    assert out.output.splitlines()[-2].startswith("DOWN  in ")
    assert f"connect to 127.0.0.1:{closed_port} failed" in out.output
    assert out.output.splitlines()[-1] == f"nothing answers at 127.0.0.1:{closed_port}: is the service running, and is that the right address?"


def test_check_json_is_the_whole_result(tmp_path: Path, open_port: int) -> None:
    path = config_file(tmp_path, tcp("a", open_port))
    out = invoke("-c", str(path), "check", "a", "--json")
    data = json.loads(out.output)
    assert (out.exit_code, data["check"], data["status"], data["location"]) == (0, "a", "up", "local")
    assert {"connect", "total"} <= set(data["phases"])


def test_check_unknown_name_exits_2_with_a_guess(tmp_path: Path, open_port: int) -> None:
    path = config_file(tmp_path, tcp("login", open_port))
    out = CliRunner().invoke(cli, ["-c", str(path), "check", "logn"])
    assert out.exit_code == 2
    assert out.output.splitlines() == [f"invoicewatch: {path}: no check named 'logn' (did you mean 'login'?)",
                                       "  invoicewatch status lists them all"]


def test_check_with_a_bad_config_exits_2_listing_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("checks:\n  - name: a\n    kind: tpc\n")
    out = CliRunner().invoke(cli, ["-c", str(path), "check", "a"])
    assert out.exit_code == 2
    assert out.output.splitlines() == [
        f"{path}:3:11: checks[0].kind: unknown check kind 'tpc' (did you mean 'tcp'?)",
        f"1 problem in {path}",
    ]


# --- secrets ----------------------------------------------------------------------------------------


def test_check_output_masks_values_from_env(tmp_path: Path, open_port: int) -> None:
    path = config_file(tmp_path, tcp("secret-host", open_port, host="${IW_HOST}"))
    for extra in ((), ("--json",)):
        out = invoke("-c", str(path), "check", "secret-host", *extra, env={"IW_HOST": "127.0.0.1"})
        assert out.exit_code == 0, out.output
        assert "127.0.0.1" not in out.output
        assert f"***:{open_port}" in out.output


@pytest.mark.skipif("http" not in KINDS, reason="the http kind is not registered")
async def test_check_masks_a_secret_a_server_echoes_back(
    tmp_path: Path, http_server: Callable[[web.Application], Any]
) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"bad token {request.query.get('token')} and {request.headers.get('X-Key')}")

    app = web.Application()
    app.router.add_get("/echo", echo)
    base = await http_server(app)
    path = tmp_path / "c.yaml"
    path.write_text(
        "checks:\n  - name: echo\n    kind: http\n"
        f"    url: {base}/echo?token=${{IW_TOKEN}}\n"
        "    headers: {X-Key: '${file:key.txt}'}\n"
        "    conditions: ['[STATUS] == 200', '[BODY] == nothing']\n"
    )
    (tmp_path / "key.txt").write_text("file-key-0123456789\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IW_TOKEN": "tok-abcdef-123456"}
    for extra in ((), ("--json",)):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "-c", str(path), "check", "echo", *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        text = out.decode() + err.decode()
        assert proc.returncode == 1, text
        assert "tok-abcdef-123456" not in text and "file-key-0123456789" not in text
        assert "bad token *** and ***" in text


# --- finding the config file ---------------------------------------------------------------------------


def test_config_comes_from_option_then_env_then_cwd(tmp_path: Path, open_port: int) -> None:
    (tmp_path / "cwd").mkdir()
    config_file(tmp_path / "cwd", tcp("from-cwd", open_port), name="config.yaml")
    env_file = config_file(tmp_path, tcp("from-env", open_port), name="env.yaml")
    opt_file = config_file(tmp_path, tcp("from-option", open_port), name="opt.yaml")
    cwd = tmp_path / "cwd"
    assert "config.yaml: ok (1 checks" in invoke("validate", cwd=cwd).output
    env = {"INVOICEWATCH_CONFIG": str(env_file)}
    assert invoke("validate", env=env, cwd=cwd).output.startswith(f"{env_file}: ok")
    assert invoke("-c", str(opt_file), "validate", env=env, cwd=cwd).output.startswith(f"{opt_file}: ok")
    assert invoke("--config", str(opt_file), "check", "from-option", env=env, cwd=cwd).exit_code == 0


def test_missing_config_file_names_it_and_exits_2(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["check", "x"], env={"INVOICEWATCH_CONFIG": str(tmp_path / "nope.yaml")})
    assert out.exit_code == 2
    assert out.output.splitlines()[0] == f"invoicewatch: no config file: INVOICEWATCH_CONFIG names {tmp_path / 'nope.yaml'}, which does not exist"
