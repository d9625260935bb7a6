"""Warm commands: while a monitor runs, `invoicewatch` commands on its config file are run by a
fork of a process that has already imported everything, so they answer in tens of
milliseconds instead of the ~0.5-0.9 s a cold start spends importing SQLAlchemy, pydantic
and building the config validators (bench/cli_start.py prints both).

    client   ask(argv) -> exit code, or None (no warm server: the command runs cold);
             monitor.cli.main asks first
    server   serve(path, parent, preload=, command=): preload, say READY on stdout, then
             fork one child per command (monitor/cli/warm.py is the server's program,
             server_argv(config, parent): the command line's imports and commands)
    monitor  CommandServer: the monitor's service that keeps the server running

How one command goes (the pattern of Bazel's client/server and of a fork server):

1. The client (the `invoicewatch` process, before it imports click) finds the socket of the
   config file it was given: `<runtime dir>/<sha256 of the file's real path>.sock`, in
   $INVOICEWATCH_RUNTIME_DIR, else /tmp/invoicewatch-<uid> (made 0700, refused when another
   user owns it or others may write it). Not there, refused, or the server is of other code:
   the command runs cold, as before. Only before the command has started; never twice.
2. It sends its argv, working directory, environment, umask and stdout encoding, with its
   stdin, stdout and stderr themselves (SCM_RIGHTS). The server answers only its own user
   (SO_PEERCRED), and only a client of the same code: the fingerprint of the interpreter,
   the installed packages and every source file of invoicewatch must match. When they do
   not because the code on disk changed, it says "stale" and exits (the monitor starts a
   fresh one of the new code); a client of another interpreter or tree is refused alone.
3. The server forks. The child takes the client's descriptors as 0/1/2, its directory,
   environment and umask, and runs the command exactly as `main` would: it reads the config
   file and the database itself, so what it prints and its exit code are those of a cold
   run. It sends its pid first and starts only on the client's GO, which the client sends
   once it has committed to this child (a client that timed out runs the command cold, and
   the child, seeing the close instead, never runs it: a command runs once). The client
   forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to it (Ctrl-C works); the child sends the
   exit code last. A client that goes away hangs its child up.

Never warm: `run`, `demo` and `simulate serve` (they are servers themselves). Off with
INVOICEWATCH_WARM=off: the monitor starts no server and the command line asks none.

The server never opens the database nor reads a config: it only imports. It is single
threaded when it forks (a fork of a process with threads could inherit a held lock), lives
in its own session (a Ctrl-C meant for the monitor does not reach it), exits when the
monitor does, and removes its socket.

Imports here are the standard library's alone: the client runs before anything else.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import stat
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ENV_SWITCH = "INVOICEWATCH_WARM"  # "off": no server, no asking
ENV_DIR = "INVOICEWATCH_RUNTIME_DIR"
CONFIG_ENV = "INVOICEWATCH_CONFIG"
DEFAULT_CONFIG = "config.yaml"
COLD_ONLY = {"run": (), "demo": (), "simulate": ("serve",)}  # servers themselves (with these words): never forked
PROTOCOL = 1
STALE_EXIT = 3  # the server's exit code when a client of other code asked
BUSY_EXIT = 4  # ... when a live server already answers for the config file
_HEADER = struct.Struct("!I")
READY = "listening"  # the server's one line on stdout, once it answers
GO = b"g"  # the client's word that it waits for this child (sent once it has the child's pid)
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_ROOT = Path(__file__).resolve().parents[1]  # the folder holding monitor/, checks/, notifiers/
PACKAGES = ("monitor", "checks", "notifiers")


def resolve_config_path(given: str | None) -> str:
    """The config file a command works on: -c FILE, else $INVOICEWATCH_CONFIG, else
    ./config.yaml (the command line's rule, monitor.cli.app; here so that the client finds
    the file's server before click is imported)."""
    return given or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "").lower() not in ("off", "0", "false", "no")


def runtime_dir() -> Path:
    given = os.environ.get(ENV_DIR)
    return Path(given) if given else Path("/tmp") / f"invoicewatch-{os.getuid()}"


def socket_path(config_file: str) -> Path:
    """The socket of the monitor running on `config_file` (any spelling of its path)."""
    key = hashlib.sha256(os.path.realpath(config_file).encode()).hexdigest()[:16]
    return runtime_dir() / f"{key}.sock"


