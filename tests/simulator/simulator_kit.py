"""Helpers for the simulator tests: settings, and clients that sign the way Nuonuo and Baiwang
clients do. (Fixtures live in conftest.py; this module has a unique name so tests can import it.)"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx

from monitor.config.simulator import SimulatorSection
from monitor.core.clock import FakeClock
from monitor.simulator.signing import baiwang_sign, nuonuo_sign

ADMIN = ("sim-admin", "sim-admin-secret")
SALES = ("sim-sales", "sim-sales-secret")


def settings(**changes: Any) -> SimulatorSection:
    base: dict[str, Any] = {
        "history": timedelta(hours=6),
        "invoice_interval": timedelta(seconds=60),
        "issue_delay": timedelta(seconds=5),
        "hang_cap": timedelta(seconds=3),
    }
    base.update(changes)
    return SimulatorSection(**base)


async def native_token(client: httpx.AsyncClient, user: tuple[str, str] = ADMIN) -> str:
    body = (await client.post("/openapi/token", json={"appKey": user[0], "appSecret": user[1]})).json()
    assert body["code"] == "E0000", body
    token: str = body["result"]["accessToken"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Nuonuo:
    """A client signing the Nuonuo way: base64(HMAC-SHA1(secret, a=…&l=…&p=…&k=…&i=…&n=…&t=…&f=body))."""

    def __init__(self, client: httpx.AsyncClient, clock: FakeClock, user: tuple[str, str] = ADMIN) -> None:
        self.client, self.clock, (self.app_key, self.secret) = client, clock, user
        self.token = ""

    async def login(self) -> dict[str, Any]:
        form = {"client_id": self.app_key, "client_secret": self.secret, "grant_type": "client_credentials"}
        body: dict[str, Any] = (await self.client.post("/nuonuo/accessToken", data=form)).json()
        self.token = body.get("access_token", "")
        return body

    async def call(self, method: str, params: dict[str, Any], *, sign: str | None = None,
                   timestamp: int | None = None, nonce: str | None = None) -> dict[str, Any]:  # fmt: skip
        body = json.dumps(params, ensure_ascii=False)
        ts = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        nonce = nonce or uuid.uuid4().hex[:16]
        senid = uuid.uuid4().hex
        headers = {
            "X-Nuonuo-Sign": sign or nuonuo_sign(self.secret, self.app_key, senid, nonce, ts, body),
            "accessToken": self.token,
            "userTax": "91110000600000000X",
            "method": method,
            "Content-Type": "application/json",
        }
        query = {"senid": senid, "nonce": nonce, "timestamp": ts, "appkey": self.app_key}
        response = await self.client.post("/nuonuo/open/v1/services", params=query, content=body.encode(), headers=headers)
        assert response.status_code == 200, response.text
        out: dict[str, Any] = response.json()
        return out


class Baiwang:
    """A client signing the Baiwang way: upper(md5(secret + sorted k+v + body + secret))."""

    def __init__(self, client: httpx.AsyncClient, clock: FakeClock, user: tuple[str, str] = ADMIN) -> None:
        self.client, self.clock, (self.app_key, self.secret) = client, clock, user
        self.token = ""

    async def login(self) -> dict[str, Any]:
        body = await self.call("baiwang.oauth.token", {"grantType": "client_credentials", "clientId": self.app_key,
                                                        "clientSecret": self.secret})  # fmt: skip
        if body["success"]:
            self.token = body["response"]["access_token"]
        return body

    async def call(self, method: str, params: dict[str, Any], *, tamper: bool = False,
                   timestamp: int | None = None) -> dict[str, Any]:  # fmt: skip
        body = json.dumps(params, ensure_ascii=False)
        query = {
            "method": method,
            "appKey": self.app_key,
            "timestamp": str(timestamp if timestamp is not None else int(self.clock.now().timestamp() * 1000)),
            "version": "6.0",
            "format": "json",
            "requestId": uuid.uuid4().hex,
        }
        if self.token and method != "baiwang.oauth.token":
            query["token"] = self.token
        query["sign"] = baiwang_sign(self.secret, query, body)
        if tamper:
            query["sign"] = baiwang_sign(self.secret + "x", query, body)
        response = await self.client.post("/baiwang/router/rest", params=query, content=body.encode(),
                                          headers={"Content-Type": "application/json"})  # fmt: skip
        assert response.status_code == 200, response.text
        out: dict[str, Any] = response.json()
        return out


def canary(order_no: str = "CANARY-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orderNo": order_no,
        "buyerName": "测试购方",
        "buyerTaxNo": "91110108MA01A2B3C4",
        "items": [{"name": "测试服务费", "quantity": 1, "price": 0.01, "taxRate": 0.06}],
    }
    body.update(changes)
    return body


async def set_fault(client: httpx.AsyncClient, name: str, duration: str | None = None, **params: Any) -> dict[str, Any]:
    """Set a fault through the admin API, as the CLI does."""
    body: dict[str, Any] = {"name": name, "params": params}
    if duration:
        body["for"] = duration
    response = await client.post("/_admin/faults", json=body)
    assert response.status_code == 200, response.text
    fault: dict[str, Any] = response.json()["fault"]
    return fault
