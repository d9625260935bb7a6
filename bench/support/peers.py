"""Local peers for the benchmarks: Debian's nginx (the target) and blackbox_exporter (the peer).

Both are installed with apt-get when missing, bound to 127.0.0.1 on free ports, configured
from files written to a temp dir, and stopped (by the pid we started) when the `with` ends.
Nothing here is a test; the benchmark scripts print what they measure with these.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# What the target answers: the shape of an invoice API's health answer, with an envelope code
# the checks' conditions (and blackbox's body regexp) look for.
BODY = '{"code":"E0000","describe":"ok","result":{"list":[{"invoiceNo":"044001900111"}]}}'

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
{listen}
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""

# The blackbox module does what our probe does: a fresh connection, GET, status 200 and the
# envelope code in the body.
BLACKBOX_CONF = """
modules:
  http_probe:
    prober: http
    timeout: 5s
    http:
      method: GET
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ["E0000"]
"""


@dataclass
class Peer:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    ports: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_installed(binary: str, package: str) -> str:
    """The binary's path, installing its Debian package first when it is missing."""
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path:
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {package} (apt-get) ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False, env=env, stdout=subprocess.DEVNULL)
    if not (shutil.which(binary) or os.path.exists(f"/usr/sbin/{binary}")):
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env, stdout=subprocess.DEVNULL)
    return shutil.which(binary) or f"/usr/sbin/{binary}"


def wait_http(url: str, limit: float = 10.0) -> None:
    """Until url answers (bounded): the peer is up."""
    t_end = time.monotonic() + limit
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:  # 127.0.0.1 only
                r.read()
            return
        except OSError:
            if time.monotonic() > t_end:
                raise
            time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and its live children (nginx: master and workers)."""
    return cpu_seconds(pid) + sum(cpu_seconds(c) for c in children(pid))


def status_kb(field_name: str, pid: str = "self") -> int:
    """A /proc/PID/status figure in kB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def nginx(ports: int = 1) -> Iterator[Peer]:
    """nginx answering BODY on `ports` free ports (Peer.port is the first; Peer.ports all)."""
    binary = ensure_installed("nginx", "nginx-light")
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        numbers = [free_port() for _ in range(ports)]
        listen = "\n".join(f"        listen 127.0.0.1:{p} backlog=8192;" for p in numbers)
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, listen=listen, body=BODY))
        proc = subprocess.Popen([binary, "-c", str(conf), "-p", tmp], stderr=subprocess.DEVNULL)
        try:
            for p in numbers:
                wait_http(f"http://127.0.0.1:{p}/")
            yield Peer("nginx", proc, numbers[0], numbers)
        finally:
            _stop(proc)


@contextmanager
def blackbox() -> Iterator[Peer]:
    binary = ensure_installed("prometheus-blackbox-exporter", "prometheus-blackbox-exporter")
    with tempfile.TemporaryDirectory(prefix="bench-blackbox-") as tmp:
        port = free_port()
        conf = Path(tmp) / "blackbox.yml"
        conf.write_text(BLACKBOX_CONF)
        proc = subprocess.Popen(
            [binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/metrics")
            yield Peer("blackbox_exporter", proc, port)
        finally:
            _stop(proc)