def safe_dir(path: Path, *, create: bool) -> bool:
    """The runtime folder is ours alone: a folder (not a link), owned by this user, that no
    one else may write or enter."""
    if create:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def fingerprint() -> str:
    """Which code answers: the interpreter, the installed packages (their folder's mtime
    changes with every install) and every file of invoicewatch's packages (path, size, mtime)."""
    import sysconfig

    digest = hashlib.sha256(f"{PROTOCOL}\0{sys.executable}\0{sys.version}\0{_ROOT}".encode())
    for folder in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}:
        with contextlib.suppress(OSError):
            digest.update(f"{folder}\0{os.stat(folder).st_mtime_ns}\0".encode())
    for path, st in sorted(_source_files()):
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _source_files() -> Iterator[tuple[str, os.stat_result]]:
    stack = [str(_ROOT / p) for p in PACKAGES]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif not entry.name.endswith((".pyc", ".pyo")):
                    yield entry.path, entry.stat(follow_symlinks=False)


# ---------------------------------------------------------------------------------- client


def command_of(argv: list[str]) -> tuple[str | None, str | None]:
    """(the command word, the -c/--config value) of an invoicewatch argv, or (None, None)
    when the group's options are anything but `-c FILE` (the command then runs cold, where
    click reads them). The group's --help, -h and --version count as a command word."""
    config = None
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in ("-c", "--config"):
            if i + 1 >= len(argv):
                return None, None
            config, i = argv[i + 1], i + 2
        elif word.startswith("--config="):
            config, i = word.split("=", 1)[1], i + 1
        elif word.startswith("-c") and len(word) > 2:
            config, i = word[2:], i + 1
        elif word in ("--help", "-h", "--version"):
            return word, config
        elif word.startswith("-"):
            return None, None
        else:
            return word, config
    return None, None


def _cold_only(command: str, rest: list[str]) -> bool:
    if command not in COLD_ONLY:
        return False
    words = COLD_ONLY[command]
    return not words or any(w in rest for w in words)


def ask(argv: list[str]) -> int | None:
    """Run the command on the monitor's warm server: its exit code, or None when there is no
    server to ask (the caller runs it cold). Once the server has taken the command, the
    answer is its outcome, whatever happens."""
    if not enabled():
        return None
    command, config = command_of(argv)
    if command is None or _cold_only(command, argv[argv.index(command) + 1:]):
        return None
    try:
        conn = _connect(socket_path(resolve_config_path(config)))
    except OSError:
        return None
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        header = json.dumps({
            "protocol": PROTOCOL, "fingerprint": fingerprint(), "argv": argv, "cwd": os.getcwd(),
            "env": dict(os.environ), "umask": umask,
            "encoding": [getattr(f, "encoding", None) or "utf-8" for f in (sys.stdin, sys.stdout, sys.stderr)],
            "errors": [getattr(f, "errors", None) or "strict" for f in (sys.stdin, sys.stdout, sys.stderr)],
        }).encode()
        socket.send_fds(conn, [_HEADER.pack(len(header)) + header], [0, 1, 2])
        lines = _lines(conn)
        first = next(lines, None)
    except (OSError, ValueError):
        first = None
    if first is None or "pid" not in first:  # refused, stale, too slow: run cold (a child waiting
        conn.close()                           # for GO sees the close and does not run it)
        return None
    conn.settimeout(None)  # the command takes as long as it takes
    return _follow(conn, lines, int(first["pid"]))


def _connect(path: Path) -> socket.socket:
    """A connection to the server at `path`, in a safe folder and run by this user (OSError
    otherwise)."""
    if not safe_dir(path.parent, create=False):
        raise OSError(f"{path.parent} is not this user's alone")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(5.0)
        conn.connect(str(path))
        if _peer_uid(conn) != os.getuid():
            raise OSError("the server is another user's")
    except BaseException:
        conn.close()
        raise
    return conn


def _follow(conn: socket.socket, lines: Iterator[dict[str, Any]], pid: int) -> int:
    """Forward signals to the child until it says its exit code."""
    forwarded: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        forwarded.append(signum)
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    try:
        conn.sendall(GO)  # from here the command is the child's: never run it here as well
        last = next(lines, None)
    except OSError:
        last = None
    finally:
        conn.close()
    if last is not None and "exit" in last:
        return int(last["exit"])
    if forwarded:  # the child died of the signal it was sent: so do we
        signal.signal(forwarded[-1], signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[-1])
    sys.stderr.write("invoicewatch: the warm command server lost this command (exit status unknown)\n")
    return 1


