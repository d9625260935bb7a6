"""The demo webhook receiver: Apprise's json:// really delivers to it, and it stays bounded."""

from __future__ import annotations

import asyncio

import apprise
import httpx

from monitor.simulator import inbox as inbox_module
from monitor.simulator import state as inbox_state


async def test_apprise_json_delivery_lands_in_the_inbox(base_url: str, client: httpx.AsyncClient) -> None:
    url = base_url.replace("http://", "json://") + "/_admin/inbox/oncall"
    ap = apprise.Apprise()
    assert ap.add(url)
    ok = await asyncio.to_thread(ap.notify, title="登录 故障", body="登录 is down since 09:00")
    assert ok
    data = (await client.get("/_admin/inbox/oncall")).json()
    assert data["boxes"] == ["oncall"]
    [message] = data["messages"]
    assert message["body"]["title"] == "登录 故障"
    assert "since 09:00" in message["body"]["message"]


async def test_inbox_keeps_only_the_newest_messages(client: httpx.AsyncClient) -> None:
    for i in range(inbox_state.KEEP + 5):
        assert (await client.post("/_admin/inbox/staff", json={"n": i})).status_code == 200
    messages = (await client.get("/_admin/inbox/staff")).json()["messages"]
    assert len(messages) == inbox_state.KEEP
    assert messages[0]["body"] == {"n": 5}


async def test_inbox_refuses_bad_box_names_and_huge_bodies(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_admin/inbox/a%20b", json={})).status_code == 400
    big = b"x" * (inbox_module.MAX_BODY + 10)
    assert (await client.post("/_admin/inbox/big", content=big)).status_code == 413
    assert (await client.get("/_admin/inbox/empty")).json()["messages"] == []


async def test_inbox_shows_the_idempotency_key_decoded(base_url: str, client: httpx.AsyncClient) -> None:
    from notifiers.sender import notify_type, send

    url = base_url.replace("http://", "json://") + "/_admin/inbox/oncall"
    key = "check:登录:flapping:2026-03-02T00:00:00+00:00"
    out = await asyncio.to_thread(send, url, title="登录 flapping", body="x", body_format="text",
                                  kind=notify_type("check.flapping", "minor"), timeout=5, key=key)
    assert out.ok, out.error
    [message] = (await client.get("/_admin/inbox/oncall")).json()["messages"]
    assert message["key"] == key
