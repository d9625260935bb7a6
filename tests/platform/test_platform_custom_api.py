"""Any JSON platform is described by YAML alone: a differently shaped API written here (form
login with a session cookie, offset paging, a nested status envelope, ISO times with offsets,
a static API-key endpoint) is monitored by every generic kind without a line of code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from monitor.core.clock import FakeClock
from monitor.core.results import Status

SESSION_LIFE = timedelta(minutes=10)


def bills_app(clock: FakeClock, stats: dict[str, int]) -> web.Application:
    """An in-house 'ERP billing' API: nothing like the simulator's shape."""
    sessions: dict[str, datetime] = {}
    bills = [
        {
            "no": f"{26110000000000000000 + i}",
            "kind": "数电普票",
            "code": "",
            "meta": {"issued": (clock.now() - timedelta(minutes=2 * i)).astimezone().isoformat(), "total": f"{10 + i}.00"},
            "state": "ISSUED",
        }
        for i in range(40)
    ]
    bills[3]["meta"].pop("total")  # one damaged record

    def envelope(code: int, msg: str, data: Any = None) -> web.Response:
        return web.json_response({"status": {"code": code, "msg": msg}, "data": data})

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        stats["logins"] += 1
        if form.get("user") != "monitor" or form.get("password") != "pa55-w0rd-long":
            return envelope(403, "bad user or password")
        sid = f"sid{stats['logins']}x{clock.now().timestamp():.0f}"
        sessions[sid] = clock.now() + SESSION_LIFE
        response = envelope(0, "ok")
        response.set_cookie("SID", sid, httponly=True)
        return response

    def authed(request: web.Request) -> bool:
        expiry = sessions.get(request.cookies.get("SID", ""))
        return expiry is not None and clock.now() < expiry

    async def list_bills(request: web.Request) -> web.Response:
        if not authed(request):
            return envelope(401, "session expired")
        since = datetime.fromtimestamp(int(request.query["from"]), UTC)
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        found = [b for b in bills if datetime.fromisoformat(b["meta"]["issued"]) >= since]
        return envelope(0, "ok", {"count": len(found), "bills": found[offset : offset + limit]})

    async def health(request: web.Request) -> web.Response:
        if request.headers.get("X-Api-Key") != "static-key-123456":
            return web.json_response({"error": "forbidden"}, status=401)
        return web.json_response({"healthy": True, "version": "2.4"})

    app = web.Application()
    app.add_routes([web.post("/api/login", login), web.get("/api/v2/bills", list_bills), web.get("/api/health", health)])
    return app


def config(url: str) -> str:
    return f"""
platforms:
  erp:
    base_url: {url}
    timezone: Asia/Shanghai
    credentials: {{user: monitor, password: pa55-w0rd-long}}
    auth:
      scheme: form
      request: {{method: POST, path: /api/login, form: {{user: "{{user}}", password: "{{password}}"}}}}
      cookie: SID
      rejected: {{http_status: [], codes: [401]}}
    envelope: {{code: $.status.code, ok: [0], message: $.status.msg, forbidden: [403]}}
    operations:
      list_invoices:
        request:
          path: /api/v2/bills
          params: {{from: "{{since:epoch}}", offset: "{{offset}}", limit: "{{page_size}}"}}
        items: $.data.bills
        total: $.data.count
        paging: {{first: 0, size: 15, max_pages: 10}}
    fields:
      number: $.no
      code: $.code
      date: $.meta.issued
      amount: $.meta.total
      status: $.state
    statuses: {{issued: [ISSUED]}}
  erp-health:
    base_url: {url}
    auth: {{scheme: header, header: {{X-Api-Key: static-key-123456}}}}
    operations:
      health: {{request: {{path: /api/health}}, extract: {{version: $.version}}}}
checks:
  - {{name: erp-login, kind: login, platform: erp, operation: list_invoices}}
  - {{name: erp-query, kind: query, platform: erp, window: 2h, limit: 100, min_items: 30}}
  - {{name: erp-complete, kind: completeness, platform: erp, window: 2h, required: [number, code, date, amount]}}
  - {{name: erp-fresh, kind: freshness, platform: erp, max_lag: {{degraded: 5m, down: 30m}}}}
  - name: erp-health
    kind: flow
    platform: erp-health
    steps:
      - {{name: health, operation: health, conditions: ["[BODY].healthy == true", "[STATUS] == 200"]}}
"""


async def test_a_differently_shaped_api_is_monitored_by_yaml_alone(http_server, make_env, clock: FakeClock) -> None:
    stats = {"logins": 0}
    url = await http_server(bills_app(clock, stats))
    env = make_env(config(url))

    login = await env.run("erp-login")
    assert login.status is Status.UP, login.message
    query = await env.run("erp-query")
    assert query.status is Status.UP, query.message
    assert query.values["items"] == 40 and query.values["pages"] == 3 and query.values["total"] == 40

    complete = await env.run("erp-complete")
    assert complete.status is Status.DEGRADED  # 1 of 40 = 2.5%, above the 1% default
    assert complete.values["missing_fields"] == {"amount": 1}
    assert complete.values["examples"] == ["26110000000000000003"]  # 数电: empty code is fine

    fresh = await env.run("erp-fresh")
    assert fresh.status is Status.UP and fresh.values["lag_s"] == 0

    health = await env.run("erp-health")
    assert health.status is Status.UP and health.steps[0].values["version"] == "2.4"
    assert stats["logins"] == 1  # one session shared by four checks

    clock.advance(SESSION_LIFE + timedelta(minutes=1))  # the session expires on the server
    again = await env.run("erp-query")
    assert again.status is Status.UP, again.message
    assert again.steps[0].values.get("auth_retried") is True
    assert stats["logins"] == 2
    assert "pa55-w0rd-long" not in repr(again) and "sid" not in repr(again.values)

    clock.advance(timedelta(minutes=40))  # nothing new for 40 minutes
    stale = await env.run("erp-fresh")
    assert stale.status is Status.DOWN and stale.values["lag_s"] >= 40 * 60


async def test_wrong_form_credentials_are_down_with_the_envelope_message(http_server, make_env, clock: FakeClock) -> None:
    url = await http_server(bills_app(clock, {"logins": 0}))
    env = make_env(config(url).replace("password: pa55-w0rd-long", "password: wrong-password"))
    result = await env.run("erp-login")
    assert result.status is Status.DOWN
    assert result.values["envelope_code"] == 403 and "bad user or password" in result.message
