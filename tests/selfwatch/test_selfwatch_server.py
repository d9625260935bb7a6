"""The built-in server at the connection level, with raw sockets against a real server on port
0: what aiohttp's parser refuses still gets our headers and no version banner, and one log
line without a traceback; slow headers and slow bodies are cut off; one client cannot hold
more than its share of connections."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.config.status_page import StatusPageSection
from monitor.server import SECURITY_HEADERS, make_app, start

BAD_REQUESTS = {
    "garbage": b"HELLO THERE\r\n\r\n",
    "tls-hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32 + b"\r\n\r\n",
    "header-without-colon": b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    "request-line-too-long": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad-content-length": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "script-in-version": b"GET / HTTP/<script>\r\nHost: x\r\n\r\n",
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[int]:
    (tmp_path / "index.html").write_text("<!doctype html><title>ok</title>", encoding="utf-8")
    section = StatusPageSection(
        header_timeout="1500ms", body_timeout="1s", max_connections_per_client=3,  # type: ignore[arg-type]
    )
    runner, port = await start(make_app(tmp_path, section), "127.0.0.1", 0)
    yield port
    await runner.cleanup()


async def exchange(port: int, data: bytes, seconds: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; status, headers, body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), seconds)
    writer.close()
    return parse(raw)


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, val = line.partition(":")
        headers[name.strip().lower()] = val.strip()
    return int(lines[0].split()[1]), headers, body


def assert_guarded(headers: dict[str, str]) -> None:
    for name, expected in SECURITY_HEADERS.items():
        assert headers.get(name.lower()) == expected, (name, headers)
    assert "aiohttp" not in headers["server"] and "python" not in headers["server"].lower()


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
async def test_parser_errors_carry_our_headers_and_one_log_line(
    server: int, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        status, headers, body = await exchange(server, BAD_REQUESTS[name])
    assert status == 400
    assert_guarded(headers)
    assert body == b"400 Bad Request\n"  # nothing of what the client sent is echoed
    ours = [r for r in caplog.records if r.name.startswith(("monitor.webguard", "aiohttp"))]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    assert ours[0].levelno == logging.WARNING and ours[0].exc_info is None and ours[0].exc_text is None
    assert ours[0].getMessage().startswith("bad request from 127.0.0.1: 400 ")
    assert "\n" not in ours[0].getMessage()


async def test_ordinary_responses_have_no_version_banner_either(server: int) -> None:
    for target in ("/", "/nope", "/healthz", "/metrics"):
        status, headers, _ = await exchange(server, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert status in (200, 404)
        assert_guarded(headers)


async def test_a_slowloris_is_cut_off_after_the_header_timeout(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 100 + b"\r\n\r\n"
    started = time.monotonic()
    sent = 0
    try:
        for byte in request:  # one byte every 250 ms: the whole request would take 30 s
            if reader.at_eof():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.25)
        leftover = await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        leftover = b""
    finally:
        writer.close()
    held = time.monotonic() - started
    assert leftover == b"" and sent < len(request)
    assert 1.4 <= held < 8, held  # header_timeout 1.5 s


async def test_a_body_that_does_not_arrive_is_answered_408(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
    await writer.drain()
    started = time.monotonic()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status, headers, _ = parse(raw)
    assert status == 408
    assert_guarded(headers)
    assert time.monotonic() - started < 8


async def test_one_client_cannot_hold_more_than_its_connections(server: int, caplog: pytest.LogCaptureFixture) -> None:
    held = [await asyncio.open_connection("127.0.0.1", server) for _ in range(3)]
    with caplog.at_level(logging.WARNING, logger="monitor.webguard"):
        status, headers, body = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        again, _, _ = await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, again) == (503, 503)
    assert_guarded(headers)
    assert body == b"503 Service Unavailable\n"
    refusals = [r.getMessage() for r in caplog.records if r.name == "monitor.webguard"]
    assert refusals == ["client 127.0.0.1 holds 3 connections (max_connections_per_client); refusing more"]
    # Connections in use still work; a closed one frees a place.
    reader, writer = held[0]
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert parse(await asyncio.wait_for(reader.read(), 10))[0] == 200
    writer.close()

    async def served() -> bool:
        return (await exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))[0] == 200

    for _ in range(100):  # bounded: the server sees the close within a loop turn or two
        if await served():
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("a freed connection slot was not reused")
    for _, w in held[1:]:
        w.close()
