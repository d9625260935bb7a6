"""Every group bot's server, on 127.0.0.1: WeCom, DingTalk, Feishu and Lark, as one local
HTTPS proxy that receives Apprise's real requests.

Apprise's wecombot/dingtalk/feishu/lark plugins post to fixed hosts (qyapi.weixin.qq.com,
oapi.dingtalk.com, open.feishu.cn, open.larksuite.com) with `requests.post`, and requests
honours HTTPS_PROXY and REQUESTS_CA_BUNDLE. So the test points HTTPS_PROXY here: the proxy
answers CONNECT for those four hosts only (anything else is refused and recorded), ends TLS
with a certificate for them signed by a CA made for this test (REQUESTS_CA_BUNDLE trusts it,
certificate verification stays on), reads the HTTP request and answers what the real service
answers on success. Nothing leaves 127.0.0.1; nothing in Apprise or requests is patched.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ANSWERS: dict[str, dict[str, Any]] = {
    "qyapi.weixin.qq.com": {"errcode": 0, "errmsg": "ok"},
    "oapi.dingtalk.com": {"errcode": 0, "errmsg": "ok"},
    "open.feishu.cn": {"code": 0, "msg": "success", "data": {}},
    "open.larksuite.com": {"code": 0, "msg": "success", "data": {}},
}
MAX_CONNECTIONS = 200  # a bound on how much one test can make the receiver do


@dataclass
class Captured:
    host: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class BotReceiver:
    folder: Path
    requests: list[Captured] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ca_file = self.folder / "bot-ca.pem"
        cert_file, key_file = self.folder / "bot-cert.pem", self.folder / "bot-key.pem"
        _make_certificates(self.ca_file, cert_file, key_file, list(ANSWERS))
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert_file, key_file)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._served = 0
        self._thread = threading.Thread(target=self._accept, name="bot-receiver", daemon=True)
        self._thread.start()

    @property
    def environment(self) -> dict[str, str]:
        proxy = f"http://127.0.0.1:{self.port}"
        return {"HTTPS_PROXY": proxy, "https_proxy": proxy, "REQUESTS_CA_BUNDLE": str(self.ca_file),
                "NO_PROXY": "", "no_proxy": ""}

    def at(self, host: str) -> list[Captured]:
        with self._lock:
            return [r for r in self.requests if r.host == host]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set() and self._served < MAX_CONNECTIONS:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._served += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            head = _Reader(conn).head()
            method, target = head.split(b" ", 2)[:2]
            host, _, port = target.decode().partition(":")
            if method != b"CONNECT" or host not in ANSWERS or port != "443":
                with self._lock:
                    self.refused.append(target.decode(errors="replace"))
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with self._tls.wrap_socket(conn, server_side=True) as tls:
                reader = _Reader(tls)
                request = reader.head()
                lines = request.decode("utf-8").split("\r\n")
                verb, path = lines[0].split(" ")[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                body = reader.body(int(headers.get("content-length", "0")))
                parts = urlsplit(path)
                with self._lock:
                    self.requests.append(Captured(host, verb, parts.path, parse_qs(parts.query), headers, body))
                answer = json.dumps(ANSWERS[host]).encode()
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                            + f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            conn.close()


class _Reader:
    """Reads a request head and then its body from one socket, keeping what was read ahead."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.buffer = b""

    def head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.conn.recv(4096)
            if not chunk or len(self.buffer) > 65536:
                raise ValueError("no complete request head")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def body(self, length: int) -> bytes:
        while len(self.buffer) < length:
            chunk = self.conn.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        return self.buffer[:length]


def _make_certificates(ca_file: Path, cert_file: Path, key_file: Path, hosts: list[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "invoicewatch test bots CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
