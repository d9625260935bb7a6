"""Nuonuo mode, `/nuonuo/...`: shaped after the Nuonuo open platform SDK.

An OAuth-style token endpoint, then one gateway URL for every API: the method in a header,
the request signed with HMAC-SHA1 of the app secret (see signing.py and API.md), business
answers in {"code", "describe", "result"}. 数电 numbers travel in `allElectronicInvoiceNumber`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.config.simulator import SimUser
from monitor.simulator import issuance
from monitor.simulator.common import as_int, as_object, check_skew, json_response, parse_json, sim_of
from monitor.simulator.model import Invoice, Kind, SimError, Status, apply_damage, epoch_ms, parse_time
from monitor.simulator.native import CODES as NATIVE_CODES
from monitor.simulator.signing import nuonuo_sign, same
from monitor.simulator.state import Simulator
from monitor.simulator.transport import after, gate

GATEWAY_CODES: dict[Kind, str] = {
    Kind.BAD_SIGNATURE: "070301",
    Kind.TOKEN_INVALID: "070302",
    Kind.BAD_TIMESTAMP: "070303",
    Kind.UNKNOWN_METHOD: "070304",
}
TOKEN_ERRORS: dict[Kind, str] = {Kind.BAD_CREDENTIALS: "070101", Kind.QUOTA: "070102", Kind.BAD_PARAM: "070103"}
# Nuonuo's published status table (queryInvoiceResult.status): 2 开票完成 (final), 20 开票中,
# 21 开票成功签章中, 22 开票失败, 24 开票成功签章失败, 3 发票已作废, 31 发票作废中; "4 发票已红冲"
# is in the variant of the table that reports red-flushes. 21 and 31 are passed through on the
# way (see `_stage`): neither is final, and 31 is not red-flushed.
STATUS = {
    Status.ISSUING: ("20", "开票中"),
    Status.ISSUED: ("2", "开票完成"),
    Status.FAILED: ("22", "开票失败"),
    Status.SEALING_FAILED: ("24", "开票成功签章失败"),
    Status.VOIDED: ("3", "发票已作废"),
    Status.RED_FLUSHED: ("4", "发票已红冲"),
}
SEALING = ("21", "开票成功签章中")
VOIDING = ("31", "发票作废中")
LINES = {"数电普票": "pc", "数电专票": "bs", "电子普票": "p"}
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "invoiceNo": ("invoiceNo", "allElectronicInvoiceNumber"),
    "invoiceDate": ("invoiceTime",),
    "totalAmount": ("orderAmount",),
    "buyerName": ("payerName",),
    "buyerTaxNo": ("payerTaxNo",),
}


def code_of(kind: Kind) -> str:
    return GATEWAY_CODES.get(kind) or NATIVE_CODES[kind]


def _stage(sim: Simulator, inv: Invoice) -> tuple[str, str]:
    """The statuses on the way: the last second before an issuance settles shows 21 (issued,
    seal not on yet), the first second after a void shows 31 (being voided)."""
    now = sim.clock.now()
    settling = inv.status == Status.ISSUING and inv.ready_at is not None and inv.outcome in (Status.ISSUED, Status.SEALING_FAILED)
    if settling and inv.ready_at is not None and (inv.ready_at - now).total_seconds() <= 1:
        return SEALING
    if inv.status == Status.VOIDED and (now - inv.updated_at).total_seconds() < 1:
        return VOIDING
    return STATUS[inv.status]


def render(sim: Simulator, inv: Invoice) -> dict[str, Any]:
    """The record as Nuonuo's queryInvoiceResult publishes it (field names and meanings)."""
    status, message = _stage(sim, inv)
    record: dict[str, Any] = {
        "serialNo": inv.serial_no,
        "orderNo": inv.order_no,
        "status": status,
        "statusMsg": message,
        "failCause": inv.fail_cause,
        "invoiceType": "2" if inv.red_flag else "1",
        "invoiceLine": LINES[inv.invoice_type],
        "invoiceCode": inv.invoice_code,
        "invoiceNo": inv.invoice_no,  # 数电: the 20-digit number here too, as published
        "allElectronicInvoiceNumber": inv.invoice_no if inv.digital else "",
        "invoiceTime": epoch_ms(inv.issued_at),
        "payerName": inv.buyer_name,
        "payerTaxNo": inv.buyer_tax_no,
        "orderAmount": f"{inv.total:.2f}",
        "exTaxAmount": f"{inv.total - inv.tax:.2f}",
        "taxAmount": f"{inv.tax:.2f}",
        "department": inv.department,
        "updateTime": epoch_ms(inv.updated_at),
    }
    apply_damage(record, sim.damage(inv), FIELD_MAP)
    return record


