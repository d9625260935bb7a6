"""The admin API (/_admin): catalog, validation of fault requests, state, token reset, admin token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from monitor.core.clock import FakeClock
from monitor.simulator import Simulator, create_app
from monitor.simulator.faults import CATALOG
from tests.simulator.simulator_kit import ADMIN, native_token, set_fault, settings


async def test_catalog_lists_every_fault_with_its_parameters(client: httpx.AsyncClient) -> None:
    body = (await client.get("/_admin/catalog")).json()
    assert set(body) == set(CATALOG)
    assert body["latency"]["params"]["seconds"]["default"] == 1.0
    assert all("flap" in spec["params"] for spec in body.values())


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"name": "nope"}, "unknown fault 'nope'"),
        ({"name": "latency", "params": {"sekonds": 1}}, "unknown parameter 'sekonds'"),
        ({"name": "error_rate", "params": {"rate": 2}}, "rate=2: must be between 0 and 1"),
        ({"name": "error_rate", "params": {"status": 200}}, "HTTP error status"),
        ({"name": "latency", "params": {"endpoint": "lisst"}}, "unknown lisst"),
        ({"name": "fields_dropped", "params": {"how": "gone"}}, "must be one of"),
        ({"name": "busy", "for": "soon"}, "for='soon'"),
        ({"name": "busy", "params": {"flap": 0}}, "flap must be longer than zero"),
        ({"params": {}}, "expected"),
        ({"name": "busy", "params": [1]}, "params must be an object"),
    ],
)
async def test_bad_fault_requests_are_refused_with_a_clear_message(client: httpx.AsyncClient, payload: dict[str, Any],
                                                                   needle: str) -> None:  # fmt: skip
    response = await client.post("/_admin/faults", json=payload)
    assert response.status_code == 400 and needle in response.json()["error"]
    assert (await client.get("/_admin/faults")).json()["faults"] == []


async def test_non_json_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/_admin/faults", content=b"{nope")
    assert response.status_code == 400


async def test_setting_a_fault_again_replaces_it_and_clearing_all_lists_what_went(client: httpx.AsyncClient) -> None:
    await set_fault(client, "latency", seconds=1)
    await set_fault(client, "latency", seconds=2, endpoint="get")
    await set_fault(client, "busy", rate=0.1)
    faults = (await client.get("/_admin/faults")).json()["faults"]
    assert [(f["name"], f["params"].get("seconds")) for f in faults] == [("busy", None), ("latency", 2.0)]
    assert faults[1]["params"]["endpoint"] == ["get"]
    assert (await client.delete("/_admin/faults")).json() == {"cleared": ["busy", "latency"]}
    assert (await client.delete("/_admin/faults/busy")).status_code == 404


async def test_state_reports_tokens_and_reset_forgets_them(client: httpx.AsyncClient, sim: Simulator) -> None:
    token = await native_token(client)
    state = (await client.get("/_admin/state")).json()
    assert state["tokens"][ADMIN[0]] == {"active": 1, "granted_in_window": 1, "quota": 50}
    assert state["invoices"] == len(sim.book) and state["modes"] == ["native", "nuonuo", "baiwang"]
    assert (await client.delete("/_admin/tokens")).json() == {"reset": True}
    assert (await client.get("/openapi/certification", headers={"Authorization": f"Bearer {token}"})).json()["code"] == "E1002"
    assert (await client.get("/_admin/state")).json()["tokens"][ADMIN[0]]["granted_in_window"] == 0


async def test_admin_token_is_required_when_configured(clock: FakeClock, http_server: Any) -> None:
    sim = Simulator(clock, settings=settings(admin_token="let-me-in"))
    url = await http_server(create_app(sim))
    async with httpx.AsyncClient(base_url=url, trust_env=False) as c:
        assert (await c.get("/_admin/faults")).status_code == 401
        assert (await c.get("/_admin/faults", headers={"X-Admin-Token": "wrong"})).status_code == 401
        assert (await c.get("/_admin/faults", headers={"X-Admin-Token": "let-me-in"})).status_code == 200
        # the platform API itself does not need it
        assert (await c.post("/openapi/token", json={"appKey": "x", "appSecret": "y"})).status_code == 200
