"""Cause text that is right: the envelope's code and message travel together, a success code is
never a cause, and a logged-out tax bureau is said in words (issue 15.4)."""

from __future__ import annotations

from aiohttp import web

from monitor.core.results import Status
from tests.platform.platform_kit import SimHandle, platform_yaml


def gateway_app() -> web.Application:
    """A Nuonuo-shaped gateway that puts its text somewhere the profile did not say."""

    async def services(request: web.Request) -> web.Response:
        if request.query.get("case") == "silent":
            return web.json_response({"code": "070399", "result": None})
        return web.json_response({"code": "070305", "msg": "签名已过期", "result": None})

    app = web.Application()
    app.add_routes([web.get("/services", services)])
    return app


def config(url: str) -> str:
    return f"""
platforms:
  gw:
    base_url: {url}
    envelope: {{code: $.code, ok: [E0000], message: $.describe}}
    operations:
      list_invoices: {{request: {{path: /services}}, items: $.result}}
      silent: {{request: {{path: /services, params: {{case: silent}}}}, items: $.result}}
checks:
  - {{name: q, kind: query, platform: gw}}
  - {{name: q-silent, kind: query, platform: gw, operation: silent}}
"""


async def test_a_code_is_never_reported_without_its_message(http_server, make_env) -> None:
    env = make_env(config(await http_server(gateway_app())))
    result = await env.run("q")
    assert result.status is Status.DOWN
    assert result.values["envelope_code"] == "070305"
    assert result.values["envelope_message"] == "签名已过期"  # found at $.msg, beside the code
    assert "070305: 签名已过期" in result.message
    silent = await env.run("q-silent")
    assert silent.values["envelope_code"] == "070399"
    assert silent.values["envelope_message"] == "(no message in the answer)"


async def test_a_logged_out_tax_bureau_is_said_in_words_and_not_as_the_success_code(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + "checks:\n  - {name: login, kind: login, platform: sim}\n")
    await sim.fault("tax_logged_out")
    result = await env.run("login")
    assert result.status is Status.DOWN
    assert "envelope_code" not in result.values  # the answer was E0000: that is not the cause
    assert result.values["envelope_message"] == "tax bureau: 未登录税局 logged out (state logged_out)"
    assert "not logged in at the tax bureau: 未登录税局 logged out" in result.message
    assert [s.values.get("envelope_code") for s in result.steps if "envelope_code" in s.values] == []


async def test_successful_steps_carry_no_envelope_code(sim: SimHandle, make_env) -> None:
    env = make_env(platform_yaml(sim.url) + "checks:\n  - {name: login, kind: login, platform: sim}\n")
    result = await env.run("login")
    assert result.status is Status.UP
    assert not any("envelope_code" in s.values or "envelope_message" in s.values for s in result.steps)

