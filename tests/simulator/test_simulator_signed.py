"""The Nuonuo- and Baiwang-shaped modes: their token calls, signatures (a right one passes, a
wrong one is refused with the platform's code), envelopes and field shapes, over one shared state."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from monitor.core.clock import FakeClock
from monitor.simulator import Simulator, create_app
from monitor.simulator.model import china_text
from monitor.simulator.signing import baiwang_sign, nuonuo_sign, nuonuo_text
from tests.simulator.simulator_kit import SALES, Baiwang, Nuonuo, native_token, set_fault, settings

LIST = "nuonuo.ElectronInvoice.queryInvoiceList"
RESULT = "nuonuo.ElectronInvoice.queryInvoiceResult"


def since(clock: FakeClock, hours: float = 1) -> tuple[str, str]:
    return china_text(clock.now() - timedelta(hours=hours)), china_text(clock.now())


def order(order_no: str = "NN-1", line: str = "pc") -> dict[str, Any]:
    return {"order": {"orderNo": order_no, "buyerName": "测试购方", "buyerTaxNum": "91110108MA01A2B3C4", "invoiceLine": line,
                      "invoiceDetail": [{"goodsName": "测试服务费", "num": 1, "price": 0.01, "taxRate": 0.06}]}}  # fmt: skip


# --- the signatures themselves --------------------------------------------------------------
def test_nuonuo_signature_is_base64_hmac_sha1_of_the_documented_text() -> None:
    text = nuonuo_text("key", "s1", "n1", "1700000000", '{"a":1}')
    assert text == 'a=services&l=v1&p=open&k=key&i=s1&n=n1&t=1700000000&f={"a":1}'
    assert nuonuo_sign("secret", "key", "s1", "n1", "1700000000", '{"a":1}') == "BoKIc3JPeTtCehviI7SQt1zy8N8="  # openssl dgst -sha1 -hmac secret -binary | base64


def test_baiwang_signature_is_upper_md5_of_secret_sorted_pairs_body_secret() -> None:
    import hashlib

    params = {"method": "m", "appKey": "k", "timestamp": "1", "format": "json", "sign": "ignored"}
    assert baiwang_sign("s", params, "{}") == "D31C7F6838166DC1DF63C5C1E4CE96FF"  # md5sum of the text below
    assert hashlib.md5(b"sappKeykformatjsonmethodmtimestamp1{}s").hexdigest().upper() == baiwang_sign("s", params, "{}")


# --- nuonuo -------------------------------------------------------------------------------
async def test_nuonuo_token_then_signed_list(nuonuo: Nuonuo, clock: FakeClock) -> None:
    body = await nuonuo.login()
    assert set(body) == {"access_token", "expires_in"} and body["expires_in"] == 7200
    start, end = since(clock)
    answer = await nuonuo.call(LIST, {"startTime": start, "endTime": end, "pageNo": 1, "pageSize": 50})
    assert answer["code"] == "E0000" and answer["result"]["total"] == 61
    inv = answer["result"]["list"][0]
    assert inv["invoiceTime"] == int(clock.now().timestamp() * 1000) and inv["status"] == "2"
    if inv["invoiceLine"] in ("pc", "bs"):
        assert inv["invoiceCode"] == ""  # as published: 数电 numbers in both fields
        assert re.fullmatch(r"\d{20}", inv["allElectronicInvoiceNumber"]) and inv["invoiceNo"] == inv["allElectronicInvoiceNumber"]
    assert re.fullmatch(r"-?\d+\.\d\d", inv["orderAmount"]) and inv["payerName"]


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"client_id": "sim-admin", "client_secret": "nope", "grant_type": "client_credentials"}, "070101"),
        ({"client_id": "sim-admin", "client_secret": "sim-admin-secret", "grant_type": "password"}, "070103"),
    ],
)
async def test_nuonuo_token_refusals(client: httpx.AsyncClient, form: dict[str, str], error: str) -> None:
    body = (await client.post("/nuonuo/accessToken", data=form)).json()
    assert body["error"] == error and body["error_description"] and "access_token" not in body


async def test_nuonuo_token_quota_answers_070102(nuonuo: Nuonuo, client: httpx.AsyncClient) -> None:
    await set_fault(client, "quota_exhausted")
    assert (await nuonuo.login())["error"] == "070102"


async def test_nuonuo_wrong_signature_is_refused(nuonuo: Nuonuo, clock: FakeClock) -> None:
    await nuonuo.login()
    answer = await nuonuo.call("nuonuo.ElectronInvoice.queryLoginStatus", {}, sign="AAAA")
    assert answer["code"] == "070301" and answer["result"] is None


async def test_nuonuo_signature_with_another_apps_secret_is_refused(client: httpx.AsyncClient, clock: FakeClock) -> None:
    impostor = Nuonuo(client, clock, ("sim-admin", "sim-sales-secret"))
    assert (await impostor.call("nuonuo.ElectronInvoice.queryLoginStatus", {}))["code"] == "070301"


async def test_nuonuo_stale_timestamp_and_reused_nonce_are_refused(nuonuo: Nuonuo, clock: FakeClock) -> None:
    await nuonuo.login()
    stale = int((clock.now() - timedelta(minutes=11)).timestamp())
    assert (await nuonuo.call("nuonuo.ElectronInvoice.queryLoginStatus", {}, timestamp=stale))["code"] == "070303"
    assert (await nuonuo.call("nuonuo.ElectronInvoice.queryLoginStatus", {}, nonce="n-1"))["code"] == "E0000"
    assert (await nuonuo.call("nuonuo.ElectronInvoice.queryLoginStatus", {}, nonce="n-1"))["code"] == "070303"


async def test_nuonuo_unknown_method_and_bad_token(nuonuo: Nuonuo) -> None:
    await nuonuo.login()
    assert (await nuonuo.call("nuonuo.Nothing.here", {}))["code"] == "070304"
    nuonuo.token = "bogus"
    assert (await nuonuo.call("nuonuo.ElectronInvoice.queryLoginStatus", {}))["code"] == "070302"


async def test_nuonuo_issuance_red_flush_and_business_codes(nuonuo: Nuonuo, clock: FakeClock, client: httpx.AsyncClient) -> None:
    await nuonuo.login()
    issued = await nuonuo.call("nuonuo.ElectronInvoice.requestBillingNew", order())
    serial = issued["result"]["invoiceSerialNum"]
    issued_order = order()["order"]["orderNo"]
    first = (await nuonuo.call(RESULT, {"serialNos": [serial, "NOPE"]}))["result"]
    assert [r["status"] for r in first] == ["20"] and first[0]["invoiceTime"] == 0
    clock.advance(4)
    sealing = (await nuonuo.call(RESULT, {"orderNos": [issued_order]}))["result"]
    assert [(r["status"], r["statusMsg"], r["serialNo"]) for r in sealing] == [("21", "开票成功签章中", serial)]
    clock.advance(1)
    done = (await nuonuo.call(RESULT, {"serialNos": [serial]}))["result"][0]
    assert done["status"] == "2" and done["statusMsg"] == "开票完成" and len(done["allElectronicInvoiceNumber"]) == 20
    cancel = await nuonuo.call("nuonuo.ElectronInvoice.invoiceCancellation", {"invoiceId": serial})
    assert cancel["code"] == "E3003"
    red = await nuonuo.call("nuonuo.ElectronInvoice.redInvoice", {"invoiceId": serial, "reason": "canary"})
    assert red["code"] == "E0000" and red["result"]["invoiceId"] == serial
    after = (await nuonuo.call(RESULT, {"serialNos": [serial, red["result"]["invoiceSerialNum"]]}))["result"]
    assert [(r["status"], r["invoiceType"]) for r in after] == [("4", "1"), ("2", "2")]  # 4 发票已红冲
    await set_fault(client, "tax_logged_out")
    assert (await nuonuo.call("nuonuo.ElectronInvoice.queryLoginStatus", {}))["result"]["loginStatus"] == "0"
    assert (await nuonuo.call("nuonuo.ElectronInvoice.requestBillingNew", order("NN-2")))["code"] == "E2001"


async def test_nuonuo_old_style_line_through_the_invoice_type_alias(nuonuo: Nuonuo, clock: FakeClock) -> None:
    await nuonuo.login()
    body = order("NN-P")
    body["order"]["invoiceType"] = body["order"].pop("invoiceLine")
    body["order"]["invoiceType"] = "p"
    serial = (await nuonuo.call("nuonuo.ElectronInvoice.requestBillingNew", body))["result"]["invoiceSerialNum"]
    clock.advance(5)
    inv = (await nuonuo.call(RESULT, {"serialNos": [serial]}))["result"][0]
    assert inv["invoiceLine"] == "p" and len(inv["invoiceNo"]) == 8 and inv["allElectronicInvoiceNumber"] == ""


async def test_nuonuo_fields_dropped_maps_to_its_own_field_names(nuonuo: Nuonuo, clock: FakeClock,
                                                                 client: httpx.AsyncClient) -> None:  # fmt: skip
    await nuonuo.login()
    await set_fault(client, "fields_dropped", rate=1, fields=["invoiceNo", "invoiceDate"], how="absent")
    start, end = since(clock)
    inv = (await nuonuo.call(LIST, {"startTime": start, "endTime": end}))["result"]["list"][0]
    assert not {"invoiceNo", "allElectronicInvoiceNumber", "invoiceTime"} & set(inv)


async def test_nuonuo_scoped_user_cannot_issue(client: httpx.AsyncClient, clock: FakeClock) -> None:
    sales = Nuonuo(client, clock, SALES)
    await sales.login()
    assert (await sales.call("nuonuo.ElectronInvoice.requestBillingNew", order()))["code"] == "E1005"


# --- baiwang ------------------------------------------------------------------------------
async def test_baiwang_token_then_signed_query(baiwang: Baiwang, clock: FakeClock) -> None:
    body = await baiwang.login()
    assert body["success"] is True and body["response"]["expires_in"] == 7200
    start, end = since(clock)
    answer = await baiwang.call("baiwang.output.invoice.query", {"startDate": start, "endDate": end, "pageSize": 100})
    assert answer["success"] is True and answer["method"] == "baiwang.output.invoice.query"
    items = answer["response"]["invoiceList"]
    assert answer["response"]["total"] == 61 and len(items) == 61
    assert items[0]["invoiceDate"] == china_text(clock.now(), "%Y%m%d%H%M%S")
    assert {i["invoiceTypeCode"] for i in items} <= {"82", "81", "026"}
    assert all(i["invoiceStatus"] == "00" and i["status"] == "1" for i in items)


async def test_baiwang_wrong_signature_is_refused(baiwang: Baiwang) -> None:
    answer = await baiwang.call("baiwang.oauth.token", {"clientId": "sim-admin", "clientSecret": "sim-admin-secret"},
                                tamper=True)  # fmt: skip
    assert answer["success"] is False and answer["errorResponse"]["code"] == 100004


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("baiwang.nothing", {}, 100005),
        ("baiwang.oauth.token", {"clientId": "sim-admin", "clientSecret": "wrong"}, 100001),
        ("baiwang.output.tax.loginstatus", {}, 100002),  # no token yet
    ],
)
async def test_baiwang_gateway_refusals(baiwang: Baiwang, method: str, params: dict[str, Any], code: int) -> None:
    answer = await baiwang.call(method, params)
    assert answer["success"] is False and answer["errorResponse"]["code"] == code


async def test_baiwang_stale_timestamp_is_refused(baiwang: Baiwang, clock: FakeClock) -> None:
    old = int((clock.now() - timedelta(hours=1)).timestamp() * 1000)
    answer = await baiwang.call("baiwang.oauth.token", {"clientId": "sim-admin", "clientSecret": "sim-admin-secret"},
                                timestamp=old)  # fmt: skip
    assert answer["errorResponse"]["code"] == 100006


async def test_baiwang_issuance_void_red_and_business_codes(baiwang: Baiwang, clock: FakeClock,
                                                            client: httpx.AsyncClient) -> None:  # fmt: skip
    await baiwang.login()
    req = {"orderNo": "BW-1", "buyerName": "测试购方", "buyerTaxNo": "91110108MA01A2B3C4", "invoiceTypeCode": "026",
           "invoiceDetailsList": [{"goodsName": "测试", "goodsQuantity": 1, "goodsPrice": 0.01, "goodsTaxRate": 0.06}]}  # fmt: skip
    issued = await baiwang.call("baiwang.output.invoice.issue", req)
    assert issued["response"]["status"] == "0"
    serial = issued["response"]["serialNo"]
    clock.advance(5)
    inv = (await baiwang.call("baiwang.output.invoice.query", {"serialNo": serial}))["response"]
    assert inv["status"] == "1" and re.fullmatch(r"\d{12}", inv["invoiceCode"]) and len(inv["invoiceNo"]) == 8
    voided = await baiwang.call("baiwang.output.invoice.invalid", {"serialNo": serial})
    assert voided["response"] == {"serialNo": serial, "invoiceStatus": "02"}
    again = await baiwang.call("baiwang.output.invoice.red", {"serialNo": serial})
    assert again["errorResponse"]["code"] == 200003 and again["errorResponse"]["subCode"] == "E3003"
    dup = await baiwang.call("baiwang.output.invoice.issue", req)
    assert dup["errorResponse"]["code"] == 200005 and dup["errorResponse"]["data"] == {"serialNo": serial}
    await set_fault(client, "tax_logged_out")
    assert (await baiwang.call("baiwang.output.tax.loginstatus", {}))["response"]["loginStatus"] is False
    refused = await baiwang.call("baiwang.output.invoice.issue", {**req, "orderNo": "BW-2"})
    assert refused["errorResponse"]["code"] == 300001


# --- one state, three shapes --------------------------------------------------------------
async def test_faults_and_invoices_are_shared_across_modes(client: httpx.AsyncClient, nuonuo: Nuonuo,
                                                           baiwang: Baiwang, clock: FakeClock) -> None:  # fmt: skip
    await nuonuo.login()
    await baiwang.login()
    serial = (await nuonuo.call("nuonuo.ElectronInvoice.requestBillingNew", order()))["result"]["invoiceSerialNum"]
    clock.advance(5)
    assert (await baiwang.call("baiwang.output.invoice.query", {"serialNo": serial}))["response"]["status"] == "1"
    await set_fault(client, "busy")
    assert (await nuonuo.call("nuonuo.ElectronInvoice.queryLoginStatus", {}))["code"] == "E9999"
    assert (await baiwang.call("baiwang.output.tax.loginstatus", {}))["errorResponse"]["code"] == 500000
    body = (await client.post("/openapi/token", json={"appKey": "sim-admin", "appSecret": "sim-admin-secret"})).json()
    assert body["code"] == "E9999"


async def test_quota_is_counted_across_modes(clock: FakeClock, http_server: Any) -> None:
    sim = Simulator(clock, settings=settings(token_quota=2))
    url = await http_server(create_app(sim))
    async with httpx.AsyncClient(base_url=url, trust_env=False) as c:
        await native_token(c)
        assert "access_token" in await Nuonuo(c, clock).login()
        assert (await Baiwang(c, clock).login())["errorResponse"]["code"] == 100003


async def test_modes_not_configured_are_not_served(clock: FakeClock, http_server: Any) -> None:
    sim = Simulator(clock, settings=settings(modes=["native"]))
    url = await http_server(create_app(sim))
    async with httpx.AsyncClient(base_url=url, trust_env=False) as c:
        assert (await c.post("/nuonuo/accessToken")).status_code == 404
        assert (await c.post("/baiwang/router/rest")).status_code == 404
        assert (await c.get("/_admin/faults")).status_code == 200


async def test_signature_skew_check_can_be_turned_off(clock: FakeClock, http_server: Any) -> None:
    sim = Simulator(clock, settings=settings(signature_max_skew=0))
    url = await http_server(create_app(sim))
    async with httpx.AsyncClient(base_url=url, trust_env=False) as c:
        old = int((clock.now() - timedelta(days=3)).timestamp() * 1000)
        answer = await Baiwang(c, clock).call("baiwang.oauth.token", {"clientId": "sim-admin", "clientSecret": "sim-admin-secret"},
                                              timestamp=old)  # fmt: skip
        assert answer["success"] is True
