"""The native API (/openapi) over real HTTP: tokens, quota, listing and paging, the invoice
stream, issuance, void and red-flush, certification, users and scopes."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from monitor.core.clock import FakeClock
from monitor.simulator import Simulator
from monitor.simulator.model import china_text
from tests.simulator.simulator_kit import ADMIN, SALES, bearer, canary, native_token, settings


def window(clock: FakeClock, hours: float = 2) -> dict[str, str]:
    return {"start": china_text(clock.now() - timedelta(hours=hours)), "end": china_text(clock.now())}


async def test_token_is_granted_for_good_credentials(client: httpx.AsyncClient) -> None:
    body = (await client.post("/openapi/token", json={"appKey": ADMIN[0], "appSecret": ADMIN[1]})).json()
    assert body["code"] == "E0000" and body["describe"] == "成功"
    assert body["result"]["expiresIn"] == 7200 and len(body["result"]["accessToken"]) == 32


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"appKey": "sim-admin", "appSecret": "wrong"}, "E1001"),
        ({"appKey": "nobody", "appSecret": "x"}, "E1001"),
        ({"appKey": "sim-admin"}, "E3001"),
    ],
)
async def test_token_refusals_come_inside_http_200(client: httpx.AsyncClient, payload: dict[str, str], code: str) -> None:
    response = await client.post("/openapi/token", json=payload)
    assert response.status_code == 200
    assert response.json()["code"] == code and response.json()["result"] is None


async def test_token_expires_with_the_clock(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    assert (await client.get("/openapi/certification", headers=bearer(token))).json()["code"] == "E0000"
    clock.advance(timedelta(hours=2))
    body = (await client.get("/openapi/certification", headers=bearer(token))).json()
    assert body["code"] == "E1002" and "过期" in body["describe"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
async def test_calls_without_a_valid_token_are_refused(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert (await client.get("/openapi/certification", headers=headers)).json()["code"] == "E1002"


@pytest.mark.parametrize("sim_settings", [settings(token_quota=3, token_quota_window=timedelta(days=1))])
async def test_token_quota_runs_out_and_refills_as_the_window_slides(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for _ in range(3):
        await native_token(client)
        clock.advance(60)
    body = (await client.post("/openapi/token", json={"appKey": ADMIN[0], "appSecret": ADMIN[1]})).json()
    assert body["code"] == "E1003"
    # another app has its own quota
    await native_token(client, SALES)
    clock.advance(timedelta(days=1) - timedelta(seconds=180))  # the first grant leaves the window
    await native_token(client)


async def test_list_pages_are_disjoint_newest_first_and_add_up(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    seen: list[str] = []
    dates: list[str] = []
    total = None
    for page in range(1, 10):
        body = (await client.get("/openapi/invoices", params={**window(clock), "page": page, "pageSize": 25},
                                 headers=bearer(token))).json()  # fmt: skip
        assert body["code"] == "E0000"
        total = body["result"]["total"]
        items = body["result"]["list"]
        if not items:
            break
        seen += [i["serialNo"] for i in items]
        dates += [i["invoiceDate"] for i in items]
    assert total == 121  # 2 h of one-a-minute, both ends inclusive
    assert len(seen) == len(set(seen)) == total
    assert dates == sorted(dates, reverse=True)
    assert dates[0] == china_text(clock.now())


async def test_list_answers_ascending_when_asked(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    body = (await client.get("/openapi/invoices", params={**window(clock), "order": "asc"}, headers=bearer(token))).json()
    dates = [i["invoiceDate"] for i in body["result"]["list"]]
    assert dates == sorted(dates) and len(dates) == 20


@pytest.mark.parametrize(
    "params",
    [
        {"pageSize": 101},
        {"pageSize": 0},
        {"page": 0},
        {"page": "x"},
        {"start": "yesterday"},
        {"start": "2026-03-03", "end": "2026-03-02"},
        {"order": "sideways"},
        {"end": ""},
    ],
)
async def test_list_rejects_bad_parameters_with_e3001(client: httpx.AsyncClient, clock: FakeClock,
                                                      params: dict[str, object]) -> None:  # fmt: skip
    token = await native_token(client)
    body = (await client.get("/openapi/invoices", params={**window(clock), **params}, headers=bearer(token))).json()
    assert body["code"] == "E3001", body


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-02", "2026-03-02"),  # China dates, whole day
        ("2026-03-02T00:00:00+08:00", "2026-03-02T01:00:00Z"),  # ISO 8601 with offsets
        ("1772380800", "1772413200"),  # epoch seconds
    ],
)
async def test_list_accepts_the_documented_time_formats(client: httpx.AsyncClient, start: str, end: str) -> None:
    token = await native_token(client)
    body = (await client.get("/openapi/invoices", params={"start": start, "end": end}, headers=bearer(token))).json()
    assert body["code"] == "E0000" and body["result"]["total"] > 0


async def test_invoice_stream_grows_with_the_clock(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    since = china_text(clock.now() - timedelta(minutes=30))

    async def count() -> int:
        params = {"start": since, "end": china_text(clock.now())}
        body = (await client.get("/openapi/invoices", params=params, headers=bearer(token))).json()
        return int(body["result"]["total"])

    before = await count()
    clock.advance(timedelta(minutes=10))
    assert await count() == before + 10


async def test_invoice_numbers_follow_the_digital_and_old_style_rules(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    body = (await client.get("/openapi/invoices", params={**window(clock, 6), "pageSize": 100}, headers=bearer(token))).json()
    kinds = {i["invoiceType"] for i in body["result"]["list"]}
    assert {"数电普票", "电子普票"} <= kinds
    for inv in body["result"]["list"]:
        if inv["invoiceType"].startswith("数电"):
            assert inv["invoiceCode"] == "" and re.fullmatch(r"\d{20}", inv["invoiceNo"])
        else:
            assert re.fullmatch(r"\d{12}", inv["invoiceCode"]) and re.fullmatch(r"\d{8}", inv["invoiceNo"])
        assert inv["totalAmount"] > inv["taxAmount"] > 0 and inv["status"] == "issued"
        assert inv["buyerName"] and len(inv["buyerTaxNo"]) == 18


async def test_same_seed_gives_the_same_invoices(clock: FakeClock) -> None:
    a = Simulator(clock, seed=3, settings=settings())
    b = Simulator(clock, seed=3, settings=settings())
    c = Simulator(clock, seed=4, settings=settings())
    first = [(i.serial_no, i.total) for i in a.book.window(clock.now() - timedelta(hours=1), clock.now())]
    assert first == [(i.serial_no, i.total) for i in b.book.window(clock.now() - timedelta(hours=1), clock.now())]
    assert first != [(i.serial_no, i.total) for i in c.book.window(clock.now() - timedelta(hours=1), clock.now())]


async def test_get_by_serial_and_unknown_serial(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    listed = (await client.get("/openapi/invoices", params=window(clock), headers=bearer(token))).json()
    first = listed["result"]["list"][0]
    body = (await client.get(f"/openapi/invoices/{first['serialNo']}", headers=bearer(token))).json()
    assert body["code"] == "E0000" and body["result"] == first
    assert (await client.get("/openapi/invoices/NOPE", headers=bearer(token))).json()["code"] == "E3002"


async def test_issuance_moves_from_issuing_to_issued_and_joins_the_list(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    body = (await client.post("/openapi/invoices/issue", json=canary(), headers=bearer(token))).json()
    assert body["code"] == "E0000" and body["result"]["status"] == "issuing"
    serial = body["result"]["serialNo"]
    got = (await client.get(f"/openapi/invoices/{serial}", headers=bearer(token))).json()["result"]
    assert got["status"] == "issuing" and got["invoiceNo"] == "" and got["invoiceDate"] == ""
    clock.advance(5)
    got = (await client.get(f"/openapi/invoices/{serial}", headers=bearer(token))).json()["result"]
    assert got["status"] == "issued" and re.fullmatch(r"\d{20}", got["invoiceNo"])
    assert got["totalAmount"] == 0.01 and got["department"] == "sales"
    listed = (await client.get("/openapi/invoices", params=window(clock), headers=bearer(token))).json()
    assert serial in [i["serialNo"] for i in listed["result"]["list"]]


async def test_second_submit_of_an_order_returns_the_first_serial(client: httpx.AsyncClient) -> None:
    token = await native_token(client)
    first = (await client.post("/openapi/invoices/issue", json=canary("ORD-X"), headers=bearer(token))).json()
    again = (await client.post("/openapi/invoices/issue", json=canary("ORD-X"), headers=bearer(token))).json()
    assert again["code"] == "E3005" and again["result"] == {"serialNo": first["result"]["serialNo"]}


@pytest.mark.parametrize(
    "change",
    [{"items": []}, {"items": [{"name": "x", "quantity": 1, "price": -1, "taxRate": 0.06}]},
     {"orderNo": ""}, {"invoiceType": "纸质"}, {"buyerName": None}, {"items": "x"}],
)  # fmt: skip
async def test_bad_issuance_requests_are_refused(client: httpx.AsyncClient, change: dict[str, object]) -> None:
    token = await native_token(client)
    body = (await client.post("/openapi/invoices/issue", json=canary(**change), headers=bearer(token))).json()
    assert body["code"] == "E3001", body


async def test_digital_invoices_are_red_flushed_not_voided(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    serial = (await client.post("/openapi/invoices/issue", json=canary(), headers=bearer(token))).json()["result"]["serialNo"]
    clock.advance(5)
    voided = (await client.post(f"/openapi/invoices/{serial}/void", headers=bearer(token))).json()
    assert voided["code"] == "E3003" and "红冲" in voided["describe"]
    red = (await client.post(f"/openapi/invoices/{serial}/red-flush", json={"reason": "canary"}, headers=bearer(token))).json()
    assert red["code"] == "E0000" and red["result"]["originalSerialNo"] == serial
    red_inv = (await client.get(f"/openapi/invoices/{red['result']['serialNo']}", headers=bearer(token))).json()["result"]
    assert red_inv["redFlag"] is True and red_inv["totalAmount"] == -0.01
    original = (await client.get(f"/openapi/invoices/{serial}", headers=bearer(token))).json()["result"]
    assert original["status"] == "red_flushed" and original["updateTime"] == china_text(clock.now())
    again = (await client.post(f"/openapi/invoices/{serial}/red-flush", headers=bearer(token))).json()
    assert again["code"] == "E3003"


async def test_old_style_invoices_can_be_voided_once_issued(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    body = canary(invoiceType="电子普票")
    serial = (await client.post("/openapi/invoices/issue", json=body, headers=bearer(token))).json()["result"]["serialNo"]
    early = (await client.post(f"/openapi/invoices/{serial}/void", headers=bearer(token))).json()
    assert early["code"] == "E3003"  # still issuing
    clock.advance(5)
    voided = (await client.post(f"/openapi/invoices/{serial}/void", headers=bearer(token))).json()
    assert voided["code"] == "E0000" and voided["result"]["status"] == "voided"
    assert (await client.post("/openapi/invoices/NOPE/void", headers=bearer(token))).json()["code"] == "E3002"


async def test_certification_reports_logged_in(client: httpx.AsyncClient) -> None:
    token = await native_token(client)
    body = (await client.get("/openapi/certification", headers=bearer(token))).json()
    assert body["result"]["loggedIn"] is True and body["result"]["status"] == "logged_in"


async def test_scoped_user_sees_only_its_department_and_cannot_issue(client: httpx.AsyncClient, clock: FakeClock) -> None:
    admin, sales = await native_token(client), await native_token(client, SALES)
    params = {**window(clock, 6), "pageSize": 100}
    everything = (await client.get("/openapi/invoices", params=params, headers=bearer(admin))).json()["result"]
    mine = (await client.get("/openapi/invoices", params=params, headers=bearer(sales))).json()["result"]
    assert 0 < mine["total"] < everything["total"]
    assert {i["department"] for i in mine["list"]} == {"sales"}
    other = next(i for i in everything["list"] if i["department"] != "sales")
    assert (await client.get(f"/openapi/invoices/{other['serialNo']}", headers=bearer(sales))).json()["code"] == "E3002"
    refused = (await client.post("/openapi/invoices/issue", json=canary(), headers=bearer(sales))).json()
    assert refused["code"] == "E1005"
    refused = (await client.post(f"/openapi/invoices/{other['serialNo']}/red-flush", headers=bearer(sales))).json()
    assert refused["code"] == "E1005"


async def test_configured_users_replace_the_defaults(clock: FakeClock, http_server: object) -> None:
    from monitor.config.simulator import SimUser
    from monitor.simulator import create_app

    sim = Simulator(clock, settings=settings(users=[SimUser(app_key="erp", app_secret="s3", scopes=["query"])]))
    url = await http_server(create_app(sim))  # type: ignore[operator]
    async with httpx.AsyncClient(base_url=url, trust_env=False) as c:
        assert (await c.post("/openapi/token", json={"appKey": ADMIN[0], "appSecret": ADMIN[1]})).json()["code"] == "E1001"
        assert (await c.post("/openapi/token", json={"appKey": "erp", "appSecret": "s3"})).json()["code"] == "E0000"
