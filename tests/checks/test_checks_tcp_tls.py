"""The tcp and tls kinds against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from checks import run_check
from checks.base import Context
from checks.tcp import Spec as TcpSpec
from checks.tls import Spec as TlsSpec
from monitor.core.clock import FakeClock
from monitor.core.results import Status
from tests.checks.conftest import free_port


def tcp(port: int, **kw: Any) -> TcpSpec:
    return TcpSpec.model_validate({"name": "tcp", "kind": "tcp", "host": "127.0.0.1", "port": port, **kw})


def tls(port: int, **kw: Any) -> TlsSpec:
    return TlsSpec.model_validate({"name": "tls", "kind": "tls", "host": "127.0.0.1", "port": port,
                                   "server_name": "localhost", **kw})


async def banner_then_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 invoice-gw ready\r\n")
    await writer.drain()
    line = await reader.readline()
    writer.write(b"+" + line.strip().upper() + b"\r\n")
    await writer.drain()


async def test_tcp_connect_is_up_and_timed(tcp_server: Any, ctx: Context) -> None:
    port = await tcp_server(banner_then_echo)
    result = await run_check(tcp(port), ctx)
    assert result.status is Status.UP, result.message
    assert result.message.startswith(f"connected to 127.0.0.1:{port} in ")
    assert {"dns", "connect", "total"} <= set(result.phases)


async def test_tcp_refused_is_down(ctx: Context) -> None:
    port = free_port()
    result = await run_check(tcp(port), ctx)
    assert result.status is Status.DOWN
    assert result.message == f"connect to 127.0.0.1:{port} failed: Connection refused"


async def test_tcp_send_and_expect_checks_the_reply(tcp_server: Any, ctx: Context) -> None:
    port = await tcp_server(banner_then_echo)
    result = await run_check(tcp(port, send="ping\r\n", expect="+PING"), ctx)
    assert result.status is Status.UP, result.message
    assert "+PING" in result.values["banner"]


async def test_tcp_reply_without_expected_text_is_down_showing_what_came(tcp_server: Any, ctx: Context) -> None:
    port = await tcp_server(banner_then_echo)
    result = await run_check(tcp(port, expect="SSH-2.0", timeout="0.5s"), ctx)
    assert result.status is Status.DOWN
    assert result.message == (f"timed out after 0.5s waiting for the banner (127.0.0.1:{port}); "
                              "received '220 invoice-gw ready\\r\\n' without 'SSH-2.0'")


async def test_tcp_reply_ending_without_expected_text_is_down(tcp_server: Any, ctx: Context) -> None:
    async def goodbye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"421 busy\r\n")
        await writer.drain()

    port = await tcp_server(goodbye)
    result = await run_check(tcp(port, expect="220"), ctx)
    assert result.status is Status.DOWN
    assert result.message == f"reply from 127.0.0.1:{port} does not contain '220' (got '421 busy\\r\\n')"


async def test_tcp_conditions_read_the_banner(tcp_server: Any, ctx: Context) -> None:
    port = await tcp_server(banner_then_echo)
    result = await run_check(tcp(port, conditions=["[BODY] == pat(220 *)", "[CONNECTED] == true"]), ctx)
    assert result.status is Status.UP, result.message
    result = await run_check(tcp(port, conditions=["[BODY] == pat(421 *)"]), ctx)
    assert result.status is Status.DOWN
    assert result.message == '[BODY] == pat(421 *) failed: actual "220 invoice-gw ready\\r\\n"'


async def test_tcp_peer_closing_before_expected_text_is_down(hostile: Any, ctx: Context) -> None:
    port = await hostile("accept_and_close")
    result = await run_check(tcp(port, expect="READY"), ctx)
    assert result.status is Status.DOWN
    assert "does not contain 'READY' (got '')" in result.message


# -- tls ------------------------------------------------------------------------------------------
async def serve_tls(tcp_server: Any, cert: Any, **kw: Any) -> int:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)

    return int(await tcp_server(handler, cert.server_context(**kw)))


@pytest.mark.parametrize(
    ("days", "status", "words"),
    [
        (90, Status.UP, "valid for 90.0 more days"),
        (10, Status.DEGRADED, "expires in 10.0 days ("),
        (2, Status.DOWN, "expires in 2.0 days ("),
    ],
)
async def test_tls_days_left_against_thresholds(tcp_server: Any, make_cert: Any, ctx: Context, days: float,
                                                status: Status, words: str) -> None:
    cert = make_cert(("localhost",), days=days)
    port = await serve_tls(tcp_server, cert)
    result = await run_check(tls(port, ca_file=str(cert.cert_file)), ctx)
    assert result.status is status, result.message
    assert words in result.message
    assert result.values["days_left"] == pytest.approx(days, abs=0.01)
    assert result.values["dns_names"] == ["localhost"]
    assert {"connect", "tls", "total"} <= set(result.phases)


async def test_tls_expiry_follows_the_clock(tcp_server: Any, make_cert: Any, make_ctx: Any) -> None:
    cert = make_cert(("localhost",), days=30)
    port = await serve_tls(tcp_server, cert)
    clock = FakeClock(datetime.now(UTC))
    ctx = make_ctx(clock)
    assert (await run_check(tls(port, ca_file=str(cert.cert_file)), ctx)).status is Status.UP
    clock.advance(timedelta(days=20))
    assert (await run_check(tls(port, ca_file=str(cert.cert_file)), ctx)).status is Status.DEGRADED
    clock.advance(timedelta(days=11))
    result = await run_check(tls(port, verify=False, verify_hostname=False), ctx)
    assert result.status is Status.DOWN
    assert "expired 1.0 days ago" in result.message


async def test_tls_expired_certificate_is_down_with_evidence(tcp_server: Any, make_cert: Any, ctx: Context) -> None:
    cert = make_cert(("localhost",), days=-2, not_before_days=30)
    port = await serve_tls(tcp_server, cert)
    result = await run_check(tls(port, ca_file=str(cert.cert_file)), ctx)
    assert result.status is Status.DOWN
    assert "failed verification: certificate has expired" in result.message
    assert result.values["days_left"] == pytest.approx(-2, abs=0.01)


async def test_tls_wrong_host_name_is_down(tcp_server: Any, make_cert: Any, ctx: Context) -> None:
    cert = make_cert(("localhost",))
    port = await serve_tls(tcp_server, cert)
    result = await run_check(tls(port, server_name="invoice.example", ca_file=str(cert.cert_file)), ctx)
    assert result.status is Status.DOWN
    assert "certificate of invoice.example" in result.message and "Hostname mismatch" in result.message


async def test_tls_untrusted_chain_is_down_unless_verification_is_off(tcp_server: Any, make_cert: Any, ctx: Context) -> None:
    cert = make_cert(("localhost",))
    sni: list[str] = []
    port = await serve_tls(tcp_server, cert, sni=sni)
    result = await run_check(tls(port), ctx)
    assert result.status is Status.DOWN
    assert "self-signed certificate" in result.message
    result = await run_check(tls(port, verify=False, verify_hostname=False), ctx)
    assert result.status is Status.UP, result.message
    assert sni and set(sni) == {"localhost"}


async def test_tls_conditions_read_certificate_expiration(tcp_server: Any, make_cert: Any, ctx: Context) -> None:
    cert = make_cert(("localhost",), days=20)
    port = await serve_tls(tcp_server, cert)
    result = await run_check(tls(port, ca_file=str(cert.cert_file), min_days_left={"degraded": 1, "down": 0},
                                 conditions=["[CERTIFICATE_EXPIRATION] > 30d"]), ctx)
    assert result.status is Status.DOWN
    assert result.message.startswith("[CERTIFICATE_EXPIRATION] > 30d failed: actual 17")


async def test_tls_against_plain_tcp_is_down_naming_the_handshake(hostile: Any, ctx: Context) -> None:
    port = await hostile("http_500")
    result = await run_check(tls(port), ctx)
    assert result.status is Status.DOWN
    assert result.message.startswith(f"TLS handshake with 127.0.0.1:{port} failed:")
    assert result.values["failed_phase"] == "tls"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"verify": False}, "verify_hostname needs verify: true"),
        ({"ca_file": "/nonexistent/ca.pem"}, "cannot read CA file"),
        ({"min_days_left": {"degraded": 3, "down": 7}}, "must not be above"),
        ({"conditions": ["[STATUS] == 200"]}, "[STATUS] is not available in a tls check"),
    ],
)
def test_bad_tls_spec_is_a_config_error(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TlsSpec.model_validate({"name": "x", "kind": "tls", "host": "127.0.0.1", **extra})
