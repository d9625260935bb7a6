"""Native mode, `/openapi/...`: the REST-ish shape of the `simulator` platform profile.

Every answer is HTTP 200 with {"code", "describe", "result"}; only E0000 means success.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.config.simulator import SimUser
from monitor.simulator import issuance
from monitor.simulator.common import as_int, as_object, json_response, parse_json, sim_of
from monitor.simulator.model import Invoice, Kind, SimError, apply_damage, china_text, parse_time
from monitor.simulator.state import Simulator
from monitor.simulator.transport import after, gate

CODES: dict[Kind, str] = {
    Kind.BAD_CREDENTIALS: "E1001",
    Kind.TOKEN_INVALID: "E1002",
    Kind.QUOTA: "E1003",
    Kind.FORBIDDEN: "E1005",
    Kind.TAX_LOGGED_OUT: "E2001",
    Kind.BAD_PARAM: "E3001",
    Kind.NOT_FOUND: "E3002",
    Kind.BAD_STATE: "E3003",
    Kind.REJECTED: "E3004",
    Kind.DUPLICATE: "E3005",
    Kind.BUSY: "E9999",
    Kind.BAD_SIGNATURE: "E1004",
    Kind.BAD_TIMESTAMP: "E1004",
    Kind.UNKNOWN_METHOD: "E3001",
}
OK = "E0000"


def envelope(code: str, describe: str, result: Any = None) -> web.Response:
    return json_response({"code": code, "describe": describe, "result": result})


def render(sim: Simulator, inv: Invoice) -> dict[str, Any]:
    record: dict[str, Any] = {
        "serialNo": inv.serial_no,
        "orderNo": inv.order_no,
        "invoiceType": inv.invoice_type,
        "invoiceCode": inv.invoice_code,
        "invoiceNo": inv.invoice_no,
        "invoiceDate": china_text(inv.issued_at),
        "totalAmount": inv.total,
        "taxAmount": inv.tax,
        "buyerName": inv.buyer_name,
        "buyerTaxNo": inv.buyer_tax_no,
        "sellerName": sim.settings.seller_name,
        "sellerTaxNo": sim.settings.seller_tax_no,
        "department": inv.department,
        "status": str(inv.status),
        "failCause": inv.fail_cause,
        "redFlag": inv.red_flag,
        "originalSerialNo": inv.original_serial,
        "updateTime": china_text(inv.updated_at),
    }
    apply_damage(record, sim.damage(inv), {})
    return record


Action = Callable[[Simulator, web.Request, SimUser | None], Awaitable[Any]]


def endpoint(op: str, action: Action, *, auth: bool = True) -> Handler:
    """Wrap an action: HTTP-level faults first, then the token, then the envelope."""

    async def handle(request: web.Request) -> web.StreamResponse:
        sim = sim_of(request)
        early = await gate(sim, request, op)
        if early is not None:
            return early
        try:
            user = sim.authenticate(_bearer(request)) if auth else None
            result = await action(sim, request, user)
        except SimError as exc:
            await after(sim, request, op)
            return envelope(CODES[exc.kind], exc.message, exc.result)
        await after(sim, request, op)
        return envelope(OK, "成功", result)

    return handle


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _user(user: SimUser | None) -> SimUser:
    assert user is not None  # every action but token runs after authentication
    return user


async def _body(request: web.Request) -> dict[str, Any]:
    return as_object(parse_json(await request.read()))


async def token(sim: Simulator, request: web.Request, user: SimUser | None) -> Any:
    body = await _body(request)
    grant = sim.token(str(body.get("appKey") or ""), str(body.get("appSecret") or ""))
    return {"accessToken": grant.token, "expiresIn": grant.expires_in(sim.clock.now()), "tokenType": "Bearer"}


async def list_invoices(sim: Simulator, request: web.Request, user: SimUser | None) -> Any:
    q = request.query
    if not q.get("start") or not q.get("end"):
        raise SimError(Kind.BAD_PARAM, "参数错误: start和end必填")
    page = sim.list_invoices(
        _user(user),
        parse_time(q["start"], "start"),
        parse_time(q["end"], "end", end_of_day=True),
        page=as_int(q.get("page"), "page", 1),
        page_size=as_int(q.get("pageSize"), "pageSize", 20),
        status=q.get("status") or None,
        order=q.get("order") or "desc",
    )
    return {
        "total": page.total,
        "page": page.page,
        "pageSize": page.page_size,
        "list": [render(sim, inv) for inv in page.items],
    }


async def get_invoice(sim: Simulator, request: web.Request, user: SimUser | None) -> Any:
    return render(sim, sim.get_invoice(_user(user), request.match_info["serialNo"]))


async def by_order(sim: Simulator, request: web.Request, user: SimUser | None) -> Any:
    return render(sim, sim.find_order(_user(user), request.match_info["orderNo"]))


async def issue(sim: Simulator, request: web.Request, user: SimUser | None) -> Any:
    body = await _body(request)
    req = issuance.make_request(
        order_no=body.get("orderNo"),
        buyer_name=body.get("buyerName"),
        buyer_tax_no=body.get("buyerTaxNo"),
        items=body.get("items"),
        invoice_type=body.get("invoiceType"),
        department=body.get("department"),
        remark=body.get("remark"),
    )
    job = sim.issue(_user(user), req)
    return {"serialNo": job.serial_no, "orderNo": job.order_no, "status": str(job.status)}


async def void(sim: Simulator, request: web.Request, user: SimUser | None) -> Any:
    await request.read()
    return render(sim, sim.void(_user(user), request.match_info["serialNo"]))


async def red_flush(sim: Simulator, request: web.Request, user: SimUser | None) -> Any:
    body = await _body(request)
    red = sim.red_flush(_user(user), request.match_info["serialNo"], str(body.get("reason") or ""))
    return {"serialNo": red.serial_no, "originalSerialNo": red.original_serial, "status": str(red.status)}


async def certification(sim: Simulator, request: web.Request, user: SimUser | None) -> Any:
    state = sim.certification(_user(user))
    return {
        "loggedIn": state["loggedIn"],
        "status": "logged_in" if state["loggedIn"] else "logged_out",
        "taxNo": state["taxNo"],
        "since": china_text(state["since"]),
    }


def routes() -> list[web.RouteDef]:
    return [
        web.post("/openapi/token", endpoint("token", token, auth=False)),
        web.get("/openapi/invoices", endpoint("list", list_invoices)),
        web.post("/openapi/invoices/issue", endpoint("issue", issue)),
        web.get("/openapi/invoices/{serialNo}", endpoint("get", get_invoice)),
        web.get("/openapi/orders/{orderNo}", endpoint("get", by_order)),
        web.post("/openapi/invoices/{serialNo}/void", endpoint("void", void)),
        web.post("/openapi/invoices/{serialNo}/red-flush", endpoint("red_flush", red_flush)),
        web.get("/openapi/certification", endpoint("certification", certification)),
    ]