def _lines(conn: socket.socket) -> Iterator[dict[str, Any]]:
    buffer = b""
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)
        chunk = conn.recv(4096)
        if not chunk:
            return
        buffer += chunk


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


# ---------------------------------------------------------------------------------- server


Command = Callable[[list[str]], None]  # runs one command line (SystemExit as it ends)


def server_argv(config_file: str, parent: int) -> list[str]:
    """The server's program for `config_file`, exiting when process `parent` does (what
    CommandServer starts; monitor/cli/warm.py)."""
    return [sys.executable, "-m", "monitor.cli.warm", str(socket_path(config_file)), str(parent)]


def serve(path: Path, parent: int, *, preload: Callable[[], None], command: Command) -> int:
    """Answer commands on `path` until the parent (the monitor) is gone or SIGTERM (exit 0),
    or a client of other code asks (STALE_EXIT): `preload` once, then `command(argv)` in a
    fork per client. BUSY_EXIT when a live server already answers on `path`, 2 when the
    place or the preload is unsafe (said on stderr)."""
    import gc
    import threading

    if not safe_dir(path.parent, create=True):
        sys.stderr.write(f"invoicewatch warm server: {path.parent} is not a folder of this user's alone\n")
        return 2
    preload()
    if threading.active_count() != 1:
        sys.stderr.write("invoicewatch warm server: an import started a thread; forking it is not safe\n")
        return 2
    server = _Server(path, fingerprint(), command)
    if not server.listen():
        return BUSY_EXIT
    with contextlib.suppress(OSError):  # for whoever waits on the server's stdout (tests, the bench)
        print(READY, flush=True)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: _reap())  # no zombie waits for the next turn
    gc.collect()
    gc.freeze()  # what the children share stays shared: the collector never writes to it
    try:
        while not stopping and os.getppid() == parent:
            if server.answer_one(timeout=1.0) == "stale":
                return STALE_EXIT
        return 0
    finally:
        server.close()


class _Server:
    def __init__(self, path: Path, mine: str, command: Command) -> None:
        self.path, self.mine, self.command = path, mine, command
        self.listener: socket.socket | None = None
        self.inode = 0
        self.served = 0

    def listen(self) -> bool:
        """Listen at the path (mode 0600); False when a live server already has it."""
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
                return False
            except OSError:
                self.path.unlink()  # left by a server that died
            finally:
                probe.close()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old)
        listener.listen(64)
        self.listener, self.inode = listener, os.stat(self.path).st_ino
        return True

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        try:
            if os.stat(self.path).st_ino == self.inode:  # still ours (not a newer server's)
                os.unlink(self.path)
        except OSError:
            pass

    def answer_one(self, timeout: float) -> str:
        """Wait up to `timeout` for a client and answer it: "forked", "info", "stale",
        "refused" or "idle"."""
        assert self.listener is not None
        self.listener.settimeout(timeout)
        try:
            conn, _ = self.listener.accept()
        except OSError:  # the timeout; a client gone before accept
            return "idle"
        fds: list[int] = []
        try:
            conn.settimeout(5.0)
            if _peer_uid(conn) != os.getuid():
                return "refused"
            header, fds = _receive(conn)
            if header.get("protocol") != PROTOCOL or header.get("fingerprint") != self.mine:
                if fingerprint() == self.mine:  # the client is of other code (another interpreter or tree)
                    conn.sendall(b'{"refused": "other code"}\n')
                    return "refused"
                conn.sendall(b'{"refused": "stale"}\n')  # the code on disk changed: make way
                return "stale"
            if header.get("info"):
                conn.sendall(json.dumps({"pid": os.getpid(), "served": self.served}).encode() + b"\n")
                return "info"
            if len(fds) != 3:
                conn.sendall(b'{"refused": "descriptors"}\n')
                return "refused"
            pid = os.fork()
            if pid == 0:
                self.listener.close()
                _child(conn, fds, header, self.command)  # never returns
            self.served += 1
            return "forked"
        except (OSError, ValueError, KeyError):
            return "refused"
        finally:
            for fd in fds:
                os.close(fd)
            conn.close()


