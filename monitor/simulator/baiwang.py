"""Baiwang mode, `/baiwang/router/rest`: shaped after the Baiwang open platform (TOP style).

One gateway URL; the API method, appKey, timestamp (ms) and token are query parameters; the
request is signed with MD5 over the sorted parameters and the body, wrapped in the secret
(see signing.py and API.md). Answers: {"success": true, "response": …} or
{"success": false, "errorResponse": {"code", "message", "subCode", "subMessage"}}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.config.simulator import SimUser
from monitor.simulator import issuance
from monitor.simulator.common import as_int, as_object, check_skew, json_response, parse_json, sim_of
from monitor.simulator.model import Invoice, Kind, SimError, Status, apply_damage, china_text, parse_time
from monitor.simulator.native import CODES as NATIVE_CODES
from monitor.simulator.signing import baiwang_sign, same
from monitor.simulator.state import Simulator
from monitor.simulator.transport import after, gate

CODES: dict[Kind, int] = {
    Kind.BAD_CREDENTIALS: 100001,
    Kind.TOKEN_INVALID: 100002,
    Kind.QUOTA: 100003,
    Kind.BAD_SIGNATURE: 100004,
    Kind.UNKNOWN_METHOD: 100005,
    Kind.BAD_TIMESTAMP: 100006,
    Kind.FORBIDDEN: 100007,
    Kind.BAD_PARAM: 200001,
    Kind.NOT_FOUND: 200002,
    Kind.BAD_STATE: 200003,
    Kind.REJECTED: 200004,
    Kind.DUPLICATE: 200005,
    Kind.TAX_LOGGED_OUT: 300001,
    Kind.BUSY: 500000,
}
TYPE_CODES = {"数电普票": "82", "数电专票": "81", "电子普票": "026"}
ISSUE_STATUS = {Status.ISSUING: "0", Status.FAILED: "2", Status.SEALING_FAILED: "3"}
INVOICE_STATUS = {Status.ISSUED: "00", Status.SEALING_FAILED: "00", Status.VOIDED: "02", Status.RED_FLUSHED: "03"}
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "totalAmount": ("invoiceTotalPriceTax",),
    "taxAmount": ("invoiceTotalTax",),
    "status": ("status", "invoiceStatus"),
}
STAMP = "%Y%m%d%H%M%S"


def render(sim: Simulator, inv: Invoice) -> dict[str, Any]:
    record: dict[str, Any] = {
        "serialNo": inv.serial_no,
        "orderNo": inv.order_no,
        "invoiceTypeCode": TYPE_CODES[inv.invoice_type],
        "invoiceCode": inv.invoice_code,
        "invoiceNo": inv.invoice_no,
        "invoiceDate": china_text(inv.issued_at, STAMP),
        "invoiceTotalPriceTax": inv.total,
        "invoiceTotalTax": inv.tax,
        "invoiceTotalPrice": round(inv.total - inv.tax, 2),
        "buyerName": inv.buyer_name,
        "buyerTaxNo": inv.buyer_tax_no,
        "department": inv.department,
        "status": ISSUE_STATUS.get(inv.status, "1"),
        "invoiceStatus": INVOICE_STATUS.get(inv.status, ""),
        "errorMessage": inv.fail_cause,
        "redFlag": inv.red_flag,
        "updateTime": china_text(inv.updated_at, STAMP),
    }
    apply_damage(record, sim.damage(inv), FIELD_MAP)
    return record


# --- methods ---------------------------------------------------------------------------------
def query(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    if p.get("serialNo"):
        return render(sim, sim.get_invoice(user, str(p["serialNo"])))
    if p.get("orderNo"):
        return render(sim, sim.find_order(user, str(p["orderNo"])))
    if not p.get("startDate") or not p.get("endDate"):
        raise SimError(Kind.BAD_PARAM, "参数错误: startDate和endDate必填(或给出serialNo)")
    page = sim.list_invoices(
        user,
        parse_time(p["startDate"], "startDate"),
        parse_time(p["endDate"], "endDate", end_of_day=True),
        page=as_int(p.get("pageNo"), "pageNo", 1),
        page_size=as_int(p.get("pageSize"), "pageSize", 20),
    )
    return {"total": page.total, "pageNo": page.page, "pageSize": page.page_size,
            "invoiceList": [render(sim, inv) for inv in page.items]}  # fmt: skip


def issue(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    code = str(p.get("invoiceTypeCode") or "82")
    kinds = {v: k for k, v in TYPE_CODES.items()}
    if code not in kinds:
        raise SimError(Kind.BAD_PARAM, "参数错误: invoiceTypeCode须为82/81/026")
    req = issuance.make_request(
        order_no=p.get("orderNo"),
        buyer_name=p.get("buyerName"),
        buyer_tax_no=p.get("buyerTaxNo"),
        items=p.get("invoiceDetailsList"),
        invoice_type=kinds[code],
        department=p.get("department"),
        remark=p.get("remarks"),
        item_keys=("goodsName", "goodsQuantity", "goodsPrice", "goodsTaxRate"),
    )
    job = sim.issue(user, req)
    return {"serialNo": job.serial_no, "status": ISSUE_STATUS[job.status]}


def invalid(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    inv = sim.void(user, str(p.get("serialNo") or ""))
    return {"serialNo": inv.serial_no, "invoiceStatus": INVOICE_STATUS[inv.status]}


def red(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    red_inv = sim.red_flush(user, str(p.get("serialNo") or ""), str(p.get("redReason") or ""))
    return {"serialNo": red_inv.serial_no, "originalSerialNo": red_inv.original_serial}


def login_status(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    state = sim.certification(user)
    return {"loginStatus": state["loggedIn"], "taxNo": state["taxNo"]}


Method = Callable[[Simulator, SimUser, dict[str, Any]], Any]
TOKEN_METHOD = "baiwang.oauth.token"
METHODS: dict[str, tuple[str, Method | None]] = {
    TOKEN_METHOD: ("token", None),
    "baiwang.output.invoice.query": ("list", query),
    "baiwang.output.invoice.issue": ("issue", issue),
    "baiwang.output.invoice.invalid": ("void", invalid),
    "baiwang.output.invoice.red": ("red_flush", red),
    "baiwang.output.tax.loginstatus": ("certification", login_status),
}


# --- the gateway -----------------------------------------------------------------------------
async def router(request: web.Request) -> web.StreamResponse:
    sim = sim_of(request)
    raw = await request.read()
    method = request.query.get("method", "")
    entry = METHODS.get(method)
    op = entry[0] if entry else None
    if op == "list" and (b"serialNo" in raw or b"orderNo" in raw):
        op = "get"  # one method, two operations: a fault aimed at `get` should hit this
    early = await gate(sim, request, op)
    if early is not None:
        return early
    head = {"method": method, "requestId": request.query.get("requestId", "")}
    try:
        result = _call(sim, request, raw, method, entry)
    except SimError as exc:
        await after(sim, request, op)
        error = {"code": CODES[exc.kind], "message": exc.message, "subCode": NATIVE_CODES[exc.kind],
                 "subMessage": exc.message}  # fmt: skip
        if exc.result:
            error["data"] = exc.result
        return json_response({**head, "success": False, "errorResponse": error})
    await after(sim, request, op)
    return json_response({**head, "success": True, "response": result})


def _call(sim: Simulator, request: web.Request, raw: bytes, method: str, entry: tuple[str, Method | None] | None) -> Any:
    params = {k: request.query.getone(k) for k in request.query}
    owner = sim.tokens.user(params.get("appKey", ""))
    if owner is None:
        raise SimError(Kind.BAD_SIGNATURE, "appKey不存在")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SimError(Kind.BAD_PARAM, "参数错误: 请求体须为UTF-8") from None
    if not same(params.get("sign", ""), baiwang_sign(owner.app_secret, params, body)):
        raise SimError(Kind.BAD_SIGNATURE, "签名错误")
    check_skew(sim, params.get("timestamp", ""), per_second=1000)
    if entry is None:
        raise SimError(Kind.UNKNOWN_METHOD, f"method不存在: {method or '(空)'}")
    p = as_object(parse_json(raw))
    fn = entry[1]
    if fn is None:  # the token method
        if str(p.get("clientId") or "") != owner.app_key:
            raise SimError(Kind.BAD_CREDENTIALS, "clientId与appKey不一致")
        grant = sim.token(owner.app_key, str(p.get("clientSecret") or ""))
        return {"access_token": grant.token, "expires_in": grant.expires_in(sim.clock.now()), "token_type": "bearer"}
    user = sim.authenticate(params.get("token"))
    if user.app_key != owner.app_key:
        raise SimError(Kind.TOKEN_INVALID, "token与appKey不匹配")
    return fn(sim, user, p)


def routes() -> list[web.RouteDef]:
    return [web.post("/baiwang/router/rest", router)]
