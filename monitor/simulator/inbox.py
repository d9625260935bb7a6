"""A local webhook receiver, so the demo's alerts have somewhere real to land.

`config.example.yaml` points its channels at `json://127.0.0.1:8900/_admin/inbox/<box>`:
Apprise delivers there for real, and `invoicewatch simulate inbox oncall` (or
`GET /_admin/inbox/<box>`) shows what on-call and staff would have received. Bounded: the
newest `KEEP` messages per box, at most `MAX_BOXES` boxes, bodies capped at 64 KiB. Lives
under /_admin, so it answers loopback peers only (and wants the admin token when one is set).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from monitor.simulator.common import json_response, sim_of
from monitor.simulator.state import MAX_BOXES, Inbox

MAX_BODY = 64 * 1024
_BOX = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def inbox_of(request: web.Request) -> Inbox:
    inbox: Inbox = sim_of(request).inbox
    return inbox


async def receive(request: web.Request) -> web.Response:
    box = request.match_info["box"]
    if not _BOX.match(box):
        return json_response({"error": "box names are 1-40 letters, digits, - or _"}, status=400)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return json_response({"error": f"body over {MAX_BODY} bytes"}, status=413)
    try:
        body: Any = json.loads(raw or b"null")
    except ValueError:
        body = raw.decode("utf-8", "replace")
    message = {
        "at": sim_of(request).clock.now().isoformat().replace("+00:00", "Z"),
        "key": unquote(k) if (k := request.headers.get("X-Invoicewatch-Key")) is not None else None,
        "body": body,
    }
    if not inbox_of(request).put(box, message):
        return json_response({"error": f"at most {MAX_BOXES} boxes"}, status=507)
    return json_response({"ok": True})


async def read(request: web.Request) -> web.Response:
    box = request.match_info["box"]
    inbox = inbox_of(request)
    return json_response({"box": box, "messages": inbox.get(box), "boxes": sorted(inbox.boxes)})


def routes() -> list[web.RouteDef]:
    return [web.post("/_admin/inbox/{box}", receive), web.get("/_admin/inbox/{box}", read)]
