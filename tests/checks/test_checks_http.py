"""The http kind against real aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import ValidationError

from checks import run_check
from checks.base import Context
from checks.http import Spec
from monitor.config import load_config
from monitor.core.errors import ConfigError
from monitor.core.results import Status


def spec(url: str, **kw: Any) -> Spec:
    return Spec.model_validate({"name": "probe", "kind": "http", "url": url, **kw})


def app(routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]) -> web.Application:
    application = web.Application()
    for path, handler in routes.items():
        application.router.add_route("*", path, handler)
    return application


INVOICES = {"code": "E0000", "describe": "ok", "result": {"list": [{"invoiceNo": "044001900111"}], "token": "t"}}


async def invoices(_r: web.Request) -> web.Response:
    return web.json_response(INVOICES)


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "host": request.headers.get("Host"),
            "query": dict(request.query),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body.decode(),
            "content_type": request.content_type,
        }
    )


async def test_healthy_json_api_is_up_with_conditions_and_phases(http_server: Any, ctx: Context) -> None:
    base = await http_server(app({"/api": invoices}))
    result = await run_check(
        spec(f"{base}/api", conditions=["[STATUS] == 200", "[BODY].code == E0000", '[BODY].result.list[0].invoiceNo != ""',
                                         "[HEADER].content-type == pat(*json*)", "[RESPONSE_TIME] < 5s", "[IP] == 127.0.0.1"]),
        ctx,
    )
    assert result.status is Status.UP, result.message
    assert [c.ok for c in result.conditions] == [True] * 6
    assert result.conditions[2].actual == "044001900111"
    assert set(result.phases) >= {"dns", "connect", "ttfb", "transfer", "total"}
    assert result.phases["dns"] == 0.0  # an IP literal is not looked up
    assert result.latency_ms == result.phases["total"]
    assert result.values == {"http_status": 200, "body_bytes": len(json.dumps(INVOICES)), "redirects": 0}
    assert result.message.startswith("HTTP 200 in ")


async def test_failed_condition_says_what_failed_in_words(http_server: Any, ctx: Context) -> None:
    async def broken(_r: web.Request) -> web.Response:
        return web.json_response({"code": "E9999", "describe": "签名错误"}, status=503)

    base = await http_server(app({"/api": broken}))
    result = await run_check(spec(f"{base}/api", conditions=["[STATUS] == 200", "[BODY].code == E0000"]), ctx)
    assert result.status is Status.DOWN
    assert result.message == "[STATUS] == 200 failed: actual 503; [BODY].code == E0000 failed: actual E9999"
    assert result.values["http_status"] == 503


@pytest.mark.parametrize(("status", "expected"), [(200, Status.UP), (302, Status.UP), (404, Status.DOWN), (500, Status.DOWN)])
async def test_default_condition_is_status_below_400(http_server: Any, ctx: Context, status: int, expected: Status) -> None:
    async def handler(_r: web.Request) -> web.Response:
        return web.Response(status=status, text="x")

    base = await http_server(app({"/": handler}))
    result = await run_check(spec(f"{base}/", follow_redirects=False), ctx)
    assert result.status is expected
    if expected is Status.DOWN:
        assert result.message == f"[STATUS] < 400 failed: actual {status}"


async def test_name_is_resolved_and_host_header_kept(http_server: Any, ctx: Context) -> None:
    base = await http_server(app({"/echo": echo}))
    port = base.rsplit(":", 1)[1]
    result = await run_check(spec(f"http://localhost:{port}/echo", conditions=[f"[BODY].host == localhost:{port}"]), ctx)
    assert result.status is Status.UP, result.message
    assert "dns" in result.phases


async def test_request_sends_method_headers_params_and_json(http_server: Any, ctx: Context) -> None:
    base = await http_server(app({"/echo": echo}))
    s = spec(
        f"{base}/echo?fixed=1", method="POST", headers={"X-App": "iw"}, params={"page": 2, "all": True},
        json={"invoiceNo": "1"},
        conditions=["[BODY].method == POST", "[BODY].headers.x-app == iw", "[BODY].query.fixed == 1",
                    "[BODY].query.page == 2", "[BODY].query.all == true", "[BODY].content_type == application/json",
                    '[BODY].body == \'{"invoiceNo":"1"}\''],
    )
    result = await run_check(s, ctx)
    assert result.status is Status.UP, result.message


async def test_form_body_is_sent_form_encoded(http_server: Any, ctx: Context) -> None:
    base = await http_server(app({"/echo": echo}))
    s = spec(f"{base}/echo", method="POST", form={"a": "1", "b": "发票"},
             conditions=["[BODY].content_type == application/x-www-form-urlencoded", "[BODY].body == pat(a=1&b=*)"])
    result = await run_check(s, ctx)
    assert result.status is Status.UP, result.message


async def test_redirects_are_followed_and_each_hop_timed(http_server: Any, ctx: Context) -> None:
    async def first(_r: web.Request) -> web.Response:
        raise web.HTTPFound("/second")

    async def second(_r: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/echo")

    base = await http_server(app({"/first": first, "/second": second, "/echo": echo}))
    result = await run_check(spec(f"{base}/first", method="POST", json={"a": 1}, conditions=["[BODY].method == GET"]), ctx)
    assert result.status is Status.UP, result.message
    assert result.values["redirects"] == 2
    hops = result.values["hops"]
    assert [h["status"] for h in hops] == [302, 303]
    assert all(h["ms"] >= 0 for h in hops)


async def test_redirect_loop_stops_at_max_redirects(http_server: Any, ctx: Context) -> None:
    async def loop_(_r: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    base = await http_server(app({"/loop": loop_}))
    result = await run_check(spec(f"{base}/loop", max_redirects=3), ctx)
    assert result.status is Status.DOWN
    assert result.message.startswith("more than 3 redirects")


async def test_redirect_is_not_followed_when_disabled(http_server: Any, ctx: Context) -> None:
    async def moved(_r: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/elsewhere")

    base = await http_server(app({"/": moved}))
    result = await run_check(spec(f"{base}/", follow_redirects=False, conditions=["[STATUS] == 301",
                                                                                 "[HEADER].location == /elsewhere"]), ctx)
    assert result.status is Status.UP, result.message
    assert result.values["redirects"] == 0


async def test_cross_host_redirect_drops_credentials(http_server: Any, ctx: Context) -> None:
    target = await http_server(app({"/echo": echo}))
    port = target.rsplit(":", 1)[1]

    async def away(_r: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{port}/echo")

    base = await http_server(app({"/": away}))
    s = spec(f"{base}/", headers={"Authorization": "Bearer secret", "X-Keep": "1"},
             conditions=["has([BODY].headers.authorization) == false", "[BODY].headers.x-keep == 1"])
    result = await run_check(s, ctx)
    assert result.status is Status.UP, result.message


async def test_large_body_is_read_up_to_max_body_and_noted(http_server: Any, ctx: Context) -> None:
    async def big(_r: web.Request) -> web.Response:
        return web.Response(body=b"x" * 300_000)

    base = await http_server(app({"/": big}))
    result = await run_check(spec(f"{base}/", max_body=100_000), ctx)
    assert result.status is Status.UP
    assert result.values["body_bytes"] == 100_000
    assert result.values["body_truncated"] is True
    assert "body truncated at 100000 bytes" in result.message


async def test_probes_do_not_share_cookies(http_server: Any, ctx: Context) -> None:
    async def set_cookie(_r: web.Request) -> web.Response:
        response = web.Response(text="set")
        response.set_cookie("session", "abc")
        return response

    base = await http_server(app({"/set": set_cookie, "/echo": echo}))
    await run_check(spec(f"{base}/set"), ctx)
    result = await run_check(spec(f"{base}/echo", conditions=["has([BODY].headers.cookie) == false"]), ctx)
    assert result.status is Status.UP, result.message


async def test_connection_refused_is_down_naming_the_connect_phase(ctx: Context) -> None:
    from tests.checks.conftest import free_port

    result = await run_check(spec(f"http://127.0.0.1:{free_port()}/"), ctx)
    assert result.status is Status.DOWN
    assert "connect to 127.0.0.1:" in result.message and "Connection refused" in result.message
    assert result.values["failed_phase"] == "connect"


async def test_hanging_server_times_out_naming_the_phase(hostile: Any, ctx: Context) -> None:
    port = await hostile("hang")
    result = await run_check(spec(f"http://127.0.0.1:{port}/", timeout="0.5s"), ctx)
    assert result.status is Status.DOWN
    assert result.message == "timed out after 0.5s waiting for the response"
    assert result.values["failed_phase"] == "ttfb"


async def test_https_keeps_sni_and_reports_certificate_expiry(tcp_server: Any, make_cert: Any, ctx: Context) -> None:
    cert = make_cert(("localhost",), days=30)
    seen: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()

    port = await tcp_server(handler, cert.server_context(sni=seen))
    s = spec(f"https://localhost:{port}/", verify_tls=False,
             conditions=["[CERTIFICATE_EXPIRATION] > 29d", "[CERTIFICATE_EXPIRATION] < 31d", "[BODY] == ok"])
    result = await run_check(s, ctx)
    assert result.status is Status.UP, result.message
    assert seen == ["localhost"]
    assert {"dns", "connect", "tls", "ttfb"} <= set(result.phases)


async def test_untrusted_certificate_is_down_naming_the_tls_phase(tcp_server: Any, make_cert: Any, ctx: Context) -> None:
    cert = make_cert(("localhost",))

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)

    port = await tcp_server(handler, cert.server_context())
    result = await run_check(spec(f"https://localhost:{port}/"), ctx)
    assert result.status is Status.DOWN
    assert result.message.startswith(f"TLS handshake with 127.0.0.1:{port} failed: certificate verify failed: self")
    assert result.values["failed_phase"] == "tls"


async def test_injected_transport_is_used_without_resolving(make_ctx: Any) -> None:
    seen: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"ok": True})

    ctx = make_ctx(transport=httpx.MockTransport(respond))
    result = await run_check(spec("http://platform.invalid/health", conditions=["[BODY].ok == true"]), ctx)
    assert result.status is Status.UP, result.message
    assert seen == ["http://platform.invalid/health"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"url": "ftp://x/"}, "must start with http:// or https://"),
        ({"url": "http://"}, "URL has no host"),
        ({"json": {"a": 1}, "form": {"a": "1"}}, "json and form are mutually exclusive"),
        ({"headers": {"Host": "x"}}, "Host comes from the URL"),
        ({"conditions": ["[ROW].x == 1"]}, "[ROW] is not available in an http check"),
        ({"method": "FETCH"}, "Input should be"),
    ],
)
def test_bad_http_spec_is_a_config_error(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Spec.model_validate({"name": "x", "kind": "http", "url": "http://127.0.0.1/", **extra})


def test_bad_condition_in_config_file_names_file_line_and_key(tmp_path: Any) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "checks:\n"
        "  - name: api\n"
        "    kind: http\n"
        "    url: http://127.0.0.1:8900/health\n"
        "    conditions:\n"
        "      - '[STATUS] == 200'\n"
        "      - '[BODY].code = E0000'\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert str(problem).startswith(f"{path}:7:")
    assert "checks[0].conditions[1]: '=' is not an operator" in str(problem)
    assert "(column 13 of '[BODY].code = E0000')" in str(problem)


def test_spec_round_trips_through_dump() -> None:
    s = spec("http://127.0.0.1/", json={"a": [1]}, conditions=["[STATUS] == 200"])
    dumped = s.model_dump(by_alias=True)
    assert dumped["json"] == {"a": [1]} and dumped["conditions"] == ["[STATUS] == 200"]
    assert Spec.model_validate(dumped) == s
