"""Warm commands (monitor/warm.py): with a warm server for the config file, a command's output
and exit code are those of a cold run, byte for byte, on a pipe and on a terminal; the
command runs with the client's environment and directory; Ctrl-C reaches it and a client
that goes away takes its command along; the server answers only clients of its own code and
only from a folder of this user's alone; the monitor keeps one while it runs and removes it
when it stops. Every process here is real, and every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor import warm
from tests.cli.cli_kit import CHECKS, ROOT, config_text, run_pty, seed
from tests.selfwatch.selfwatch_kit import start_monitor, stop_monitor, until


@pytest.fixture(scope="module")
def runtime() -> Iterator[Path]:
    """A runtime folder of this module's own (short: a socket's path is at most 107 bytes),
    and warm commands switched on for the processes the tests start (the suite turns them
    off). Each test's config file has its own socket in it."""
    folder = Path(tempfile.mkdtemp(prefix="iw-", dir="/tmp"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(warm.ENV_DIR, str(folder))
        mp.setenv(warm.ENV_SWITCH, "on")
        yield folder
    shutil.rmtree(folder, ignore_errors=True)


def start_server(config: Path) -> subprocess.Popen[bytes]:
    """The server's program as CommandServer starts it, returned once it says it listens."""
    proc = subprocess.Popen(warm.server_argv(str(config), os.getpid()), env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None
    said = proc.stdout.readline() if select.select([proc.stdout], [], [], 90)[0] else b""
    if said.decode().strip() != warm.READY:
        proc.kill()
        why = proc.stderr.read().decode()
        stop_server(proc)
        raise AssertionError(f"the warm server did not listen (exit {proc.returncode}): {why}")
    return proc


def stop_server(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


@pytest.fixture(scope="module")
def shared(runtime: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """One seeded config and its server for the tests that leave the server as they found it."""
    folder = tmp_path_factory.mktemp("warm")
    db = f"sqlite:///{folder}/m.db"
    seed(db)
    config = folder / "c.yaml"
    config.write_text(config_text(db, CHECKS), encoding="utf-8")
    proc = start_server(config)
    yield config, proc
    stop_server(proc)


@pytest.fixture
def server(seeded: Path, runtime: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A server of the test's own (the test stops it)."""
    proc = start_server(seeded)
    yield seeded, proc
    stop_server(proc)


def gone(pids: list[int], seconds: float, what: str) -> None:
    """Each of `pids` has exited (a pidfd turns readable when its process ends), within `seconds`."""
    deadline = time.monotonic() + seconds
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise AssertionError(f"{what}: process {pid} still running after {seconds} s")
        finally:
            os.close(fd)


def served(config: Path) -> int:
    answer = warm.info(str(config))
    assert answer is not None, "the warm server does not answer"
    return int(answer["served"])


def run(*args: str, cwd: Path, on: bool, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "INVOICEWATCH_CONFIG": "", "COLUMNS": "100",
            warm.ENV_SWITCH: "on" if on else "off", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "monitor", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def children(pid: int) -> list[int]:
    """The processes `pid` (single-threaded) forked and has not reaped."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


# (args, answered by the server of c.yaml): the group's option spelt three ways, --json,
# errors of usage (exit 2, on stderr), a config that is not there (no server: cold), and
# `simulate serve`, never warm (a server itself; the simulator's client commands are).
# (Documents that tell the time, `status` and `incidents`, are compared but for it.)
CASES: list[tuple[tuple[str, ...], bool]] = [
    (("-c", "c.yaml", "validate"), True),
    (("--config=c.yaml", "validate", "--json"), True),
    (("-cc.yaml", "channels", "list"), True),
    (("-c", "c.yaml", "status", "--bogus"), True),
    (("-c", "c.yaml", "nosuch"), True),
    (("-c", "c.yaml", "--version"), True),
    (("-c", "c.yaml", "status", "--help"), True),
    (("-c", "missing.yaml", "status"), False),
    (("-c", "c.yaml", "simulate", "catalog"), True),
    (("-c", "c.yaml", "simulate", "serve", "--help"), False),
]


def test_a_warm_command_prints_and_exits_as_a_cold_one(shared: tuple[Path, subprocess.Popen[bytes]]) -> None:
    config, _proc = shared
    for args, answered in CASES:
        before = served(config)
        hot = run(*args, cwd=config.parent, on=True)
        assert served(config) == before + answered, args
        cold = run(*args, cwd=config.parent, on=False)
        assert hot == cold, args
        assert (hot[1] or hot[2]).strip(), args  # each case says something
    before = served(config)
    status_hot = run("-c", "c.yaml", "status", "--json", cwd=config.parent, on=True)
    status_cold = run("-c", "c.yaml", "status", "--json", cwd=config.parent, on=False)
    assert status_hot[0] == status_cold[0] == 1  # 登录 is down
    hot_doc, cold_doc = json.loads(status_hot[1]), json.loads(status_cold[1])
    assert [(r["check"], r["status"]) for r in hot_doc["checks"]] == [(r["check"], r["status"]) for r in cold_doc["checks"]]
    assert hot_doc["summary"] == cold_doc["summary"]
    incidents_hot = run("-c", "c.yaml", "incidents", "--json", cwd=config.parent, on=True)
    incidents_cold = run("-c", "c.yaml", "incidents", "--json", cwd=config.parent, on=False)
    assert incidents_hot[0] == incidents_cold[0] == 0
    assert ([(i["id"], i["status"], i["title"]) for i in json.loads(incidents_hot[1])["incidents"]]
            == [(i["id"], i["status"], i["title"]) for i in json.loads(incidents_cold[1])["incidents"]] != [])
    assert served(config) == before + 2


def test_on_a_terminal_colour_and_width_are_the_clients(seeded: Path, runtime: Path) -> None:
    config = seeded
    bad = config.parent / "bad.yaml"
    bad.write_text(config.read_text(encoding="utf-8").replace("interval: 30s", "interval: soon", 1), encoding="utf-8")
    proc = start_server(bad)
    try:
        before = served(bad)
        hot = run_pty("-c", "bad.yaml", "validate", columns=60, cwd=config.parent, env={warm.ENV_SWITCH: "on"})
        cold = run_pty("-c", "bad.yaml", "validate", columns=60, cwd=config.parent, env={warm.ENV_SWITCH: "off"})
        assert served(bad) == before + 1
    finally:
        stop_server(proc)
    assert hot.code == cold.code == 1
    assert hot.raw == cold.raw and hot.coloured
    assert "bad.yaml:" in hot.text and "interval" in hot.text


def test_the_environment_and_the_directory_are_the_clients(seeded: Path, runtime: Path) -> None:
    config = seeded.parent / "secret.yaml"
    config.write_text(seeded.read_text(encoding="utf-8")
                      + "channels:\n  - {name: oncall, urls: ['json://127.0.0.1:9/${IW_WARM_HOOK}'], audience: oncall}\n",
                      encoding="utf-8")
    elsewhere = seeded.parent / "elsewhere"
    elsewhere.mkdir()
    proc = start_server(config)
    try:
        before = served(config)
        unset = run("-c", "../secret.yaml", "validate", cwd=elsewhere, on=True)
        given = run("-c", "../secret.yaml", "validate", cwd=elsewhere, on=True, env={"IW_WARM_HOOK": "hook"})
        assert served(config) == before + 2
    finally:
        stop_server(proc)
    assert unset == run("-c", "../secret.yaml", "validate", cwd=elsewhere, on=False)
    assert unset[0] == 1 and "IW_WARM_HOOK" in unset[1]
    assert given[0] == 0 and given[1].startswith("../secret.yaml: ok"), given


def test_ctrl_c_reaches_a_warm_command(shared: tuple[Path, subprocess.Popen[bytes]]) -> None:
    config, proc = shared
    before = served(config)
    hot = run_pty("-c", "c.yaml", "status", "--watch", "--every", "0.5", columns=100, cwd=config.parent,
                  env={warm.ENV_SWITCH: "on"}, interrupt_when=lambda out: "登录" in out, timeout=60)
    cold = run_pty("-c", "c.yaml", "status", "--watch", "--every", "0.5", columns=100, cwd=config.parent,
                   env={warm.ENV_SWITCH: "off"}, interrupt_when=lambda out: "登录" in out, timeout=60)
    assert served(config) == before + 1
    assert hot.code == cold.code and "登录" in hot.text
    gone(children(proc.pid), 20, "the interrupted command")


def test_a_client_that_goes_away_takes_its_command_along(shared: tuple[Path, subprocess.Popen[bytes]]) -> None:
    config, proc = shared
    client = subprocess.Popen(
        [sys.executable, "-m", "monitor", "-c", "c.yaml", "status", "--watch", "--every", "0.5"], cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert client.stdout is not None
        assert select.select([client.stdout], [], [], 60)[0], "the command printed nothing"  # it runs, forked
        forked = children(proc.pid)
        assert forked
        client.kill()
        client.wait(10)
        gone(forked, 20, "the orphaned command")
    finally:
        if client.poll() is None:
            client.kill()
        client.wait(10)
        assert client.stdout is not None
        client.stdout.close()


def ask_raw(config: Path, fingerprint: str) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(warm.socket_path(str(config))))
        header = json.dumps({"protocol": warm.PROTOCOL, "fingerprint": fingerprint, "argv": ["status"]}).encode()
        socket.send_fds(conn, [len(header).to_bytes(4, "big") + header], [0, 1, 2])
        answer: dict[str, Any] = json.loads(conn.recv(1024))
        return answer


def test_a_client_of_other_code_is_refused_and_a_stale_server_makes_way(
    server: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    config, proc = server
    # Another interpreter or tree (the code on disk is still the server's): refused, served on.
    assert ask_raw(config, "other code") == {"refused": "other code"}
    assert proc.poll() is None and warm.info(str(config)) is not None
    # The installed packages changed under the server (their folder's mtime, as an install
    # leaves it): stale. It makes way; the command runs cold meanwhile.
    purelib = Path(sysconfig.get_path("purelib"))
    before = purelib.stat()
    os.utime(purelib, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    try:
        assert ask_raw(config, warm.fingerprint()) == {"refused": "stale"}
        assert proc.wait(15) == warm.STALE_EXIT
    finally:
        os.utime(purelib, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not warm.socket_path(str(config)).exists()
    assert warm.info(str(config)) is None
    assert run("-c", "c.yaml", "validate", cwd=config.parent, on=True)[0] == 0  # cold, and fine


def test_a_command_runs_once_even_when_its_client_gave_up_on_the_server(
    shared: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    """A client that stopped waiting for the child's pid (and runs the command cold) never
    sends GO: the child, forked and ready, exits without running it. Then a real client's
    `silence` (a write) through the server adds exactly one silence."""
    config, _proc = shared

    def silences() -> int:
        code, out, _err = run("-c", "c.yaml", "silences", "--json", cwd=config.parent, on=False)
        assert code == 0
        return len(json.loads(out)["silences"])

    before = silences()
    args = ["-c", "c.yaml", "silence", "本地网关", "--for", "1h", "--reason", "gave up"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(30)
        conn.connect(str(warm.socket_path(str(config))))
        header = json.dumps({"protocol": warm.PROTOCOL, "fingerprint": warm.fingerprint(), "argv": args,
                             "cwd": str(config.parent), "env": dict(os.environ), "umask": 0o022,
                             "encoding": ["utf-8"] * 3, "errors": ["strict"] * 3}).encode()
        with open(os.devnull, "r+b") as null:
            socket.send_fds(conn, [len(header).to_bytes(4, "big") + header], [null.fileno()] * 3)
        child = json.loads(conn.recv(1024))["pid"]
    gone([child], 20, "the child that got no GO")
    assert silences() == before
    assert run(*args, cwd=config.parent, on=True)[0] == 0
    assert silences() == before + 1


def test_a_folder_others_may_enter_is_not_used(seeded: Path, runtime: Path) -> None:
    proc = start_server(seeded)
    try:
        assert warm.info(str(seeded)) is not None
        runtime.chmod(0o755)
        assert warm.info(str(seeded)) is None
        assert warm.ask(["-c", str(seeded), "validate"]) is None  # the caller runs it cold
    finally:
        runtime.chmod(0o700)
        stop_server(proc)
    runtime.chmod(0o755)
    try:
        refused = subprocess.run([sys.executable, "-m", "monitor.cli.warm", str(warm.socket_path(str(seeded))),
                                  str(os.getpid())], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                                 text=True, timeout=60)
    finally:
        runtime.chmod(0o700)
    assert refused.returncode == 2 and "is not a folder of this user's alone" in refused.stderr


def test_the_argv_the_client_reads() -> None:
    assert warm.command_of(["-c", "a.yaml", "status", "--json"]) == ("status", "a.yaml")
    assert warm.command_of(["--config", "a.yaml", "incidents"]) == ("incidents", "a.yaml")
    assert warm.command_of(["--config=a.yaml", "validate", "b.yaml"]) == ("validate", "a.yaml")
    assert warm.command_of(["-ca.yaml", "--help"]) == ("--help", "a.yaml")
    assert warm.command_of(["status"]) == ("status", None)
    assert warm.command_of(["--log-level", "DEBUG", "status"]) == (None, None)  # not the group's: cold
    assert warm.command_of(["-c"]) == (None, None)
    assert warm.command_of([]) == (None, None)


async def test_the_monitor_keeps_a_server_while_it_runs(tmp_path: Path, runtime: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f'monitor: {{database: "sqlite:///{tmp_path}/iw.db", state_dir: "{tmp_path}"}}\n'
        "status_page: {enabled: false}\n"
        "components:\n  - {id: net, name: 网络}\n"
        "checks:\n  - {name: 网关, kind: tcp, component: net, host: 127.0.0.1, port: 9, interval: 1s, timeout: 500ms}\n",
        encoding="utf-8",
    )
    log = tmp_path / "monitor.log"
    proc = await start_monitor(config, log)
    try:
        await until(lambda: warm.info(str(config)) is not None, 90, "the monitor's warm server answering")
        answer = warm.info(str(config))
        assert answer is not None
        pid = int(answer["pid"])
        code, out, _err = await asyncio.to_thread(run, "-c", "config.yaml", "status", cwd=tmp_path, on=True)
        assert code in (0, 1) and "网关" in out
        assert served(config) == 1
    finally:
        assert await stop_monitor(proc) == 0
    gone([pid], 15, "the warm server, stopped with the monitor")
    assert not warm.socket_path(str(config)).exists()
    assert "Traceback" not in log.read_text(encoding="utf-8")
