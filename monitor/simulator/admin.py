"""The admin API, `/_admin/...`: set, list and clear faults; look at and reset state.

For local use: only loopback peers are answered, and when `simulator.admin_token` is set the
`X-Admin-Token` header must carry it. Plain JSON, no envelope; errors are {"error": "..."}.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.simulator.common import json_response, sim_of
from monitor.simulator.faults import catalog_json


def _error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/_admin"):
        response: web.StreamResponse = await handler(request)
        return response
    peer = request.remote or ""
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if not local:
        return _error(403, "the admin API answers loopback peers only")
    expected = sim_of(request).settings.admin_token
    given = request.headers.get("X-Admin-Token", "")
    if expected and not hmac.compare_digest(given.encode(), expected.encode()):
        return _error(401, "missing or wrong X-Admin-Token")
    answer: web.StreamResponse = await handler(request)
    return answer


async def list_faults(request: web.Request) -> web.Response:
    sim = sim_of(request)
    now = sim.clock.now()
    return json_response({
        "now": now.isoformat().replace("+00:00", "Z"),
        "faults": [f.describe(now) for f in sim.faults.all()],
    })  # fmt: skip


async def set_fault(request: web.Request) -> web.Response:
    sim = sim_of(request)
    try:
        body: Any = json.loads(await request.read() or b"{}")
    except ValueError:
        return _error(400, "the body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return _error(400, 'expected {"name": "...", "params": {...}, "for": "10m"}')
    params = body.get("params") or {}
    if not isinstance(params, dict):
        return _error(400, "params must be an object")
    try:
        fault = sim.faults.set(body["name"], params, body.get("for"))
    except ValueError as exc:
        return _error(400, str(exc))
    return json_response({"fault": fault.describe(sim.clock.now())})


async def clear_faults(request: web.Request) -> web.Response:
    return json_response({"cleared": sim_of(request).faults.clear()})


async def clear_fault(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        cleared = sim_of(request).faults.clear(name)
    except KeyError:
        return _error(404, f"fault {name!r} is not set")
    return json_response({"cleared": cleared})


async def catalog(request: web.Request) -> web.Response:
    return json_response(catalog_json())


async def state(request: web.Request) -> web.Response:
    return json_response(sim_of(request).describe())


async def reset_tokens(request: web.Request) -> web.Response:
    sim_of(request).tokens.reset()
    return json_response({"reset": True})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/_admin/faults", list_faults),
        web.post("/_admin/faults", set_fault),
        web.delete("/_admin/faults", clear_faults),
        web.delete("/_admin/faults/{name}", clear_fault),
        web.get("/_admin/catalog", catalog),
        web.get("/_admin/state", state),
        web.delete("/_admin/tokens", reset_tokens),
    ]
