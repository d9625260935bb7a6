"""Every fault, set through the admin API and observed over real HTTP; time moved by the FakeClock.

Latency and hangs are the only real-time faults; they use fractions of a second here."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from monitor.core.clock import FakeClock
from monitor.simulator import Simulator
from monitor.simulator.model import china_text
from tests.simulator.simulator_kit import ADMIN, SALES, bearer, canary, native_token, set_fault


def recent(clock: FakeClock, hours: float = 2, **extra: Any) -> dict[str, Any]:
    return {"start": china_text(clock.now() - timedelta(hours=hours)), "end": china_text(clock.now()), **extra}


async def token_code(client: httpx.AsyncClient) -> str:
    body = (await client.post("/openapi/token", json={"appKey": ADMIN[0], "appSecret": ADMIN[1]})).json()
    return str(body["code"])


async def list_body(client: httpx.AsyncClient, token: str, clock: FakeClock, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/openapi/invoices", params=recent(clock, **extra), headers=bearer(token))).json()
    return body


async def test_login_refused_rejects_new_logins_and_revokes_existing_tokens(client: httpx.AsyncClient) -> None:
    token = await native_token(client)
    await set_fault(client, "login_refused")
    assert await token_code(client) == "E1001"
    assert (await client.get("/openapi/certification", headers=bearer(token))).json()["code"] == "E1002"
    await set_fault(client, "login_refused", revoke=False)
    assert (await client.get("/openapi/certification", headers=bearer(token))).json()["code"] == "E0000"
    await client.delete("/_admin/faults/login_refused")
    assert await token_code(client) == "E0000"


async def test_token_down_answers_http_errors_on_every_token_endpoint(client: httpx.AsyncClient, nuonuo: Any,
                                                                       baiwang: Any) -> None:  # fmt: skip
    token = await native_token(client)
    await set_fault(client, "token_down", status=502)
    response = await client.post("/openapi/token", json={"appKey": ADMIN[0], "appSecret": ADMIN[1]})
    assert response.status_code == 502 and "502" in response.text
    assert (await client.post("/nuonuo/accessToken", data={"client_id": "a"})).status_code == 502
    with pytest.raises(AssertionError, match="502"):
        await baiwang.login()
    # other operations are untouched
    assert (await client.get("/openapi/certification", headers=bearer(token))).json()["code"] == "E0000"


async def test_token_down_with_reset_cuts_the_connection(client: httpx.AsyncClient) -> None:
    await set_fault(client, "token_down", reset=True)
    with pytest.raises(httpx.TransportError):
        await client.post("/openapi/token", json={"appKey": ADMIN[0], "appSecret": ADMIN[1]})


async def test_quota_exhausted_refuses_new_tokens_only(client: httpx.AsyncClient) -> None:
    token = await native_token(client)
    await set_fault(client, "quota_exhausted")
    assert await token_code(client) == "E1003"
    assert (await client.get("/openapi/certification", headers=bearer(token))).json()["code"] == "E0000"


async def test_tax_logged_out_shows_in_certification_and_blocks_issuance(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    issued = (await client.post("/openapi/invoices/issue", json=canary("A"), headers=bearer(token))).json()["result"]
    clock.advance(5)
    await set_fault(client, "tax_logged_out")
    cert = (await client.get("/openapi/certification", headers=bearer(token))).json()["result"]
    assert cert == {**cert, "loggedIn": False, "status": "logged_out"}
    assert (await client.post("/openapi/invoices/issue", json=canary("B"), headers=bearer(token))).json()["code"] == "E2001"
    red = (await client.post(f"/openapi/invoices/{issued['serialNo']}/red-flush", headers=bearer(token))).json()
    assert red["code"] == "E2001"
    # reading still works
    assert (await list_body(client, token, clock))["code"] == "E0000"


async def test_latency_delays_only_the_aimed_operation(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "latency", seconds=0.3, jitter=0.05, endpoint="list")
    started = time.perf_counter()
    assert (await list_body(client, token, clock))["code"] == "E0000"
    slow = time.perf_counter() - started
    started = time.perf_counter()
    await client.get("/openapi/certification", headers=bearer(token))
    fast = time.perf_counter() - started
    assert slow >= 0.25 and fast < 0.2


async def test_hang_outlasts_the_client_timeout_then_closes_unanswered(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "hang", seconds=0.4, endpoint="list")
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/openapi/invoices", params=recent(clock), headers=bearer(token), timeout=0.1)
    started = time.perf_counter()
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/openapi/invoices", params=recent(clock), headers=bearer(token), timeout=3)
    assert 0.3 < time.perf_counter() - started < 2


async def test_clearing_hang_lets_held_requests_answer_at_once(client: httpx.AsyncClient, clock: FakeClock, sim: Simulator) -> None:
    token = await native_token(client)
    await set_fault(client, "hang")  # held up to hang_cap (3 s in these tests)
    held = asyncio.create_task(client.get("/openapi/certification", headers=bearer(token), timeout=5))
    deadline = time.perf_counter() + 2
    while sim.faults.held == 0:  # wait until the server is really holding it (bounded)
        assert time.perf_counter() < deadline, "the request never reached the hang"
        await asyncio.sleep(0.01)
    assert not held.done()
    started = time.perf_counter()
    await client.delete("/_admin/faults/hang")
    response = await asyncio.wait_for(held, 2)
    assert response.json()["code"] == "E0000" and time.perf_counter() - started < 1


async def test_error_rate_answers_http_errors_at_the_given_share(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "error_rate", rate=1, status=502, endpoint=["list", "get"])
    assert (await client.get("/openapi/invoices", params=recent(clock), headers=bearer(token))).status_code == 502
    assert (await client.get("/openapi/certification", headers=bearer(token))).status_code == 200
    await set_fault(client, "error_rate", rate=0.5)
    statuses = [(await client.get("/openapi/certification", headers=bearer(token))).status_code for _ in range(40)]
    assert 8 < statuses.count(500) < 32 and statuses.count(200) == 40 - statuses.count(500)


async def test_error_rate_with_reset_cuts_connections(client: httpx.AsyncClient) -> None:
    await set_fault(client, "error_rate", reset=True, endpoint="certification")
    with pytest.raises(httpx.TransportError):
        await client.get("/openapi/certification")


async def test_busy_answers_e9999_inside_http_200(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "busy", endpoint="list")
    response = await client.get("/openapi/invoices", params=recent(clock), headers=bearer(token))
    assert response.status_code == 200 and response.json()["code"] == "E9999"


async def test_issue_rejected_refuses_at_submit(client: httpx.AsyncClient) -> None:
    token = await native_token(client)
    await set_fault(client, "issue_rejected", message="购方名称与税号不匹配")
    body = (await client.post("/openapi/invoices/issue", json=canary(), headers=bearer(token))).json()
    assert body["code"] == "E3004" and "购方名称与税号不匹配" in body["describe"]


@pytest.mark.parametrize(("status", "numbered"), [("failed", False), ("sealing_failed", True)])
async def test_issue_failed_ends_the_job_failed_with_a_cause(client: httpx.AsyncClient, clock: FakeClock,
                                                             status: str, numbered: bool) -> None:  # fmt: skip
    token = await native_token(client)
    await set_fault(client, "issue_failed", status=status)
    serial = (await client.post("/openapi/invoices/issue", json=canary(), headers=bearer(token))).json()["result"]["serialNo"]
    job = (await client.get(f"/openapi/invoices/{serial}", headers=bearer(token))).json()["result"]
    assert job["status"] == "issuing" and job["failCause"] == ""
    clock.advance(5)
    job = (await client.get(f"/openapi/invoices/{serial}", headers=bearer(token))).json()["result"]
    assert job["status"] == status and job["failCause"]
    assert bool(job["invoiceNo"]) is numbered


async def test_issue_stuck_keeps_jobs_issuing(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "issue_stuck")
    serial = (await client.post("/openapi/invoices/issue", json=canary(), headers=bearer(token))).json()["result"]["serialNo"]
    clock.advance(timedelta(hours=1))
    await client.delete("/_admin/faults")  # the job was decided at submit: it stays stuck
    token = await native_token(client)  # the first one expired meanwhile
    job = (await client.get(f"/openapi/invoices/{serial}", headers=bearer(token))).json()
    assert job["result"]["status"] == "issuing"


async def test_sync_lag_hides_new_invoices_from_lists_but_not_from_get(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "sync_lag", seconds="10m")
    newest = (await list_body(client, token, clock))["result"]["list"][0]
    assert newest["invoiceDate"] == china_text(clock.now() - timedelta(minutes=10))
    serial = (await client.post("/openapi/invoices/issue", json=canary(), headers=bearer(token))).json()["result"]["serialNo"]
    clock.advance(5)
    got = (await client.get(f"/openapi/invoices/{serial}", headers=bearer(token))).json()["result"]
    assert got["status"] == "issued"
    assert serial not in [i["serialNo"] for i in (await list_body(client, token, clock))["result"]["list"]]


async def test_sync_frozen_stops_new_invoices_until_cleared(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "sync_frozen")
    before = (await list_body(client, token, clock, hours=3))["result"]["total"]
    clock.advance(timedelta(minutes=20))
    assert (await list_body(client, token, clock, hours=3))["result"]["total"] == before - 20  # old ones leave the window
    await client.delete("/_admin/faults/sync_frozen")
    assert (await list_body(client, token, clock, hours=3))["result"]["total"] == before


@pytest.mark.parametrize(("how", "check"), [
    ("absent", lambda inv: "invoiceNo" not in inv),
    ("null", lambda inv: inv.get("invoiceNo", "x") is None),
    ("empty", lambda inv: inv.get("invoiceNo") == ""),
])  # fmt: skip
async def test_fields_dropped_damages_the_same_share_of_records_every_time(
    client: httpx.AsyncClient, clock: FakeClock, how: str, check: Any
) -> None:
    token = await native_token(client)
    await set_fault(client, "fields_dropped", rate=0.3, fields=["invoiceNo"], how=how)
    first = (await list_body(client, token, clock, pageSize=100))["result"]["list"]
    damaged = [inv["serialNo"] for inv in first if check(inv)]
    assert 15 <= len(damaged) <= 45
    again = (await list_body(client, token, clock, pageSize=100))["result"]["list"]
    assert damaged == [inv["serialNo"] for inv in again if check(inv)]
    one = (await client.get(f"/openapi/invoices/{damaged[0]}", headers=bearer(token))).json()["result"]
    assert check(one) and one["totalAmount"]  # only the chosen fields go


async def test_fields_dropped_mixed_uses_every_way_of_losing_a_field(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "fields_dropped", rate=1, fields="invoiceNo,invoiceDate,totalAmount")
    items = (await list_body(client, token, clock, pageSize=100))["result"]["list"]
    ways = {("absent" if f not in inv else "null" if inv[f] is None else "empty" if inv[f] == "" else "kept")
            for inv in items for f in ("invoiceNo", "invoiceDate", "totalAmount")}  # fmt: skip
    assert ways == {"absent", "null", "empty"}


async def test_scope_shrink_silently_hides_invoices_from_scoped_users(client: httpx.AsyncClient, clock: FakeClock) -> None:
    admin, sales = await native_token(client), await native_token(client, SALES)
    full_sales = (await list_body(client, sales, clock, hours=6))["result"]["total"]
    full_admin = (await list_body(client, admin, clock, hours=6))["result"]["total"]
    await set_fault(client, "scope_shrink", rate=0.5)
    shrunk = await list_body(client, sales, clock, hours=6)
    assert shrunk["code"] == "E0000" and full_sales * 0.3 < shrunk["result"]["total"] < full_sales * 0.7
    assert (await list_body(client, admin, clock, hours=6))["result"]["total"] == full_admin
    await set_fault(client, "scope_shrink", rate=0.5, user="sim-admin")
    assert (await list_body(client, admin, clock, hours=6))["result"]["total"] < full_admin
    assert (await list_body(client, sales, clock, hours=6))["result"]["total"] == full_sales


async def test_flapping_alternates_broken_and_healthy_with_the_clock(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await native_token(client)
    await set_fault(client, "flapping", seconds=60)
    statuses = []
    for _ in range(4):
        statuses.append((await client.get("/openapi/certification", headers=bearer(token))).status_code)
        clock.advance(60)
    assert statuses == [503, 200, 503, 200]


async def test_flap_parameter_makes_any_fault_come_and_go(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await set_fault(client, "quota_exhausted", flap="30s")
    codes = []
    for _ in range(3):
        codes.append(await token_code(client))
        clock.advance(30)
    assert codes == ["E1003", "E0000", "E1003"]
    listed = (await client.get("/_admin/faults")).json()["faults"]
    assert listed[0]["params"] == {"flap": 30.0} and listed[0]["active"] is False


async def test_faults_expire_on_the_clock(client: httpx.AsyncClient, clock: FakeClock) -> None:
    fault = await set_fault(client, "quota_exhausted", duration="10m")
    assert fault["expires_at"] == (clock.now() + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert await token_code(client) == "E1003"
    clock.advance(timedelta(minutes=10))
    assert await token_code(client) == "E0000"
    assert (await client.get("/_admin/faults")).json()["faults"] == []