def info(config_file: str) -> dict[str, Any] | None:
    """The warm server of `config_file`: {"pid", "served"} (commands forked so far), or None
    when none answers (or it is of other code)."""
    try:
        with _connect(socket_path(config_file)) as conn:
            header = json.dumps({"protocol": PROTOCOL, "fingerprint": fingerprint(), "info": True}).encode()
            conn.sendall(_HEADER.pack(len(header)) + header)
            answer = next(_lines(conn), None)
    except (OSError, ValueError):
        return None
    return answer if answer is not None and "served" in answer else None


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    if len(data) < _HEADER.size:
        raise ValueError("short header")
    (size,) = _HEADER.unpack_from(data)
    if size > 16 << 20:
        raise ValueError("header too large")
    body = data[_HEADER.size:]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("client went away")
        body += chunk
    return json.loads(body), list(fds)


def _child(conn: socket.socket, fds: list[int], header: dict[str, Any], command: Command) -> None:
    """The command, in the fork: the client's descriptors, directory, environment and
    umask; its exit code sent back last."""
    import random
    import threading
    import time

    code = 1
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(header["cwd"])
        os.environ.clear()
        os.environ.update(header["env"])
        time.tzset()
        os.umask(int(header["umask"]))
        random.seed()
        encodings, errors = header["encoding"], header["errors"]
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encodings[0], errors=errors[0])
        sys.stdout = _writer(1, encodings[1], errors[1])
        sys.stderr = _writer(2, encodings[2], "backslashreplace")
        conn.settimeout(None)
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        if conn.recv(1) != GO:  # the client gave up waiting and runs the command itself
            os._exit(0)
        threading.Thread(target=_hang_up_when_gone, args=(conn,), daemon=True).start()
        code = _run(command, header["argv"])
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        os._exit(code)


def _writer(fd: int, encoding: str, errors: str) -> io.TextIOWrapper:
    tty = os.isatty(fd)
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding=encoding, errors=errors,
                            line_buffering=tty, write_through=tty)


def _run(command: Command, argv: list[str]) -> int:
    """The command as `main` runs it cold; SystemExit's code as the interpreter would make it."""
    try:
        command(argv)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        sys.stderr.write(f"{exc.code}\n")
        return 1
    return 0


def _hang_up_when_gone(conn: socket.socket) -> None:
    try:
        while conn.recv(1024):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGHUP)


# --------------------------------------------------------------------------------- monitor


class CommandServer:
    """The monitor's service that keeps a warm server for its config file's commands: started
    with the monitor (in its own session, so a Ctrl-C for the monitor does not reach it),
    started again with the new code when a client of newer code found it stale, a minute
    after it found another monitor's server on the same file (taking over when that one
    goes), after a minute and then less often (up to an hour) when it could not serve (said
    once in the log), stopped before the monitor stops."""

    RETRY_AFTER = 60.0  # after a failure, doubling up to GIVE_UP_AFTER between tries
    GIVE_UP_AFTER = 3600.0

    def __init__(self, config_file: str) -> None:
        import logging

        self.config_file = config_file
        self.log = logging.getLogger("monitor.warm")
        self.proc: Any = None
        self._task: Any = None
        self._stopping = False

    async def start(self) -> None:
        import asyncio

        self._task = asyncio.get_running_loop().create_task(self._keep(), name="warm command server")

    async def _keep(self) -> None:
        import asyncio

        told = False
        wait = self.RETRY_AFTER
        while not self._stopping:
            self.proc = await asyncio.create_subprocess_exec(
                *server_argv(self.config_file, os.getpid()), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            )
            _, err = await self.proc.communicate()  # it says something only when it cannot serve
            code = self.proc.returncode
            if self._stopping:
                return
            if code == STALE_EXIT:
                wait = self.RETRY_AFTER
                continue  # newer code is installed: a server of it, at once
            if code == BUSY_EXIT:  # another monitor's server answers for the file: take over when it goes
                await asyncio.sleep(self.RETRY_AFTER)
                continue
            if not told:
                said = err.decode(errors="replace").strip().splitlines()
                self.log.warning("the warm command server stopped (exit %s%s); commands run cold; trying again "
                                 "in %.0f s, then less often", code, f": {said[-1]}" if said else "", wait)
                told = True
            await asyncio.sleep(wait)
            wait = min(wait * 2, self.GIVE_UP_AFTER)

    async def stop(self) -> None:
        import asyncio

        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 3.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
