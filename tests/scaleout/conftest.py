"""Fixtures of the scale-out tests: the platform that fails per location and the webhook
receivers, both real servers on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from tests.notifiers.notify_helpers import JsonSink
from tests.scaleout.cluster_kit import Platform


@pytest.fixture
async def platform(http_server: Any) -> Platform:
    p = Platform()
    p.base = await http_server(p.app())
    return p


@pytest.fixture
async def sink(http_server: Any) -> JsonSink:
    s = JsonSink()
    app = web.Application()
    app.router.add_post("/{tail:.*}", s.handle)
    s.base = await http_server(app)
    return s
