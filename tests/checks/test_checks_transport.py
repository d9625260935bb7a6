"""checks.transport.ProbeTransport under httpx, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import httpx
import pytest
from aiohttp import web

from checks.client import HttpClientFactory, read_capped
from checks.timing import Phases
from checks.transport import ProbeTransport
from monitor.core.clock import SystemClock


def app() -> web.Application:
    async def chunked(_r: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(_r)
        for part in (b"one,", b"two,", b"three"):
            await response.write(part)
        await response.write_eof()
        return response

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"method": request.method, "body": (await request.text()),
                                  "connection": request.headers.get("Connection"), "ua": request.headers.get("User-Agent")})

    async def zipped(_r: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(b"hello " * 1000), headers={"Content-Encoding": "gzip"})

    application = web.Application()
    application.router.add_get("/chunked", chunked)
    application.router.add_route("*", "/echo", echo)
    application.router.add_get("/zipped", zipped)
    return application


async def test_client_over_the_transport_reads_chunked_gzip_and_posts(http_server: Any) -> None:
    base = await http_server(app())
    http = HttpClientFactory()
    try:
        client = http.client(keepalive=True)
        response = await client.send(client.build_request("GET", f"{base}/chunked"), stream=True)
        assert (await read_capped(response)) == (b"one,two,three", False)
        response = await client.send(client.build_request("GET", f"{base}/zipped"), stream=True)
        assert (await read_capped(response)) == (b"hello " * 1000, False)
        answer = (await client.post(f"{base}/echo", json={"a": 1})).json()
        assert answer["method"] == "POST" and answer["body"] == '{"a":1}' and answer["ua"].startswith("invoicewatch/")
    finally:
        await http.aclose()


async def test_keepalive_reuses_one_connection_and_probes_never_do(http_server: Any) -> None:
    base = await http_server(app())
    for keepalive, opened in ((True, 1), (False, 3)):
        transport = ProbeTransport(keepalive=keepalive)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(3):
                answer = (await client.get(f"{base}/echo")).json()
                assert answer["connection"] == ("keep-alive" if keepalive else "close")
        assert transport.opened == opened


async def test_connection_the_server_closed_while_idle_is_replaced(http_server: Any) -> None:
    closed_by_server = 0

    async def once(request: web.Request) -> web.Response:
        nonlocal closed_by_server
        closed_by_server += 1
        return web.Response(text="ok", headers={"Connection": "keep-alive"})

    application = web.Application()
    application.router.add_get("/", once)
    runner = web.AppRunner(application, access_log=None, keepalive_timeout=0.01)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    transport = ProbeTransport(keepalive=True)
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.get(f"http://127.0.0.1:{port}/")).text == "ok"
            # Wait (bounded) until the server has dropped the idle connection.
            for _ in range(200):
                conns = [c for cs in transport._idle.values() for c in cs]
                if not conns or conns[0].eof:
                    break
                await asyncio.sleep(0.01)
            assert (await client.get(f"http://127.0.0.1:{port}/")).text == "ok"
    finally:
        await runner.cleanup()
    assert closed_by_server == 2 and transport.opened == 2


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "complete message body"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "illegal header line"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "illegal status line"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 300 + b"\r\n", "header lines"),
        (b"", "without sending a response"),
    ],
)
async def test_broken_responses_raise_httpx_errors(wire: bytes, error: str, tcp_server: Any) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(wire)
        await writer.drain()
        writer.close()

    port = await tcp_server(handler)
    transport = ProbeTransport()
    with pytest.raises(httpx.HTTPError, match=error):
        response = await transport.handle_async_request(httpx.Request("GET", f"http://127.0.0.1:{port}/"))
        await read_capped(response)


async def test_phases_come_from_the_transport(http_server: Any) -> None:
    base = await http_server(app())
    phases = Phases(SystemClock())
    transport = ProbeTransport()
    request = httpx.Request("GET", f"{base}/echo", extensions={"trace": phases.trace})
    response = await transport.handle_async_request(request)
    await read_capped(response)
    assert set(phases.total()) == {"connect", "ttfb", "total"}
    assert all(v >= 0 for v in phases.total().values())