# --- methods ---------------------------------------------------------------------------------
def query_list(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    if not p.get("startTime") or not p.get("endTime"):
        raise SimError(Kind.BAD_PARAM, "参数错误: startTime和endTime必填")
    page = sim.list_invoices(
        user,
        parse_time(p["startTime"], "startTime"),
        parse_time(p["endTime"], "endTime", end_of_day=True),
        page=as_int(p.get("pageNo"), "pageNo", 1),
        page_size=as_int(p.get("pageSize"), "pageSize", 20),
    )
    return {"total": page.total, "pageNo": page.page, "pageSize": page.page_size,
            "list": [render(sim, inv) for inv in page.items]}  # fmt: skip


def query_result(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    """By `serialNos`, or by `orderNos` when a caller lost the answer of its submit."""
    by_order = not p.get("serialNos") and bool(p.get("orderNos"))
    keys = p.get("orderNos") if by_order else p.get("serialNos")
    if not isinstance(keys, list) or not 1 <= len(keys) <= 50:
        raise SimError(Kind.BAD_PARAM, "参数错误: serialNos或orderNos须为1到50个")
    found = []
    for key in keys:
        try:
            inv = sim.find_order(user, str(key)) if by_order else sim.get_invoice(user, str(key))
            found.append(render(sim, inv))
        except SimError as exc:
            if exc.kind != Kind.NOT_FOUND:
                raise
    return found


def request_billing(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    order = as_object(p.get("order"))
    kinds = {v: k for k, v in LINES.items()}
    # `invoiceType` carrying a line code is accepted too (in real Nuonuo it is 1 blue / 2 red)
    line = order.get("invoiceLine") or (order.get("invoiceType") if order.get("invoiceType") in kinds else None) or "pc"
    if line not in kinds:
        raise SimError(Kind.BAD_PARAM, "参数错误: invoiceLine须为pc/bs/p")
    req = issuance.make_request(
        order_no=order.get("orderNo"),
        buyer_name=order.get("buyerName"),
        buyer_tax_no=order.get("buyerTaxNum"),
        items=order.get("invoiceDetail"),
        invoice_type=kinds[line],
        department=order.get("department"),
        remark=order.get("remark"),
        item_keys=("goodsName", "num", "price", "taxRate"),
    )
    return {"invoiceSerialNum": sim.issue(user, req).serial_no}


def cancellation(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    return {"invoiceId": sim.void(user, str(p.get("invoiceId") or "")).serial_no}


def red_invoice(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    red = sim.red_flush(user, str(p.get("invoiceId") or ""), str(p.get("reason") or ""))
    return {"invoiceSerialNum": red.serial_no, "invoiceId": red.original_serial}


def login_status(sim: Simulator, user: SimUser, p: dict[str, Any]) -> Any:
    state = sim.certification(user)
    return {"loginStatus": "1" if state["loggedIn"] else "0", "taxNum": state["taxNo"]}


Method = Callable[[Simulator, SimUser, dict[str, Any]], Any]
_NAMES: dict[str, tuple[str, Method]] = {
    "queryInvoiceList": ("list", query_list),
    "queryInvoiceResult": ("get", query_result),
    "requestBillingNew": ("issue", request_billing),
    "invoiceCancellation": ("void", cancellation),
    "redInvoice": ("red_flush", red_invoice),
    "queryLoginStatus": ("certification", login_status),
}
# Both method families of Nuonuo's public SDKs: nuonuo.ElectronInvoice.* and the 诺税通 saas
# family nuonuo.OpeMplatform.* (requestBillingNew, queryInvoiceResult, invoiceCancellation ...).
METHODS: dict[str, tuple[str, Method]] = {
    f"nuonuo.{family}.{name}": entry for family in ("ElectronInvoice", "OpeMplatform") for name, entry in _NAMES.items()
}


# --- handlers --------------------------------------------------------------------------------
async def access_token(request: web.Request) -> web.StreamResponse:
    sim = sim_of(request)
    early = await gate(sim, request, "token")
    if early is not None:
        return early
    form = await request.post()
    try:
        if form.get("grant_type") != "client_credentials":
            raise SimError(Kind.BAD_PARAM, "grant_type须为client_credentials")
        grant = sim.token(str(form.get("client_id") or ""), str(form.get("client_secret") or ""))
    except SimError as exc:
        return json_response({"error": TOKEN_ERRORS.get(exc.kind, "E9999"), "error_description": exc.message})
    return json_response({"access_token": grant.token, "expires_in": grant.expires_in(sim.clock.now())})


def _envelope(code: str, describe: str, result: Any = None) -> web.Response:
    return json_response({"code": code, "describe": describe, "result": result})


async def services(request: web.Request) -> web.StreamResponse:
    sim = sim_of(request)
    raw = await request.read()
    method = request.headers.get("method") or request.headers.get("X-Nuonuo-Method") or ""
    entry = METHODS.get(method)
    early = await gate(sim, request, entry[0] if entry else None)
    if early is not None:
        return early
    try:
        result = _call(sim, request, raw, method, entry)
    except SimError as exc:
        await after(sim, request, entry[0] if entry else None)
        return _envelope(code_of(exc.kind), exc.message, exc.result)
    await after(sim, request, entry[0] if entry else None)
    return _envelope("E0000", "调用成功", result)


def _call(sim: Simulator, request: web.Request, raw: bytes, method: str, entry: tuple[str, Method] | None) -> Any:
    q = request.query
    app_key, senid, nonce, timestamp = (q.get(k, "") for k in ("appkey", "senid", "nonce", "timestamp"))
    owner = sim.tokens.user(app_key)
    if owner is None:
        raise SimError(Kind.BAD_SIGNATURE, "appkey不存在")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SimError(Kind.BAD_PARAM, "参数错误: 请求体须为UTF-8") from None
    expected = nuonuo_sign(owner.app_secret, app_key, senid, nonce, timestamp, body)
    if not same(request.headers.get("X-Nuonuo-Sign", ""), expected):
        raise SimError(Kind.BAD_SIGNATURE, "签名验证失败")
    check_skew(sim, timestamp, per_second=1)
    if not 1 <= len(nonce) <= 32 or not sim.remember_nonce(app_key, nonce):
        raise SimError(Kind.BAD_TIMESTAMP, "nonce为空或重复")
    if entry is None:
        raise SimError(Kind.UNKNOWN_METHOD, f"不支持的method: {method or '(空)'}")
    user = sim.authenticate(request.headers.get("accessToken"))
    if user.app_key != app_key:
        raise SimError(Kind.TOKEN_INVALID, "accessToken与appkey不匹配")
    return entry[1](sim, user, as_object(parse_json(raw)))


def routes() -> list[web.RouteDef]:
    return [
        web.post("/nuonuo/accessToken", access_token),
        web.post("/nuonuo/open/v1/services", services),
    ]
